"""End to end with real sops: a key with no value (sops keeps `null` as it is) is delivered empty,
as Kubernetes stores it, not refused as clear text; a Secret its type forbids is an Error."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from fhtest import SourceRepo, handshake, read_tree, run_cli, secret

VALUE = "types-canary-Rz19"


def test_a_key_with_no_value_is_delivered_empty(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]) -> None:
    repo.handshakes("hs.yaml", handshake("db", "db", [{"clusterName": "c1"}]))
    repo.encrypted("db.yaml", secret("db", stringData={"password": None, "user": VALUE}))
    assert b"password: null" in (repo.root / "db.yaml").read_bytes()  # sops left it as it is

    assert run_cli("validate", repo.root, env=key_env).code == 0
    result = run_cli("generate", repo.root, "--out", tmp_path / "out", env=key_env)

    assert result.code == 0, result.stderr
    (doc,) = [yaml.safe_load(c) for p, c in read_tree(tmp_path / "out").items() if p.endswith("/secret.yaml")]
    assert {k: base64.b64decode(v) for k, v in doc["data"].items()} == {"password": b"", "user": VALUE.encode()}


def test_a_tls_secret_without_its_key_is_an_error_not_synced(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    repo.handshakes("hs.yaml", handshake("web", "web-tls", [{"clusterName": "c1"}]))
    repo.encrypted("tls.yaml", secret("web-tls", type="kubernetes.io/tls", stringData={"tls.crt": VALUE}))

    result = run_cli("generate", repo.root, "--out", tmp_path / "out", env=key_env)

    assert result.code == 1
    assert "a kubernetes.io/tls Secret needs the data key(s) tls.key" in result.stderr
    assert VALUE not in result.stdout + result.stderr
