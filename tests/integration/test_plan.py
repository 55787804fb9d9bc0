"""`plan` end to end: real sops, hand-built Fleet inventories, git refs; and `gitrepo`."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import fakekube
import planscale
from fakekube import FakeKube, write_kubeconfig
from fhtest import DATA, SourceRepo, handshake, read_tree, run_cli, secret, without_removals
from fleethandshake.core import plancomment
from fleethandshake.core.plan import RENAMED_WHY, REWRITTEN
from fleethandshake.errors import EXIT_CHANGES

fake_kube = fakekube.fake_kube

VALUE = "plan-canary-Zq81"
NEW_VALUE = "plan-canary-changed-Wx55"


def cluster(name: str, workspace: str = "fleet-default", display: str | None = None, **labels: str) -> dict[str, Any]:
    if display:
        labels["management.cattle.io/cluster-display-name"] = display
    return {"apiVersion": "fleet.cattle.io/v1alpha1", "kind": "Cluster",
            "metadata": {"name": name, "namespace": workspace, "labels": labels}}  # fmt: skip


def group(name: str, selector: dict[str, Any], workspace: str = "fleet-default") -> dict[str, Any]:
    return {"apiVersion": "fleet.cattle.io/v1alpha1", "kind": "ClusterGroup",
            "metadata": {"name": name, "namespace": workspace}, "spec": {"selector": selector}}  # fmt: skip


def inventory(path: Path, *items: dict[str, Any]) -> Path:
    # The shape `kubectl get clusters.fleet.cattle.io,clustergroups.fleet.cattle.io -A -o yaml` prints.
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": list(items)}))
    return path


@pytest.fixture
def fleet_inventory(tmp_path: Path) -> Path:
    return inventory(
        tmp_path / "inventory.yaml",
        cluster("c-m-aaa", display="prod-eu-1", env="prod", region="eu"),
        cluster("c-m-bbb", display="prod-us-1", env="prod", region="us"),
        cluster("c-m-ccc", display="dev-1", env="dev", region="eu"),
        cluster("c-m-edge", display="edge-7", env="prod", region="eu", tier="edge"),
        cluster("c-m-other", workspace="fleet-other", env="prod", region="eu"),
        group("edge", {"matchLabels": {"tier": "edge"}}),
        group("eu", {"matchLabels": {"region": "eu"}}),
    )


def build(repo: SourceRepo, value: str = VALUE, extra_key: bool = False) -> None:
    repo.handshakes(
        "hs.yaml",
        handshake("db", "db-creds", [
            {"name": "edge", "clusterGroup": "edge"},
            {"name": "prod-eu", "clusterSelector": {"matchLabels": {"env": "prod", "region": "eu"}}},
        ], target_namespace="orders"),
        handshake("registry", "pull", [{"clusterSelector": {"matchLabels": {"env": "prod"}}}]),
    )  # fmt: skip
    data = {"password": value, "user": "app"} | ({"pool": "10"} if extra_key else {})
    repo.encrypted("secrets/db.yaml", secret("db-creds", stringData=data))
    repo.encrypted("secrets/pull.yaml", secret("pull", stringData={"token": VALUE}))


def plan(repo: SourceRepo, out: Path, env: dict[str, str], *args: str | Path) -> Any:
    return run_cli("plan", repo.root, "--out", out, *args, env=env)


def assert_no_values(*texts: str) -> None:
    for value in (VALUE, NEW_VALUE):
        for form in (value, base64.b64encode(value.encode()).decode(), value.encode().hex()):
            for text in texts:
                assert form not in text


def test_first_plan_adds_every_bundle_and_writes_nothing(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], fleet_inventory: Path
) -> None:
    build(repo)
    out = tmp_path / "out"
    result = plan(repo, out, key_env, "--inventory", fleet_inventory, "--format", "json")
    assert result.code == EXIT_CHANGES, result.stderr
    doc = json.loads(result.stdout)
    assert {b["change"] for b in doc["bundles"]} == {"added"}
    assert len(doc["bundles"]) == 3
    assert not out.exists(), "plan writes nothing"
    assert_no_values(result.stdout, result.stderr)


def test_changed_secret_is_one_modified_bundle_with_key_names_and_clusters(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], fleet_inventory: Path
) -> None:
    build(repo)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    assert plan(repo, out, key_env).code == 0  # nothing changed yet
    build(repo, value=NEW_VALUE, extra_key=True)
    before = read_tree(out)

    result = plan(repo, out, key_env, "--inventory", fleet_inventory, "--format", "json")

    assert result.code == EXIT_CHANGES
    assert read_tree(out) == before
    doc = json.loads(result.stdout)
    modified = [b for b in doc["bundles"] if b["change"] == "modified"]
    assert [b["target"] for b in modified] == ["edge: group edge", "prod-eu: clusters env=prod, region=eu"]
    for b in modified:
        assert (b["keysChanged"], b["keysAdded"], b["keysRemoved"]) == (["password"], ["pool"], [])
        assert b["changes"] == ["data"]
        assert b["secret"] == "db-creds" and b["targetNamespace"] == "orders"
    # First match wins: the edge cluster gets the Secret from the edge target only.
    assert modified[0]["clusters"] == ["c-m-edge"]
    assert modified[1]["clusters"] == ["c-m-aaa"]
    assert {b["handshake"]: b["change"] for b in doc["bundles"] if b["change"] == "unchanged"} == {
        "registry": "unchanged"
    }
    impacted = {c["cluster"]: c for c in doc["clusters"]}
    assert set(impacted) == {"c-m-aaa", "c-m-edge"}
    assert impacted["c-m-aaa"]["displayName"] == "prod-eu-1"
    assert impacted["c-m-aaa"]["changes"] == ["orders/db-creds (db): keys added pool, keys changed password"]
    assert doc["summary"]["modified"] == 2 and doc["summary"]["changed"] is True
    assert doc["conflicts"] == []
    for fmt, name in (("text", "prod-eu-1 (c-m-aaa)"), ("markdown", "prod-eu-1")):
        other = plan(repo, out, key_env, "--inventory", fleet_inventory, "--format", fmt)
        assert other.code == EXIT_CHANGES
        assert name in other.stdout
        assert_no_values(other.stdout, other.stderr)
    assert_no_values(result.stdout, result.stderr)


def test_markdown_is_a_pull_request_comment(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], fleet_inventory: Path
) -> None:
    build(repo)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    build(repo, value=NEW_VALUE)
    text = plan(repo, out, key_env, "--inventory", fleet_inventory, "--format", "markdown").stdout
    lines = text.splitlines()
    assert lines[0] == "### fleet-handshake plan"
    assert lines[2] == "**1 Secret changes in 2 bundles in fleet-default, on 2 clusters**: 🟡 2 modified · 1 unchanged"
    assert lines[4:7] == [
        "| Secret | Change | Clusters | Where |",
        "|---|---|---|---|",
        "| 🟡 `orders/db-creds` | changed `password` | 2 | env=prod, region=eu: 1 · group edge: 1 |",
    ]
    planscale.check_markdown(text, plancomment.COMMENT_LIMIT)
    # Cluster names only in the collapsed blocks, by their display names.
    assert "edge-7" not in text.split("<details>")[0] and "- group edge: **1**: edge-7" in text
    assert text.count("<details>") == text.count("</details>") == 3
    assert "never a value" in text


def test_removed_handshake_shows_clusters_losing_the_secret(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], fleet_inventory: Path
) -> None:
    build(repo)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    repo.handshakes("hs.yaml", handshake("db", "db-creds", [{"name": "edge", "clusterGroup": "edge"},
        {"name": "prod-eu", "clusterSelector": {"matchLabels": {"env": "prod", "region": "eu"}}}],
        target_namespace="orders"))  # fmt: skip

    doc = json.loads(plan(repo, out, key_env, "--inventory", fleet_inventory, "--format", "json").stdout)

    removed = [b for b in doc["bundles"] if b["change"] == "removed"]
    assert [b["handshake"] for b in removed] == ["registry"]
    assert sorted(removed[0]["clusters"]) == ["c-m-aaa", "c-m-bbb", "c-m-edge"]  # not c-m-other: another workspace
    loses = {c["cluster"]: c["loses"] for c in doc["clusters"]}
    assert loses == {c: ["apps/pull (registry)"] for c in ("c-m-aaa", "c-m-bbb", "c-m-edge")}


def test_clusters_moving_between_bundles_of_a_handshake_are_flagged(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], fleet_inventory: Path
) -> None:
    """Reordered targets: the edge cluster, matched by both, now gets db-creds from the prod-eu
    bundle. It keeps the Secret, so it is neither a gain nor a loss: a move, in every format,
    which does not fail the plan."""
    build(repo)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    folders = {yaml.safe_load((d / "fleet.yaml").read_text())["overrideTargets"][0].get("name"): d.name
               for d in (out / "fleet-default").iterdir()}  # fmt: skip
    repo.handshakes("hs.yaml", handshake("db", "db-creds", [
        {"name": "prod-eu", "clusterSelector": {"matchLabels": {"env": "prod", "region": "eu"}}},
        {"name": "edge", "clusterGroup": "edge"}], target_namespace="orders"),
        handshake("registry", "pull", [{"clusterSelector": {"matchLabels": {"env": "prod"}}}]))  # fmt: skip
    edge, prod_eu = f"fleet-default/{folders['edge']}", f"fleet-default/{folders['prod-eu']}"

    result = plan(repo, out, key_env, "--inventory", fleet_inventory, "--format", "json")

    assert result.code == EXIT_CHANGES, result.stderr  # changes, not a failure
    doc = json.loads(result.stdout)
    assert [(m["cluster"], m["handshake"], m["secret"], m["from"], m["to"]) for m in doc["moves"]] == [
        ("c-m-edge", "db", "orders/db-creds", edge, prod_eu)
    ]
    assert doc["summary"]["moves"] == 1 and doc["conflicts"] == []
    impact = {c["cluster"]: c for c in doc["clusters"]}["c-m-edge"]
    assert (impact["gains"], impact["loses"]) == ([], [])
    assert impact["changes"] == [f"orders/db-creds (db): moves from bundle {edge} to {prod_eu}"]
    text = plan(repo, out, key_env, "--inventory", fleet_inventory).stdout
    assert (
        f"  MOVE cluster edge-7 (c-m-edge) moves from bundle {edge} to {prod_eu} of handshake fleet-default/db" in text
    )
    assert "1 cluster move(s) between bundles" in text.splitlines()[0]
    markdown = plan(repo, out, key_env, "--inventory", fleet_inventory, "--format", "markdown").stdout
    assert "Clusters that move between bundles of a handshake (1)" in markdown
    assert f"- cluster edge-7 (c-m-edge) moves from bundle {edge} to {prod_eu}" in markdown
    assert markdown.count("<details>") == markdown.count("</details>")
    # Without an inventory there are no clusters, so no moves either.
    assert json.loads(plan(repo, out, key_env, "--format", "json").stdout)["moves"] == []


def test_plan_honours_do_not_deploy_targets(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], fleet_inventory: Path
) -> None:
    repo.handshakes("hs.yaml", handshake("everywhere", "pull", [
        {"name": "no-dev", "clusterSelector": {"matchLabels": {"env": "dev"}}, "doNotDeploy": True},
        {"name": "no-edge", "clusterGroup": "edge", "doNotDeploy": True},
        {"name": "all", "clusterSelector": {}}]))  # fmt: skip
    repo.encrypted("secrets/pull.yaml", secret("pull", stringData={"token": VALUE}))

    doc = json.loads(plan(repo, tmp_path / "out", key_env, "--inventory", fleet_inventory, "--format", "json").stdout)

    (bundle,) = doc["bundles"]
    assert bundle["target"] == "all: clusters (all)"
    assert bundle["clusters"] == ["c-m-aaa", "c-m-bbb"]  # not c-m-ccc (dev), c-m-edge (edge), c-m-other (workspace)


def test_conflicts_fail_the_plan(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], fleet_inventory: Path
) -> None:
    build(repo)
    # Same Secret name into the same namespace of c-m-aaa, from two handshakes whose targets validation
    # cannot tell apart: c-m-aaa's name and its display name (see core/deliveries.py).
    repo.handshakes("more.yaml",
        handshake("db-copy", "cache", [{"clusterName": "prod-eu-1"}], target_namespace="orders"),
        handshake("cache", "cache", [{"clusterName": "c-m-aaa"}], target_namespace="orders"),
        handshake("nowhere", "pull", [{"clusterName": "does-not-exist"}], target_namespace="elsewhere"))  # fmt: skip
    repo.encrypted("secrets/cache.yaml", secret("cache", stringData={"k": VALUE}))

    result = plan(repo, tmp_path / "out", key_env, "--inventory", fleet_inventory, "--format", "json")

    assert result.code == 1
    conflicts = json.loads(result.stdout)["conflicts"]
    kinds = {(c["kind"], c.get("cluster"), tuple(c["handshakes"])) for c in conflicts}
    assert ("duplicate-delivery", "c-m-aaa", ("cache", "db-copy")) in kinds
    assert ("no-cluster", None, ("nowhere",)) in kinds
    assert len([k for k in kinds if k[0] == "duplicate-delivery"]) == 1, kinds
    (duplicate,) = [c for c in conflicts if c["kind"] == "duplicate-delivery"]
    assert duplicate["message"].endswith("to cluster prod-eu-1 (c-m-aaa)")  # its display name, as elsewhere


def test_plan_against_a_git_ref(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]) -> None:
    work = tmp_path / "work"
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e.invalid", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@e.invalid", GIT_CONFIG_GLOBAL="/dev/null")  # fmt: skip
    subprocess.run(["git", "init", "-q", str(work)], check=True, env=env)
    build(repo)
    out = work / "bundles"
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    subprocess.run(["git", "add", "."], cwd=work, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "bundles"], cwd=work, check=True, env=env)
    subprocess.run(["rm", "-rf", str(out)], check=True)  # the working copy no longer matters

    same = plan(repo, out, key_env, "--against", "HEAD")
    assert same.code == 0, same.stderr + same.stdout
    build(repo, value=NEW_VALUE)
    changed = plan(repo, out, key_env, "--against", "HEAD", "--format", "json")
    assert changed.code == EXIT_CHANGES
    assert sorted(b["change"] for b in json.loads(changed.stdout)["bundles"]) == ["modified", "modified", "unchanged"]
    missing = plan(repo, out, key_env, "--against", "no-such-ref")
    assert missing.code == 1 and "git ref not found" in missing.stderr


def test_missing_secret_makes_the_plan_fail(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]) -> None:
    build(repo)
    (repo.root / "secrets" / "pull.yaml").unlink()
    result = plan(repo, tmp_path / "out", key_env, "--format", "json")
    assert result.code == 1
    statuses = {h["name"]: h["status"] for h in json.loads(result.stdout)["handshakes"]}
    assert statuses == {"db": "Synced", "registry": "Missing"}


def test_gitrepo_manifests_validate_against_fleets_crd(repo: SourceRepo) -> None:
    crd_path = DATA / "fleet" / "crd-gitrepo.yaml"
    repo.handshakes("hs.yaml", handshake("a", "s", [{"clusterName": "c1"}]),
                    handshake("b", "s", [{"clusterName": "c1"}], workspace="fleet-other"))  # fmt: skip
    result = run_cli("gitrepo", repo.root, "--repo", "https://git.example.invalid/bundles.git", "--branch", "main",
                     "--out-path", "bundles", "--client-secret", "git-creds")  # fmt: skip
    assert result.code == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    crd = yaml.safe_load(crd_path.read_text())
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")["schema"]["openAPIV3Schema"]
    for doc in docs:
        jsonschema.validate(doc, schema)
        assert "targets" not in doc["spec"] and "targetNamespace" not in doc["spec"]
    assert [(d["metadata"]["namespace"], d["spec"]["paths"]) for d in docs] == [
        ("fleet-default", ["bundles/fleet-default"]),
        ("fleet-other", ["bundles/fleet-other"]),
    ]
    assert all(d["spec"]["clientSecretName"] == "git-creds" for d in docs)


@pytest.mark.parametrize(
    ("out_path", "paths"), [("./out/", "out/fleet-default"), ("a//b", "a/b/fleet-default"), ("/", "fleet-default"),
                            ("../x", None), ("a/../../x", None)]
)  # fmt: skip
def test_gitrepo_paths_stay_inside_the_repository(repo: SourceRepo, out_path: str, paths: str | None) -> None:
    repo.handshakes("hs.yaml", handshake("a", "s", [{"clusterName": "c1"}]))
    result = run_cli("gitrepo", repo.root, "--repo", "https://git.example.invalid/b.git", "--branch", "main",
                     "--out-path", out_path)  # fmt: skip
    if paths is None:
        assert result.code == 2 and result.stdout == ""
        assert "leaves the repository" in result.stderr
    else:
        assert result.code == 0, result.stderr
        assert yaml.safe_load(result.stdout)["spec"]["paths"] == [paths]


@pytest.mark.parametrize("url", ["x", "/srv/git/bundles.git", "https://token@github.com/org/bundles.git"])
def test_gitrepo_refuses_a_repository_fleet_cannot_clone(repo: SourceRepo, url: str) -> None:
    repo.handshakes("hs.yaml", handshake("a", "s", [{"clusterName": "c1"}]))
    result = run_cli("gitrepo", repo.root, "--repo", url, "--branch", "main")
    assert result.code == 2
    assert result.stdout == ""
    assert (
        "fleet-handshake: error: --repo " in result.stderr and "Fleet's GitRepo cannot clone from it" in result.stderr
    )
    assert "token" not in result.stderr


def test_known_fleet_files_give_the_same_plan_as_parsing(
    repo: SourceRepo,
    tmp_path: Path,
    key_env: dict[str, str],
    fleet_inventory: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_kube: FakeKube,
) -> None:
    """plan skips parsing the fleet.yaml of Synced handshakes; the plan must be the one parsing gives.

    Covers a changed value, a downstream-mode handshake (downstreamResources in fleet.yaml), and a
    Missing handshake whose targets changed: its old bundle is kept and must be read as it is.
    """
    from fleethandshake.app import plan as plan_app
    from fleethandshake.core import planreport

    build(repo)
    down = handshake("down", "pull", [{"clusterGroup": "eu"}], workspace="fleet-default", target_namespace="pulled")
    down["metadata"]["annotations"] = {"fleethandshake.riverpointtechnology.com/mode": "downstream"}
    first = handshake("gone", "nowhere", [{"clusterGroup": "edge"}, {"clusterName": "c-m-aaa"}])
    repo.handshakes("more.yaml", down, first)
    repo.encrypted("secrets/nowhere.yaml", secret("nowhere", stringData={"k": VALUE}))
    out = tmp_path / "out"
    kube = {**key_env, "KUBECONFIG": str(write_kubeconfig(tmp_path / "kubeconfig", {"mgmt": fake_kube}, "mgmt"))}
    assert run_cli("generate", repo.root, "--out", out, env=kube).code == 0
    build(repo, value=NEW_VALUE, extra_key=True)
    reordered = handshake("gone", "nowhere", [{"clusterName": "c-m-aaa"}, {"clusterGroup": "edge"}])
    repo.handshakes("more.yaml", down, reordered)
    (repo.root / "secrets" / "nowhere.yaml").unlink()  # Missing: its old bundles stay as they were
    for name, value in key_env.items():
        monkeypatch.setenv(name, value)

    def compute() -> Any:
        found = plan_app.compute(repo.root, out, against=None, inventory=fleet_inventory, sops_binary=None)
        return json.loads(planreport.to_json(found))

    seen: list[dict[bytes, Any]] = []
    real = plan_app.known_fleet_files

    def spy(*args: Any) -> dict[bytes, Any]:
        known = real(*args)
        seen.append(known)
        return known

    monkeypatch.setattr(plan_app, "known_fleet_files", spy)
    with_known = compute()
    monkeypatch.setattr(plan_app, "known_fleet_files", lambda *args: {})
    parsed = compute()
    assert with_known == parsed
    assert {b["change"] for b in parsed["bundles"]} >= {"modified", "unchanged"}
    known = seen[0]
    assert len(known) >= 3  # db (2 bundles), registry, down: not the Missing one
    for content, doc in known.items():
        assert yaml.safe_load(content) == doc
    assert not any(b"nowhere" in content for content in known)


def test_an_invalid_inventory_is_reported_with_file_and_line(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    build(repo)
    bad = tmp_path / "inventory.yaml"
    bad.write_text("apiVersion: v1\nkind: List\nitems:\n- 42\n")
    result = plan(repo, tmp_path / "out", key_env, "--inventory", bad)
    assert result.code == 1, result.stderr
    assert f"{bad}:4" in result.stderr and "items[0]" in result.stderr and "Traceback" not in result.stderr
    unparsable = tmp_path / "broken.yaml"
    unparsable.write_text("items: [\n")
    result = plan(repo, tmp_path / "out", key_env, "--inventory", unparsable)
    assert result.code == 1 and str(unparsable) in result.stderr and "Traceback" not in result.stderr
    missing = plan(repo, tmp_path / "out", key_env, "--inventory", tmp_path / "nope.yaml")
    assert missing.code == 1 and "cannot read inventory" in missing.stderr


def old_format(out: Path, *, old_names: bool = False) -> None:
    """Rewrite OUT as fleet-handshake wrote it before the quoting rule: PyYAML's plain scalars, and
    the Secret's values as stringData (same targets, same values); `old_names`: and bundle names with
    the 8-hex-digit digest of earlier versions."""
    for path in out.glob("*/*/*.yaml"):
        header = "".join(line + "\n" for line in path.read_text().splitlines() if line.startswith("#"))
        doc = yaml.safe_load(path.read_text())
        if path.name == "secret.yaml":
            doc["stringData"] = {k: base64.b64decode(v).decode() for k, v in doc.pop("data").items()}
        if path.name == "fleet.yaml" and old_names:
            doc["name"] = doc["name"][:-17] + "-" + doc["name"][-8:]
        path.write_text(header + yaml.safe_dump(doc, sort_keys=False))
    if old_names:
        for folder in list(out.glob("*/*/")):
            folder.rename(folder.with_name(folder.name[:-17] + "-" + folder.name[-8:]))


def test_output_of_the_old_format_is_rewritten_once_and_the_plan_says_why(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], fleet_inventory: Path
) -> None:
    build(repo)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    current = read_tree(out)
    old_format(out)
    assert read_tree(out) != current

    result = plan(repo, out, key_env, "--inventory", fleet_inventory, "--format", "json")

    assert result.code == EXIT_CHANGES, result.stderr
    bundles = json.loads(result.stdout)["bundles"]
    assert [(b["change"], b["changes"]) for b in bundles] == [("modified", [REWRITTEN])] * 3
    assert all(not (b["keysAdded"] or b["keysRemoved"] or b["keysChanged"]) for b in bundles)
    assert all(not (b["clustersGained"] or b["clustersLost"]) for b in bundles)
    text = plan(repo, out, key_env).stdout
    assert "every string quoted, Secret as data" in text
    assert_no_values(result.stdout, text)

    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    assert read_tree(out) == current  # rewritten once ...
    again = plan(repo, out, key_env, "--format", "json")
    assert again.code == 0  # ... and then there is nothing to do
    assert {b["change"] for b in json.loads(again.stdout)["bundles"]} == {"unchanged"}


def test_output_of_an_earlier_version_is_renamed_once_and_the_plan_says_why(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], fleet_inventory: Path
) -> None:
    """Earlier versions named bundles with a 32-bit digest of fewer things: each bundle gets its new
    name once (one Fleet Bundle deleted, one created), and the plan pairs them and says why."""
    build(repo)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    current = read_tree(out)
    old_format(out, old_names=True)
    legacy = sorted(p.parent.name for p in out.glob("*/*/fleet.yaml"))

    result = plan(repo, out, key_env, "--inventory", fleet_inventory, "--format", "json")

    assert result.code == EXIT_CHANGES, result.stderr
    bundles = json.loads(result.stdout)["bundles"]
    removed = sorted(b["bundle"] for b in bundles if b["change"] == "removed")
    assert removed == legacy and len([b for b in bundles if b["change"] == "added"]) == 3
    for b in bundles:
        (why,) = b["changes"]
        assert why.startswith("renamed to " if b["change"] == "removed" else "renamed from ")
        assert why.endswith(RENAMED_WHY)
    assert "renamed from" in plan(repo, out, key_env).stdout

    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    assert without_removals(read_tree(out)) == without_removals(current)
    status = json.loads(read_tree(out)[".fleet-handshake/status.json"])
    assert sorted(r["path"].split("/")[1] for r in status["removed"]) == legacy
    assert plan(repo, out, key_env).code == 0
