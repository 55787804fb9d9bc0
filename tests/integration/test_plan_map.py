"""`plan --map` end to end: real sops-encrypted sources, a Fleet inventory file, every format."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from test_plan import cluster, group, inventory

from fhtest import SourceRepo, handshake, read_tree, run_cli, secret
from fleethandshake.core.inventory import EXPORT_COMMAND

CANARY = "map-canary-Hk27"
FORMATS = ("text", "markdown", "json")


@pytest.fixture
def map_inventory(tmp_path: Path) -> Path:
    return inventory(
        tmp_path / "inventory.yaml",
        cluster("c-m-aaa", display="prod-eu-1", env="prod"),
        cluster("c-m-edge", display="edge-7", env="prod", tier="edge"),
        cluster("c-m-dev", display="dev-1", env="dev"),
        cluster("c-m-aaa", workspace="fleet-other", env="prod"),  # the same name in another workspace
        cluster("c-m-lone", workspace="fleet-other", env="dev"),
        group("edge", {"matchLabels": {"tier": "edge"}}),
    )


def build(repo: SourceRepo, extra_key: bool = False, nowhere: bool = True) -> None:
    nowhere_hs = handshake("nowhere", "pull", [{"clusterSelector": {"matchLabels": {"env": "none"}}}],
                           target_namespace="elsewhere")  # fmt: skip
    repo.handshakes(
        "hs.yaml",
        # First match wins: c-m-edge is in group edge and env=prod, and gets the edge bundle only.
        handshake("db", "db-creds", [
            {"name": "edge", "clusterGroup": "edge"},
            {"name": "prod", "clusterSelector": {"matchLabels": {"env": "prod"}}},
        ], target_namespace="orders"),
        # doNotDeploy: every cluster of the workspace but dev-1.
        handshake("pull", "pull", [
            {"name": "not-dev", "clusterName": "dev-1", "doNotDeploy": True},
            {"name": "all", "clusterSelector": {}},
        ]),
        handshake("other", "pull", [{"clusterSelector": {"matchLabels": {"env": "prod"}}}], workspace="fleet-other"),
        *([nowhere_hs] if nowhere else []),
    )  # fmt: skip
    repo.encrypted("secrets/db.yaml", secret("db-creds", stringData={"password": CANARY, "user": "app"}
                                             | ({"pool": "10"} if extra_key else {})))  # fmt: skip
    repo.encrypted("secrets/pull.yaml", secret("pull", stringData={"token": CANARY}))


def map_of(repo: SourceRepo, out: Path, env: dict[str, str], inv: Path, fmt: str, *args: str) -> tuple[int, str]:
    result = run_cli("plan", repo.root, "--out", out, "--inventory", inv, "--map", "--format", fmt, *args, env=env)
    for form in (CANARY, base64.b64encode(CANARY.encode()).decode(), CANARY.encode().hex()):
        assert form not in result.stdout + result.stderr, "a value reached the map"
    return result.code, result.stdout


def received(doc: dict[str, Any]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Each cluster's Secrets, as a script reads them: its indexes into the map's `bundles`."""
    return {(c["workspace"], c["cluster"]): [doc["bundles"][i] for i in c["bundles"]] for c in doc["clusters"]}


def secrets_by_cluster(doc: dict[str, Any]) -> dict[tuple[str, str], list[tuple[str, str, str, list[str]]]]:
    return {cluster: [(s["namespace"] + "/" + s["name"], s["handshake"], s["target"], s["keys"]) for s in secrets]
            for cluster, secrets in received(doc).items()}  # fmt: skip


def test_map_shows_what_every_cluster_receives_in_every_format(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], map_inventory: Path
) -> None:
    build(repo)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    before = read_tree(out)
    results = {fmt: map_of(repo, out, key_env, map_inventory, fmt) for fmt in FORMATS}
    # The plan's exit code: no changes, but a handshake that matches no cluster fails the plan.
    assert run_cli("plan", repo.root, "--out", out, "--inventory", map_inventory, env=key_env).code == 1
    assert {code for code, _ in results.values()} == {1}
    assert read_tree(out) == before

    doc = json.loads(results["json"][1])
    pull = ("apps/pull", "pull", "all: clusters (all)", ["token"])
    keys = ["password", "user"]
    assert secrets_by_cluster(doc) == {
        ("fleet-default", "c-m-dev"): [],
        ("fleet-default", "c-m-edge"): [pull, ("orders/db-creds", "db", "edge: group edge", keys)],
        ("fleet-default", "c-m-aaa"): [pull, ("orders/db-creds", "db", "prod: clusters env=prod", keys)],
        ("fleet-other", "c-m-aaa"): [("apps/pull", "other", "clusters env=prod", ["token"])],
        ("fleet-other", "c-m-lone"): [],
    }  # fmt: skip
    assert [c["displayName"] for c in doc["clusters"]] == ["dev-1", "edge-7", "prod-eu-1", None, None]
    assert {s["mode"] for s in doc["bundles"]} == {"plain"}
    assert all((out / s["path"] / "fleet.yaml").is_file() for s in doc["bundles"])
    assert [(u["workspace"], u["handshake"], u["secrets"]) for u in doc["unreached"]] == [
        ("fleet-default", "nowhere", ["elsewhere/pull"])
    ]
    assert doc["summary"] == {"workspaces": 2, "clusters": 5, "receiving": 3, "receivingNothing": 2,
                              "deliveries": 5, "unreached": 1, "changed": False}  # fmt: skip

    text = results["text"][1]
    assert "The output folder already delivers this: no bundle changes." in text
    assert "\n  dev-1 (c-m-dev): nothing\n" in text
    other = "\nworkspace fleet-other: 2 clusters\n  c-m-aaa: 1 Secret\n    apps/pull  from other [clusters env=prod]"
    assert other in text
    assert "handshake fleet-default/nowhere reaches no cluster" in text

    markdown = results["markdown"][1]
    assert markdown.startswith("### fleet-handshake delivery map\n")
    assert "**1 cluster** receives nothing" in markdown and "`dev-1 (c-m-dev)`" in markdown
    assert "| `orders/db-creds` | db: edge: group edge |" in markdown
    assert markdown.count("<details>") == markdown.count("</details>") == 5  # one per group


def test_map_exits_as_the_plan_does_and_shows_the_source_as_rendered_now(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], map_inventory: Path
) -> None:
    build(repo, nowhere=False)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    assert map_of(repo, out, key_env, map_inventory, "text")[0] == 0  # no changes, nothing to look at
    build(repo, extra_key=True, nowhere=False)
    changes = run_cli("plan", repo.root, "--out", out, "--inventory", map_inventory, env=key_env).code
    assert changes not in (0, 1, 2)
    code, stdout = map_of(repo, out, key_env, map_inventory, "json")
    assert code == changes
    doc = json.loads(stdout)
    assert doc["summary"]["changed"] is True
    keys = {(cluster, s["handshake"]): s["keys"] for (_, cluster), secrets in received(doc).items() for s in secrets}
    assert keys[("c-m-aaa", "db")] == ["password", "pool", "user"]
    code, text = map_of(repo, out, key_env, map_inventory, "text")
    assert code == changes
    assert "against the output folder 0 bundle(s) are added, 2 modified, 0 removed" in text


def test_key_names_in_a_mode_that_keeps_no_secret_in_the_bundle(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], map_inventory: Path
) -> None:
    build(repo, nowhere=False)  # downstream mode: one Secret name per workspace
    code, stdout = map_of(repo, tmp_path / "out", key_env, map_inventory, "json", "--mode", "downstream")
    assert code not in (0, 1, 2), "every bundle is added"
    doc = json.loads(stdout)
    secrets = [s for got in received(doc).values() for s in got]
    assert {s["mode"] for s in secrets} == {"downstream"}
    assert {s["handshake"]: s["keys"] for s in secrets} == {"db": ["password", "user"], "pull": ["token"],
                                                            "other": ["token"]}  # fmt: skip


def test_map_without_inventory_is_a_usage_error_with_a_hint(repo: SourceRepo, tmp_path: Path) -> None:
    build(repo)
    result = run_cli("plan", repo.root, "--out", tmp_path / "out", "--map")  # no key needed to be told
    assert result.code == 2
    assert result.stdout == ""
    assert "--map needs --inventory FILE" in result.stderr
    assert EXPORT_COMMAND in result.stderr
