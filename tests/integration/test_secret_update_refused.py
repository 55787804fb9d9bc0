"""A Secret's type, and anything but the metadata of an immutable Secret, cannot change in place:
the API server refuses the update (apimachinery pkg/apis/core/validation ValidateSecretUpdate:
"field is immutable"), so Helm's upgrade of the bundle (or the sops-secrets-operator's update)
fails and the old Secret stays on every cluster. generate and plan make such a handshake Error,
its previous bundles kept byte for byte; labels and annotations may still change.

End to end: real sops with generated age keys, the real generate and plan commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fhtest import AgeKey, SourceRepo, handshake, make_age_key, read_tree, run_cli, secret
from fleethandshake.adapters.sops import age
from fleethandshake.core import state

VALUE = "in-place-canary-Hq72"
OTHER = "in-place-canary-Zp05"


def _source(repo: SourceRepo, **fields: Any) -> None:
    repo.handshakes("hs.yaml", handshake("db", "db", [{"clusterName": "c1"}]))
    repo.encrypted("db.yaml", secret("db", **fields))


def _status(out: Path) -> dict[str, Any]:
    (row,) = json.loads((out / ".fleet-handshake/status.json").read_text())["handshakes"]
    assert isinstance(row, dict)
    return row


def _bundles(out: Path) -> dict[str, bytes]:
    return {p: c for p, c in read_tree(out).items() if not p.startswith(".")}


def _refused(repo: SourceRepo, out: Path, env: dict[str, str], *words: str) -> None:
    """generate and plan refuse the change: Error naming the handshake, the Secret and `words`."""
    before = _bundles(out)
    plan = run_cli("plan", repo.root, "--out", out, env=env)
    generate = run_cli("generate", repo.root, "--out", out, env=env)

    assert plan.code == 1, plan.stdout + plan.stderr
    assert "Error: fleet-default/db: cannot change Secret apps/db in place" in plan.stdout
    assert generate.code == 1, generate.stdout + generate.stderr
    row = _status(out)
    assert row["status"] == "Error"
    for text in (plan.stdout, row["message"]):
        assert all(word in text for word in words), text
        assert "give the Secret a new name" in text
    assert _bundles(out) == before  # the previous bundles, byte for byte
    for text in (plan.stdout, plan.stderr, generate.stdout, generate.stderr, row["message"]):
        assert VALUE not in text and OTHER not in text


def test_plain_mode_refuses_a_type_change(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]) -> None:
    out = tmp_path / "out"
    _source(repo, stringData={"username": "app", "password": VALUE})
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    _source(repo, type="kubernetes.io/basic-auth", stringData={"username": "app", "password": VALUE})

    _refused(repo, out, key_env, "type Opaque -> kubernetes.io/basic-auth")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"immutable": True, "stringData": {"password": OTHER}}, "immutable Secret's data changed"),
        ({"immutable": False, "stringData": {"password": VALUE}}, "immutable Secret's immutable changed"),
        ({"stringData": {"password": VALUE, "extra": OTHER}}, "immutable Secret's data and immutable changed"),
    ],
    ids=["data", "immutable-false", "key-added-and-immutable-dropped"],
)
def test_plain_mode_refuses_changing_an_immutable_secret(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], fields: dict[str, Any], words: str
) -> None:
    out = tmp_path / "out"
    _source(repo, immutable=True, stringData={"password": VALUE})
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    _source(repo, **fields)

    _refused(repo, out, key_env, words)


def test_an_immutable_secret_may_change_its_labels_and_annotations(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    out = tmp_path / "out"
    _source(repo, immutable=True, stringData={"password": VALUE})
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    before = _bundles(out)
    meta = {"name": "db", "namespace": "default", "labels": {"team": "a"}, "annotations": {"note": "b"}}
    _source(repo, immutable=True, stringData={"password": VALUE})
    repo.encrypted("db.yaml", {**secret("db", immutable=True, stringData={"password": VALUE}), "metadata": meta})

    result = run_cli("generate", repo.root, "--out", out, env=key_env)

    assert result.code == 0, result.stderr
    assert _status(out)["status"] == "Synced"
    assert _bundles(out) != before


def test_a_first_delivery_and_a_new_secret_name_go_ahead(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    """The remedy the message names: under a new name it is a new Secret (a new bundle)."""
    out = tmp_path / "out"
    _source(repo, stringData={"password": VALUE})
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    repo.handshakes("hs.yaml", handshake("db", "db-auth", [{"clusterName": "c1"}]))
    repo.encrypted("db.yaml", secret("db-auth", type="kubernetes.io/basic-auth", stringData={"password": VALUE}))

    result = run_cli("generate", repo.root, "--out", out, env=key_env)

    assert result.code == 0, result.stderr
    assert _status(out)["status"] == "Synced"


@pytest.fixture
def cluster_key(tmp_path: Path) -> AgeKey:
    (tmp_path / "cluster-key").mkdir()
    return make_age_key(tmp_path / "cluster-key", "c1")


def test_sops_mode_refuses_a_type_change_naming_no_type(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], cluster_key: AgeKey
) -> None:
    out = tmp_path / "out"
    repo.sops_mode(cluster_key)
    _source(repo, stringData={"username": "app", "password": VALUE})
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    _source(repo, type="kubernetes.io/basic-auth", stringData={"username": "app", "password": VALUE})

    _refused(repo, out, key_env, "type changed (sops mode names no type")
    assert "basic-auth" not in _status(out)["message"]


def test_sops_mode_lets_an_immutable_secret_change_which_it_never_delivers_immutable(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], cluster_key: AgeKey
) -> None:
    out = tmp_path / "out"
    repo.sops_mode(cluster_key)
    _source(repo, immutable=True, stringData={"password": VALUE})
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    _source(repo, immutable=True, stringData={"password": OTHER})

    result = run_cli("generate", repo.root, "--out", out, env=key_env)

    assert result.code == 0, result.stderr
    assert _status(out)["status"] == "Synced"


def test_sops_mode_refuses_a_type_change_after_an_upgrade_of_the_tool(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], cluster_key: AgeKey
) -> None:
    """The state file a run reads was written by another version (its context differs): its
    digests still tell the type changed, so the first run after an upgrade refuses it too."""
    out = tmp_path / "out"
    repo.sops_mode(cluster_key)
    _source(repo, stringData={"username": "app", "password": VALUE})
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    key = age.load_identities(key_env).state_key()
    assert key is not None
    path = out / state.STATE_FILE
    entries = state.parse_state(path.read_bytes(), None, key)
    assert entries
    path.write_bytes(state.state_json(entries, "0.0.1|an-older-version", key))  # as that version signed it
    _source(repo, type="kubernetes.io/basic-auth", stringData={"username": "app", "password": VALUE})

    _refused(repo, out, key_env, "type changed (sops mode names no type")
