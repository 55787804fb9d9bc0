"""Bundle identity end to end: what a bundle's name covers, the refusal of two handshakes in one
folder, and the one-time rename of every bundle when names changed (64-bit digests)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from fhtest import SourceRepo, handshake, read_tree, run_cli, secret
from fleethandshake import cli
from fleethandshake.core import names
from fleethandshake.errors import EXIT_CHANGES

VALUE = "identity-canary-Tb71"


def build(repo: SourceRepo) -> None:
    repo.handshakes(
        "hs.yaml",
        handshake("db", "db-creds", [{"name": "eu", "clusterName": "c1"}]),
        handshake("db-eu", "db-creds", [{"clusterName": "c2"}], target_namespace="other"),
    )
    repo.encrypted("secret.yaml", secret("db-creds", stringData={"password": VALUE}))


def test_two_handshakes_in_one_folder_are_refused_and_nothing_is_written(
    repo: SourceRepo,
    tmp_path: Path,
    key_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in key_env.items():
        monkeypatch.setenv(name, value)
    build(repo)
    out = tmp_path / "out"
    assert cli.main(["generate", str(repo.root), "--out", str(out)]) == 0
    before = read_tree(out)
    capsys.readouterr()

    # Both names are "db-eu-<digest>"; with one digest for every identity they are one folder.
    monkeypatch.setattr(names, "identity_digest", lambda identity: "0" * names.DIGEST_LEN)
    code = cli.main(["generate", str(repo.root), "--out", str(out)])

    err = capsys.readouterr().err
    assert code == 1
    assert "hs.yaml" in err and "fleet-default/db-eu-0000000000000000" in err
    assert "handshake fleet-default/db (hs.yaml, document 0)" in err
    assert "Traceback" not in err and VALUE not in err
    assert "nothing was written" in err
    assert read_tree(out) == before, "every bundle kept, byte for byte"


def test_upgrade_renames_every_bundle_once_and_plan_shows_the_moves(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    """OUT as an older version wrote it (8-hex-digit digests): the next run moves every bundle
    to its new name once; the plan says so per cluster; the run after that changes nothing."""
    repo.handshakes("hs.yaml", handshake("db", "db-creds", [{"name": "eu", "clusterName": "c1"}]))
    repo.encrypted("secret.yaml", secret("db-creds", stringData={"password": VALUE}))
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    (folder,) = [p for p in (out / "fleet-default").iterdir()]
    new_name = folder.name
    old_name = re.sub(r"-[0-9a-f]{16}$", "-1a2b3c4d", new_name)
    fleet = yaml.safe_load((folder / "fleet.yaml").read_text())
    fleet["name"] = old_name
    (folder / "fleet.yaml").write_text(yaml.safe_dump(fleet, sort_keys=False))
    folder.rename(folder.with_name(old_name))
    shutil.rmtree(out / ".fleet-handshake")  # an older version's state is not this one's
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "fleet.cattle.io/v1alpha1", "kind": "Cluster",
         "metadata": {"name": "c1", "namespace": "fleet-default"}}]}))  # fmt: skip

    plan = run_cli("plan", repo.root, "--out", out, "--inventory", inventory, "--format", "json", env=key_env)

    assert plan.code == EXIT_CHANGES, plan.stderr
    doc = json.loads(plan.stdout)
    assert {(b["bundle"], b["change"]) for b in doc["bundles"]} == {(old_name, "removed"), (new_name, "added")}
    assert doc["moves"] == [
        {"workspace": "fleet-default", "cluster": "c1", "handshake": "db", "secret": "apps/db-creds",
         "from": f"fleet-default/{old_name}", "to": f"fleet-default/{new_name}",
         "message": f"cluster c1 moves from bundle fleet-default/{old_name} to fleet-default/{new_name} of "
                    "handshake fleet-default/db (Secret apps/db-creds): the new bundle takes the Secret over"}
    ]  # fmt: skip
    moved = f"apps/db-creds (db): moves from bundle fleet-default/{old_name} to fleet-default/{new_name}"
    assert doc["clusters"] == [{"workspace": "fleet-default", "cluster": "c1", "displayName": None, "gains": [],
                                "loses": [], "changes": [moved]}]  # fmt: skip
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    assert sorted(p.name for p in (out / "fleet-default").iterdir()) == [new_name]
    again = run_cli("plan", repo.root, "--out", out, "--inventory", inventory, "--format", "json", env=key_env)
    assert again.code == 0 and json.loads(again.stdout)["moves"] == []
