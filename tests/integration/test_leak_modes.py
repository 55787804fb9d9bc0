"""Leak check across delivery modes: render the demo in every mode and look for its values.

Only plain mode's secret.yaml files may hold a value; no other file of any output tree may
hold one, in clear text or base64.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import yaml

import fakekube
from fakekube import FakeKube, write_kubeconfig
from fhtest import REPO, SOPS, run_cli

fake_kube = fakekube.fake_kube
DEMO = REPO / "examples" / "demo"
ENV = {"SOPS_AGE_KEY_FILE": str(DEMO / "demo-age-key.txt")}


def demo_values() -> set[str]:
    """Every value of every demo Secret, decrypted with the demo key, in the forms it could leak in."""
    values: set[str] = set()
    for path in sorted((DEMO / "secrets").glob("*.yaml")):
        out = subprocess.run([SOPS, "--disable-version-check", "decrypt", str(path)], env={**ENV, "PATH": "/usr/bin"},
                             capture_output=True, check=True).stdout  # fmt: skip
        for doc in yaml.safe_load_all(out):
            for value in (doc.get("stringData") or {}).values():
                values.add(str(value))
            for value in (doc.get("data") or {}).values():
                values.add(str(value))
                values.add(base64.b64decode(value).decode())
    forms = set()
    for value in values:
        forms.add(value)
        forms.add(base64.b64encode(value.encode()).decode())
        for line in value.splitlines():  # a multi-line value (a PEM) leaks line by line too
            if len(line) >= 12:
                forms.add(line)
    return {f for f in forms if len(f) >= 6}


def scan(root: Path, allowed: str | None) -> list[str]:
    found = []
    values = demo_values()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if allowed and path.name == allowed:
            continue
        text = path.read_bytes().decode(errors="replace")
        found += [f"{path.relative_to(root)}: {v[:4]}..." for v in values if v in text]
    return found


def test_no_value_outside_plain_secret_files_in_any_mode(tmp_path: Path, fake_kube: FakeKube) -> None:
    assert len(demo_values()) > 10, "the check must have values to look for"
    plain, sops, downstream = tmp_path / "plain", tmp_path / "sops", tmp_path / "downstream"
    assert run_cli("generate", DEMO, "--out", plain, env=ENV).code == 0
    assert run_cli("generate", DEMO, "--out", sops, "--mode", "sops", env=ENV).code == 0
    config = write_kubeconfig(tmp_path / "kubeconfig", {"mgmt": fake_kube}, "mgmt")
    result = run_cli(
        "generate", DEMO, "--out", downstream, "--mode", "downstream", env={**ENV, "KUBECONFIG": str(config)}
    )
    assert result.code == 0, result.stderr

    assert scan(plain, allowed="secret.yaml") == []
    assert scan(sops, allowed=None) == []
    assert scan(downstream, allowed=None) == []
    # The check finds values where they are: plain mode's Secret files hold them.
    assert scan(plain, allowed=None) != []
    assert fake_kube.secrets, "downstream mode put the Secrets on the management cluster instead"
