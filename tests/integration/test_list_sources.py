"""Lists in the source, end to end: a `kubectl get fleethandshakes -A -o yaml` export, and a
List of Secrets encrypted with the real sops, decrypted in-process and by the sops binary."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fhtest import AgeKey, SourceRepo, read_tree, run_cli, secret, sops_encrypt
from fleethandshake.core.models import KIND
from fleethandshake.core.validate import validate_source
from fleethandshake.core.yaml.reader import parse_documents

EXPORT = Path(__file__).resolve().parents[1] / "data" / "export" / "fleethandshakes-list.yaml"
VALUES = {"sample": "list-sample-Hw72Ke", "test": "list-test-Rb05Nc"}
DECRYPT_PATHS = {"inprocess": {}, "binary": {"FLEET_HANDSHAKE_SOPS_INPROCESS": "0"}}


def secrets_list(key: AgeKey) -> str:
    """What a user gets from `kubectl get secrets -n default -o yaml`, then `sops encrypt`."""
    exported = {"name": "fleethandshake-sample", "namespace": "default", "uid": "0f1e", "resourceVersion": "7"}
    items = [
        secret("fleethandshake-sample", type="Opaque", data={"fleet-handshake": _b64(VALUES["sample"])},
               metadata=exported),
        secret("fleethandshake-test-only", stringData={"fleet-handshake": VALUES["test"]}),
    ]  # fmt: skip
    text = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items})
    return sops_encrypt(text, key.recipient)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("path", sorted(DECRYPT_PATHS))
def test_generate_from_an_export_and_an_encrypted_list_of_secrets(tmp_path: Path, age_key: AgeKey, path: str) -> None:
    repo = SourceRepo(tmp_path / "src", age_key)
    repo.write("handshakes/export.yaml", EXPORT.read_text())
    repo.write("secrets/default.yaml", secrets_list(age_key))
    out = tmp_path / "out"
    env = {"SOPS_AGE_KEY_FILE": str(age_key.key_file), **DECRYPT_PATHS[path]}
    result = run_cli("generate", repo.root, "--out", out, env=env)
    assert result.code == 0, result.stderr
    tree = read_tree(out)
    secrets = {p: yaml.safe_load(c) for p, c in tree.items() if p.endswith("/secret.yaml")}
    assert len(secrets) == 2
    delivered = {doc["metadata"]["name"]: doc for doc in secrets.values()}
    assert delivered["fleethandshake-sample"]["metadata"]["namespace"] == "test"
    values = {n: base64.b64decode(d["data"]["fleet-handshake"]).decode() for n, d in delivered.items()}
    assert values == {"fleethandshake-sample": VALUES["sample"], "fleethandshake-test-only": VALUES["test"]}
    # Server-written fields of the export reach no bundle.
    assert not any(b"resourceVersion" in c or b"managedFields" in c for c in tree.values())
    # A second run reuses the parse cache's records of the List items: nothing changes.
    again = run_cli("generate", repo.root, "--out", out, env=env)
    assert again.code == 0, again.stderr
    assert read_tree(out) == tree


def test_the_export_reads_as_kubectl_reads_it() -> None:
    """The test data is what kubectl itself takes for a list of two FleetHandshakes, and
    fleet-handshake finds the same objects in it."""
    kubectl = Path(sys.executable).parent / "kubectl"
    proc = subprocess.run([str(kubectl), "label", "--local", "-f", str(EXPORT), "fh=x", "-o", "json"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    decoder, text, at, objects = json.JSONDecoder(), proc.stdout, 0, []
    while text[at:].strip():
        obj, at = decoder.raw_decode(text, len(text) - len(text[at:].lstrip()))
        objects.append(obj)
    go = [(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"], o["spec"]) for o in objects]
    source, problems = validate_source([("export.yaml", parse_documents(EXPORT.read_bytes()))])
    assert problems == []
    ours = [(KIND, h.workspace, h.name, h.secret_name, h.secret_namespace, h.target_namespace,
             [t.to_dict() for t in h.targets]) for h in source.handshakes]  # fmt: skip
    theirs = [
        (k, ns, n, s["secretName"], s["secretNamespace"], s["targetNamespace"], s["targets"]) for k, ns, n, s in go
    ]
    assert ours == theirs and len(ours) == 2


def test_validate_and_check_secrets_read_lists(tmp_path: Path, age_key: AgeKey) -> None:
    repo = SourceRepo(tmp_path / "src", age_key)
    repo.write("export.yaml", EXPORT.read_text())
    repo.write("secrets.yaml", secrets_list(age_key))
    ok = run_cli("validate", repo.root)
    assert ok.code == 0, ok.stderr
    assert "ok: 2 handshake(s), 2 encrypted Secret(s)" in ok.stderr
    assert run_cli("check-secrets", repo.root / "export.yaml", repo.root / "secrets.yaml").code == 0
    canary = "list-clear-Vx38Po"
    clear = {"apiVersion": "v1", "kind": "List", "items": [secret("leak", stringData={"k": canary})]}
    repo.write("leak.yaml", yaml.safe_dump(clear))
    for args in (("validate", repo.root), ("check-secrets", repo.root / "leak.yaml")):
        result = run_cli(*args)
        assert result.code == 1, result.stderr
        assert "leak.yaml" in result.stderr and "items[0]" in result.stderr
        assert canary not in result.stderr + result.stdout


def test_a_clear_secret_in_the_items_of_any_kind_is_found(tmp_path: Path, age_key: AgeKey) -> None:
    """kubectl, Helm and Fleet read any object with `items` as a list of objects, whatever its
    kind: a clear-text Secret there is applied, so validate and check-secrets refuse it alike."""
    canary = "items-clear-Tq61Zr"
    leak = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "leak", "namespace": "default"},
            "stringData": {"k": canary}}  # fmt: skip
    repo = SourceRepo(tmp_path / "src", age_key)
    for name, kind in (("foo", "Foo"), ("secret", "Secret")):
        path = repo.write(f"{name}.yaml", yaml.safe_dump({"apiVersion": "v1", "kind": kind, "items": [leak]}))
        kubectl = Path(sys.executable).parent / "kubectl"
        proc = subprocess.run([str(kubectl), "label", "--local", "-f", str(path), "fh=x", "-o", "json"],
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["stringData"] == {"k": canary}  # what kubectl would apply
    validated = run_cli("validate", repo.root)
    checked = run_cli("check-secrets", repo.root / "foo.yaml", repo.root / "secret.yaml")
    assert validated.code == checked.code == 1
    for result in (validated, checked):
        assert "foo.yaml:9 (document 0) items[0].stringData: is in clear text" in result.stderr
        assert "secret.yaml:9 (document 0) items[0].stringData: is in clear text" in result.stderr
        assert canary not in result.stdout + result.stderr
