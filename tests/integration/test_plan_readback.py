"""`plan` reads back what sops- and downstream-mode bundles deliver although they do not hold the
Secret readable: the Secret's type, labels and annotations, compared through the state file's
keyed digests (real sops, the loopback API server for downstream mode)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import fakekube
from fakekube import FakeKube, write_kubeconfig
from fhtest import AgeKey, SourceRepo, handshake, make_age_key, run_cli, secret
from fleethandshake.core.plan import REWRITTEN
from fleethandshake.core.planwords import META_UNCOMPARED, VALUES_UNRECORDED
from fleethandshake.errors import EXIT_CHANGES

fake_kube = fakekube.fake_kube

VALUE = "readback-canary-Jq47"
LABEL = "readback-label-Pv21"


def pull(**metadata: Any) -> dict[str, Any]:
    doc = secret("pull", stringData={"token": VALUE})
    doc["metadata"].update(metadata)
    return doc


def other(value: str) -> dict[str, Any]:
    return secret("unrelated", stringData={"k": value})


@pytest.fixture
def setup(tmp_path: Path, age_key: AgeKey, key_env: dict[str, str], fake_kube: FakeKube, request: Any) -> Any:
    mode = request.param
    repo = SourceRepo(tmp_path / "source", age_key)
    if mode == "sops":
        repo.sops_mode(make_age_key(tmp_path, "cluster"))
    hs = handshake("down", "pull", [{"clusterName": "c1"}], target_namespace="pulled")
    hs["metadata"]["annotations"] = {"fleethandshake.riverpointtechnology.com/mode": mode}
    repo.handshakes("hs.yaml", hs)
    repo.encrypted("secrets/pull.yaml", pull(), other("one"))
    env = {**key_env, "KUBECONFIG": str(write_kubeconfig(tmp_path / "kubeconfig", {"mgmt": fake_kube}, "mgmt"))}
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=env).code == 0
    return repo, out, env


def changes(repo: SourceRepo, out: Path, env: dict[str, str], *docs: dict[str, Any]) -> list[str]:
    repo.encrypted("secrets/pull.yaml", *docs)
    result = run_cli("plan", repo.root, "--out", out, "--format", "json", env=env)
    assert result.code == EXIT_CHANGES, result.stderr
    for text in (result.stdout, result.stderr):
        assert VALUE not in text and LABEL not in text
    (bundle,) = json.loads(result.stdout)["bundles"]
    assert bundle["change"] == "modified" and not (bundle["keysAdded"] or bundle["keysRemoved"])
    assert not bundle["keysChanged"]
    return list(bundle["changes"])


@pytest.mark.parametrize("setup", ["sops", "downstream"], indirect=True)
def test_type_labels_and_annotations_of_an_unreadable_secret_are_named(
    setup: Any, request: pytest.FixtureRequest
) -> None:
    """Once said "same delivery" (downstream) or "sealed again: ... replaced, edited" (sops) for a
    Secret whose type or labels changed. A type change Kubernetes refuses on the clusters: in sops
    mode the plan says so as an Error (tests/integration/test_secret_update_refused.py); in
    downstream mode the run's apply is refused by the API server itself."""
    repo, out, env = setup
    if request.node.callspec.params["setup"] == "sops":
        repo.encrypted("secrets/pull.yaml", pull() | {"type": "example.com/pull-token"}, other("one"))
        result = run_cli("plan", repo.root, "--out", out, env=env)
        assert result.code == 1 and "Error: fleet-default/down: " in result.stdout, result.stdout
        assert "type changed (sops mode names no type" in result.stdout
    else:
        assert changes(repo, out, env, pull() | {"type": "example.com/pull-token"}, other("one")) == ["secret type"]
    assert changes(repo, out, env, pull(labels={"app": LABEL}), other("one")) == ["labels"]
    assert changes(repo, out, env, pull(annotations={"note": LABEL}), other("one")) == ["annotations"]


@pytest.mark.parametrize("setup", ["downstream"], indirect=True)
def test_a_change_elsewhere_in_the_source_file_is_the_same_delivery(setup: Any) -> None:
    repo, out, env = setup
    assert changes(repo, out, env, pull(), other("two")) == [REWRITTEN]


@pytest.mark.parametrize("setup", ["downstream"], indirect=True)
def test_output_of_an_earlier_version_does_not_claim_the_same_delivery(setup: Any) -> None:
    """A state file without the metadata digests (written before them): nothing to compare with."""
    repo, out, env = setup
    state = out / ".fleet-handshake" / "state.json"
    state.write_text(re.sub(r',"meta":\{[^}]*\}', "", state.read_text()))
    assert changes(repo, out, env, pull() | {"type": "example.com/pull-token"}, other("one")) == [META_UNCOMPARED]


def plan_without_state(repo: SourceRepo, out: Path, env: dict[str, str], *docs: dict[str, Any]) -> dict[str, Any]:
    repo.encrypted("secrets/pull.yaml", *docs)
    (out / ".fleet-handshake" / "state.json").unlink(missing_ok=True)
    result = run_cli("plan", repo.root, "--out", out, "--format", "json", env=env)
    assert result.code == EXIT_CHANGES, result.stderr
    (bundle,) = json.loads(result.stdout)["bundles"]
    assert bundle["change"] == "modified" and not bundle["keysChanged"]
    return dict(bundle)


@pytest.mark.parametrize("setup", ["sops", "downstream"], indirect=True)
def test_without_the_state_file_no_key_is_called_added(setup: Any) -> None:
    """The state file deleted (or from another repository, or of a version before value digests):
    the plan once said every key was added (`+keys token`, "data"). sops mode reads the key names
    from the SopsSecret, where sops leaves them in clear; downstream mode has none to read."""
    repo, out, env = setup
    bundle = plan_without_state(repo, out, env, secret("pull", stringData={"token": "other"}), other("one"))
    assert (bundle["keysAdded"], bundle["keysRemoved"], bundle["changes"]) == ([], [], [VALUES_UNRECORDED])
    if (repo.root / ".fleet-handshake.yaml").exists():  # sops mode: a key added is named
        bundle = plan_without_state(repo, out, env, secret("pull", stringData={"token": VALUE, "new": "x"}))
        assert (bundle["keysAdded"], bundle["keysRemoved"]) == (["new"], [])
        assert bundle["changes"] == [VALUES_UNRECORDED, "data"]


@pytest.mark.parametrize("setup", ["sops"], indirect=True)
def test_a_mode_switch_says_a_value_rotated_with_it(setup: Any) -> None:
    """sops -> downstream renames the bundle (the mode is part of its name); a value rotated in the
    same change was once said nowhere: only "renamed", as if the clusters kept what they had."""
    repo, out, env = setup
    (repo.root / ".fleet-handshake.yaml").unlink()  # the handshake's annotation says the mode
    hs = handshake("down", "pull", [{"clusterName": "c1"}], target_namespace="pulled")
    hs["metadata"]["annotations"] = {"fleethandshake.riverpointtechnology.com/mode": "downstream"}
    repo.handshakes("hs.yaml", hs)

    def renamed(*docs: dict[str, Any]) -> dict[str, Any]:
        repo.encrypted("secrets/pull.yaml", *docs)
        result = run_cli("plan", repo.root, "--out", out, "--format", "json", env=env)
        assert result.code == EXIT_CHANGES, result.stderr
        assert VALUE not in result.stdout + result.stderr
        (added,) = [b for b in json.loads(result.stdout)["bundles"] if b["change"] == "added"]
        assert added["changes"][0].startswith("renamed from ")
        return dict(added)

    same = renamed(pull(), other("one"))
    assert (same["keysChanged"], same["changes"][1:]) == ([], [])
    rotated = renamed(secret("pull", stringData={"token": "rotated"}), other("one"))
    assert (rotated["keysChanged"], rotated["changes"][1:]) == (["token"], [])
    inventory = repo.root.parent / "inventory.yaml"
    inventory.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [{
        "apiVersion": "fleet.cattle.io/v1alpha1", "kind": "Cluster",
        "metadata": {"name": "c1", "namespace": "fleet-default", "labels": {}}}]}))  # fmt: skip
    result = run_cli("plan", repo.root, "--out", out, "--format", "json", "--inventory", inventory, env=env)
    (c1,) = json.loads(result.stdout)["clusters"]
    assert [c.split(", ")[1:] for c in c1["changes"]] == [["keys changed token"]]  # besides "moves from ..."
    labelled = renamed(pull(labels={"app": LABEL}), other("one"))
    assert (labelled["keysChanged"], labelled["changes"][1:]) == ([], ["labels"])
