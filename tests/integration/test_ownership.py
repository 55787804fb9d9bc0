"""Ownership by source: a run removes only what its own source and output wrote, and says so.

Downstream mode through the real kubernetes client against tests/fakekube.py; bundles on disk.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

import fakekube
from fakekube import FakeKube, write_kubeconfig
from fhtest import GIT_ENV, AgeKey, SourceRepo, git, handshake, read_tree, run_cli, secret
from fleethandshake.adapters.kubeobjects import KubeObjects
from fleethandshake.app.reconcile import Reconciler
from fleethandshake.core.ownership import CONTROLLER_SOURCE

fake_kube = fakekube.fake_kube
WS = "fleet-default"
SOURCE_LABEL = "fleethandshake.riverpointtechnology.com/source"
HANDSHAKE_LABEL = "fleethandshake.riverpointtechnology.com/handshake"
MANAGED = {"app.kubernetes.io/managed-by": "fleet-handshake"}


@pytest.fixture
def kube_env(fake_kube: FakeKube, tmp_path: Path, key_env: dict[str, str]) -> dict[str, str]:
    config = write_kubeconfig(tmp_path / "kubeconfig", {"mgmt": fake_kube}, "mgmt")
    return {**key_env, "KUBECONFIG": str(config)}


def downstream_source(root: Path, key: AgeKey, *handshakes: tuple[str, str], source: str = "") -> SourceRepo:
    """A downstream-mode source with one handshake (name, secret) per pair, to cluster c1; `source`:
    its configured identity (outputs outside git share the default one, `local`)."""
    repo = SourceRepo(root, key)
    repo.write(".fleet-handshake.yaml", "mode: downstream\n" + (f"source: {source}\n" if source else ""))
    write_handshakes(repo, *handshakes)
    for _, name in handshakes:
        repo.encrypted(f"{name}.yaml", secret(name, stringData={"value": f"{name}-value"}))
    return repo


def write_handshakes(repo: SourceRepo, *handshakes: tuple[str, str]) -> None:
    repo.handshakes("hs.yaml", *(handshake(h, s, [{"clusterName": "c1"}]) for h, s in handshakes))


def db_and_api_generated(tmp_path: Path, key: AgeKey, env: dict[str, str]) -> tuple[SourceRepo, Path]:
    repo = downstream_source(tmp_path / "src", key, ("db", "db-creds"), ("api", "api-token"))
    out = tmp_path / "out"
    assert generate(repo, out, env).code == 0
    return repo, out


def status(out: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((out / ".fleet-handshake/status.json").read_text())
    return document


def by_name(out: Path) -> dict[str, dict[str, Any]]:
    return {h["name"]: h for h in status(out)["handshakes"]}


def generate(repo: SourceRepo, out: Path, env: dict[str, str], *args: str) -> Any:
    return run_cli("generate", repo.root, "--out", out, *args, env=env)


def test_two_sources_in_one_workspace_keep_each_others_secrets(
    tmp_path: Path, age_key: AgeKey, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    a = downstream_source(tmp_path / "a", age_key, ("db", "db-creds"), source="team-a")
    b = downstream_source(tmp_path / "b", age_key, ("api", "api-token"), source="team-b")
    assert generate(a, tmp_path / "out-a", kube_env).code == 0
    result = generate(b, tmp_path / "out-b", kube_env)
    assert result.code == 0, result.stderr
    assert ("fleet-default", "db-creds") in fake_kube.secrets, "source b deleted source a's Secret"
    sources = {name: obj["metadata"]["labels"][SOURCE_LABEL] for (_, name), obj in fake_kube.secrets.items()}
    assert sources["db-creds"] != sources["api-token"]
    assert sources["db-creds"] == status(tmp_path / "out-a")["source"]

    write_handshakes(a)  # source a drops its only handshake (on purpose: the removal guard is told)
    result = generate(a, tmp_path / "out-a", kube_env, "--allow-removals")

    assert result.code == 0, result.stderr
    assert ("fleet-default", "db-creds") not in fake_kube.secrets
    assert ("fleet-default", "api-token") in fake_kube.secrets
    removed = status(tmp_path / "out-a")["removed"]
    secrets = [r for r in removed if r["kind"] == "Secret"]
    assert secrets == [{"kind": "Secret", "namespace": WS, "name": "db-creds", "handshake": f"{WS}/db"}]
    assert [r["handshake"] for r in removed if r["kind"] == "bundle"] == [f"{WS}/db"]
    assert f"deleted  Secret {WS}/db-creds on the management cluster" in result.stderr
    assert "removed  fleet-default/db-" in result.stderr

    again = generate(a, tmp_path / "out-a", kube_env, "--allow-removals")
    assert again.code == 0 and "no changes" in again.stderr, "the list of removals alone is not rewritten"


def test_renaming_a_downstream_handshake_moves_its_secret(
    tmp_path: Path, age_key: AgeKey, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    repo, out = db_and_api_generated(tmp_path, age_key, kube_env)
    deletes = len(fake_kube.requests_of("DELETE"))

    write_handshakes(repo, ("db-renamed", "db-creds"), ("api", "api-token"))
    result = generate(repo, out, kube_env)

    assert result.code == 0, result.stderr
    labels = fake_kube.secrets[(WS, "db-creds")]["metadata"]["labels"]
    assert labels[HANDSHAKE_LABEL] == "db-renamed"
    assert fake_kube.secret_values(WS, "db-creds") == {"value": "db-creds-value"}
    assert len(fake_kube.requests_of("DELETE")) == deletes, "the Secret moves; it is never deleted"
    handshakes = by_name(out)
    assert handshakes["db-renamed"]["status"] == "Synced" and handshakes["api"]["status"] == "Synced"
    assert {r["handshake"] for r in status(out)["removed"]} == {f"{WS}/db"}
    folders = sorted(d.name for d in (out / WS).iterdir())
    assert len(folders) == 2 and folders[1].startswith("db-renamed-"), folders


def test_a_secret_name_taken_by_another_source_fails_that_handshake_alone(
    tmp_path: Path, age_key: AgeKey, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    other = downstream_source(tmp_path / "other", age_key, ("theirs", "db-creds"), source="team-other")
    assert generate(other, tmp_path / "out-other", kube_env).code == 0
    repo = downstream_source(tmp_path / "src", age_key, ("db", "db-creds"), ("api", "api-token"))
    out = tmp_path / "out"

    result = generate(repo, out, kube_env)

    assert result.code == 1
    handshakes = by_name(out)
    assert handshakes["db"]["status"] == "Error"
    assert "another source" in handshakes["db"]["message"] and f"{WS}/theirs" in handshakes["db"]["message"]
    assert handshakes["api"]["status"] == "Synced", "one refused handshake blocks no other"
    assert ("fleet-default", "api-token") in fake_kube.secrets
    assert fake_kube.secrets[(WS, "db-creds")]["metadata"]["labels"][HANDSHAKE_LABEL] == "theirs"
    assert fake_kube.secret_values(WS, "db-creds") == {"value": "db-creds-value"}
    assert "Traceback" not in result.stderr


def test_two_outputs_outside_git_keep_each_others_secrets(
    tmp_path: Path, age_key: AgeKey, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """Every output outside git has the identity `local`: on the management cluster they share,
    one never deletes nor overwrites the Secrets of another."""
    a = downstream_source(tmp_path / "a", age_key, ("db", "db-creds"))
    b = downstream_source(tmp_path / "b", age_key, ("api", "api-token"))
    assert generate(a, tmp_path / "out-a", kube_env).code == 0

    result = generate(b, tmp_path / "out-b", kube_env)

    assert result.code == 0, result.stderr
    assert ("fleet-default", "db-creds") in fake_kube.secrets, "output b deleted output a's Secret"
    assert status(tmp_path / "out-b")["removed"] == []
    write_handshakes(b, ("api", "api-token"), ("theirs", "db-creds"))  # b now wants a's Secret name too
    b.encrypted("db-creds.yaml", secret("db-creds", stringData={"value": "b's value"}))
    result = generate(b, tmp_path / "out-b", kube_env)
    assert result.code == 1
    message = by_name(tmp_path / "out-b")["theirs"]["message"]
    assert "outside git" in message and f"{WS}/db" in message and "source:" in message, message
    assert fake_kube.secret_values(WS, "db-creds") == {"value": "db-creds-value"}, "b overwrote a's Secret"
    assert fake_kube.secrets[(WS, "db-creds")]["metadata"]["labels"][HANDSHAKE_LABEL] == "db"
    assert "Traceback" not in result.stderr

    write_handshakes(a)  # a still removes its own (on purpose: the removal guard is told)
    result = generate(a, tmp_path / "out-a", kube_env, "--allow-removals")
    assert result.code == 0, result.stderr
    assert (WS, "db-creds") not in fake_kube.secrets and (WS, "api-token") in fake_kube.secrets


def _as_an_earlier_version_wrote_it(out: Path, fake: FakeKube) -> None:
    """Drop the source label everywhere, as versions before it wrote bundles and Secrets."""
    for path in out.rglob("*.yaml"):
        text = path.read_text()
        path.write_text("".join(line for line in text.splitlines(True) if SOURCE_LABEL not in line))
    for obj in fake.secrets.values():
        (obj["metadata"].get("labels") or {}).pop(SOURCE_LABEL, None)


def test_bundles_and_secrets_of_an_earlier_version_are_migrated_and_nothing_else_removed(
    tmp_path: Path, age_key: AgeKey, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    repo, out = db_and_api_generated(tmp_path, age_key, kube_env)
    _as_an_earlier_version_wrote_it(out, fake_kube)
    # A bundle and a Secret an earlier version wrote for a handshake this source does not have
    # (another source's in a shared workspace, or one deleted before the upgrade): never removed.
    db_dir = next(p for p in (out / WS).iterdir() if p.name.startswith("db-"))
    foreign = out / WS / "gone-legacy"
    shutil.copytree(db_dir, foreign)
    fleet = foreign / "fleet.yaml"
    fleet.write_text(fleet.read_text().replace(f'"{HANDSHAKE_LABEL}": "db"', f'"{HANDSHAKE_LABEL}": "gone"'))
    legacy = {**MANAGED, f"{SOURCE_LABEL.rsplit('/', 1)[0]}/workspace": WS, HANDSHAKE_LABEL: "gone"}
    fake_kube.put_secret(WS, "gone-secret", {"k": "v"}, labels=legacy)
    # api leaves downstream mode: its old Secret is this source's (its handshake is), and goes.
    repo.handshakes("hs.yaml", handshake("db", "db-creds", [{"clusterName": "c1"}]), {
        **handshake("api", "api-token", [{"clusterName": "c1"}]),
        "metadata": {"name": "api", "namespace": WS,
                     "annotations": {"fleethandshake.riverpointtechnology.com/mode": "plain"}},
    })  # fmt: skip

    result = generate(repo, out, kube_env)

    assert result.code == 0, result.stderr
    assert (WS, "gone-secret") in fake_kube.secrets
    assert (WS, "api-token") not in fake_kube.secrets
    assert fake_kube.secrets[(WS, "db-creds")]["metadata"]["labels"][SOURCE_LABEL] == status(out)["source"]
    assert foreign.is_dir(), "an unlabelled bundle of a handshake this source lacks is kept"
    assert f"kept     {WS}/gone-legacy" in result.stderr
    for path, content in read_tree(out).items():
        if path.endswith("fleet.yaml") and "gone-legacy" not in path:
            assert SOURCE_LABEL.encode() in content, path
    assert [r["name"] for r in status(out)["removed"] if r["kind"] == "Secret"] == ["api-token"]


def test_default_identity_is_the_output_repository_and_path(tmp_path: Path, key_env: dict[str, str],
                                                            age_key: AgeKey) -> None:  # fmt: skip
    repo = SourceRepo(tmp_path / "src", age_key)
    repo.handshakes("hs.yaml", handshake("db", "db-creds", [{"clusterName": "c1"}]))
    repo.encrypted("db.yaml", secret("db-creds", stringData={"value": "v"}))
    work = tmp_path / "work"
    git(tmp_path, "init", "--quiet", str(work))
    git(work, "remote", "add", "origin", "https://token@GitHub.com/org/fleet-out.git")
    env = {**key_env, **GIT_ENV}
    assert run_cli("generate", repo.root, "--out", work / "bundles", env=env).code == 0
    identity = status(work / "bundles")["source"]
    assert identity.startswith("fleet-out-bundles-") and "token" not in identity

    git(work, "remote", "set-url", "origin", "git@github.com:org/fleet-out")  # the same repository by ssh
    result = run_cli("generate", repo.root, "--out", work / "bundles", env=env)
    assert result.code == 0 and "no changes" in result.stderr, result.stderr

    assert run_cli("generate", repo.root, "--out", work / "other", env=env).code == 0
    assert status(work / "other")["source"] != identity, "another output is another owner"

    repo.write(".fleet-handshake.yaml", f"source: {identity}\n")  # pinned as it is: nothing changes
    result = run_cli("generate", repo.root, "--out", work / "bundles", env=env)
    assert result.code == 0 and "no changes" in result.stderr, result.stderr

    repo.write(".fleet-handshake.yaml", "source: team-a.secrets\n")  # another owner: refused, nothing lost
    before = read_tree(work / "bundles")
    result = run_cli("generate", repo.root, "--out", work / "bundles", env=env)
    assert result.code == 1
    assert f"of source {identity}, not this source (team-a.secrets)" in result.stderr
    assert {p: c for p, c in read_tree(work / "bundles").items() if not p.startswith(".")} == {
        p: c for p, c in before.items() if not p.startswith(".")
    }

    fresh = run_cli("generate", repo.root, "--out", work / "fresh", env=env)
    assert fresh.code == 0, fresh.stderr
    assert status(work / "fresh")["source"] == "team-a.secrets"
    fleet = next((work / "fresh" / WS).glob("*/fleet.yaml"))
    assert yaml.safe_load(fleet.read_text())["labels"][SOURCE_LABEL] == "team-a.secrets"


def test_an_output_outside_git_is_local_wherever_it_lies(
    tmp_path: Path, key_env: dict[str, str], age_key: AgeKey
) -> None:
    """No GitRepo reads it; a preview made in one temporary folder and moved keeps its identity."""
    repo = SourceRepo(tmp_path / "src", age_key)
    repo.handshakes("hs.yaml", handshake("db", "db-creds", [{"clusterName": "c1"}]))
    repo.encrypted("db.yaml", secret("db-creds", stringData={"value": "v"}))
    assert run_cli("generate", repo.root, "--out", tmp_path / "preview", env=key_env).code == 0
    assert status(tmp_path / "preview")["source"] == "local"
    (tmp_path / "preview").rename(tmp_path / "moved")
    result = run_cli("generate", repo.root, "--out", tmp_path / "moved", env=key_env)
    assert result.code == 0 and "no changes" in result.stderr, result.stderr


def controller_copies(fake: FakeKube, env: dict[str, str], *handshakes: tuple[str, str]) -> dict[str, Any]:
    """What `fleet-handshake controller` wrote for downstream-mode FleetHandshake objects (name,
    secret) in WS: each copy labelled with the controller's source identity and owned by its
    handshake. Returns the copies' metadata by name."""
    api = KubeObjects(kubeconfig=env["KUBECONFIG"])
    for name, secret_name in handshakes:
        fake.put_secret("default", secret_name, {"value": "from the cluster"})
        obj = handshake(name, secret_name, [{"clusterName": "c1"}])
        obj["metadata"]["annotations"] = {"fleethandshake.riverpointtechnology.com/mode": "downstream"}
        assert Reconciler(api).reconcile(fake.put_object(obj)).status.value == "Synced"
    copies = {name: copy.deepcopy(fake.secrets[(WS, name)]["metadata"]) for _, name in handshakes}
    assert all(
        meta["labels"][SOURCE_LABEL] == CONTROLLER_SOURCE and meta["ownerReferences"] for meta in copies.values()
    )
    return copies


def test_the_controllers_copies_are_never_taken_nor_pruned_by_generate(
    tmp_path: Path, age_key: AgeKey, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """The reverse of the controller's rule: generate refuses a copy the controller wrote for a
    handshake it has too (the move to git: that handshake Error until the FleetHandshake object
    is deleted) and never prunes one of a handshake it lacks."""
    before = controller_copies(fake_kube, kube_env, ("db", "db-creds"), ("ctl", "ctl-creds"))
    repo = downstream_source(tmp_path / "src", age_key, ("db", "db-creds"), ("api", "api-token"))
    out = tmp_path / "out"

    result = generate(repo, out, kube_env)

    assert result.code == 1
    handshakes = by_name(out)
    assert handshakes["db"]["status"] == "Error"
    said = handshakes["db"]["message"]
    assert f"is the copy controller mode writes for the FleetHandshake object {WS}/db" in said, said
    assert said.endswith(f"kubectl delete fleethandshake -n {WS} db")
    assert handshakes["api"]["status"] == "Synced"
    assert {name: fake_kube.secrets[(WS, name)]["metadata"] for name in before} == before, "untouched"
    assert fake_kube.secret_values(WS, "db-creds") == {"value": "from the cluster"}
    repo.write(".fleet-handshake.yaml", "mode: downstream\n")
    write_handshakes(repo, ("api", "api-token"))  # db gone from the source: nothing of its to prune
    assert generate(repo, out, kube_env).code == 0
    assert {name: fake_kube.secrets[(WS, name)]["metadata"] for name in before} == before, "not pruned"


def test_a_source_cannot_take_the_controllers_identity(
    tmp_path: Path, age_key: AgeKey, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """With the controller's source identity, a source would own (rewrite, prune) its copies."""
    before = controller_copies(fake_kube, kube_env, ("ctl", "ctl-creds"))
    repo = downstream_source(tmp_path / "src", age_key, ("api", "api-token"), source=CONTROLLER_SOURCE)

    result = generate(repo, tmp_path / "out", kube_env)

    assert result.code != 0
    assert f"source: {CONTROLLER_SOURCE} is the identity of `fleet-handshake controller`" in result.stderr, (
        result.stderr
    )
    assert fake_kube.secrets[(WS, "ctl-creds")]["metadata"] == before["ctl-creds"]
