"""`plan --inventory` and Fleet's BundleNamespaceMapping: a mapping in a workspace may carry that
workspace's bundles to the clusters of other namespaces (rancher/fleet target/builder.go
getNamespacesForBundle). The plan names every such delivery as a conflict: the Secret would reach
clusters its handshake's workspace does not hold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from fhtest import SourceRepo, handshake, run_cli, secret
from fleethandshake.core.inventory import INVENTORY_KINDS
from fleethandshake.core.models import LABEL_HANDSHAKE, LABEL_MANAGED_BY

VALUE = "mapped-canary-Hq72"
FLEET = "fleet.cattle.io/v1alpha1"


def cluster(name: str, namespace: str, **labels: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace, "labels": labels}
    return {"apiVersion": FLEET, "kind": "Cluster", "metadata": meta}


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def mapping(name: str, bundles: dict[str, Any] | None, namespaces: dict[str, Any] | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": FLEET, "kind": "BundleNamespaceMapping",
                           "metadata": {"name": name, "namespace": "fleet-default"}}  # fmt: skip
    if bundles is not None:
        doc["bundleSelector"] = bundles
    if namespaces is not None:
        doc["namespaceSelector"] = namespaces
    return doc


def inventory(path: Path, *items: dict[str, Any], with_namespaces: bool = True) -> Path:
    """Clusters in three namespaces; team-b shares (label share=yes), team-c does not."""
    objects = [
        cluster("c-home", "fleet-default", env="prod"),
        cluster("c-b-prod", "team-b", env="prod"),
        cluster("c-b-dev", "team-b", env="dev"),
        cluster("c-c-prod", "team-c", env="prod"),
        *items,
    ]
    if with_namespaces:
        objects += [namespace("fleet-default"), namespace("team-b", share="yes"), namespace("team-c")]
    # What `kubectl get clusters...,bundlenamespacemappings...,namespaces -A -o yaml` prints: one List.
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    return path


def plan(repo: SourceRepo, tmp_path: Path, env: dict[str, str], inv: Path) -> tuple[int, dict[str, Any], str]:
    repo.handshakes("hs.yaml", handshake("db", "db-creds", [{"clusterSelector": {"matchLabels": {"env": "prod"}}}]))
    repo.encrypted("secrets/db.yaml", secret("db-creds", stringData={"password": VALUE}))
    result = run_cli("plan", repo.root, "--out", tmp_path / "out", "--inventory", inv, "--format", "json", env=env)
    text = run_cli("plan", repo.root, "--out", tmp_path / "out", "--inventory", inv, env=env)
    for output in (result.stdout, result.stderr, text.stdout, text.stderr):
        assert VALUE not in output
    return result.code, json.loads(result.stdout), text.stdout


def mapped(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in doc["conflicts"] if c["kind"] == "mapped-delivery"]


def test_a_mapping_that_opens_other_namespaces_to_every_bundle_fails_the_plan(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    inv = inventory(tmp_path / "inv.yaml", mapping("share-all", {}, {"matchLabels": {"share": "yes"}}))

    code, doc, text = plan(repo, tmp_path, key_env, inv)

    assert code == 1, doc
    (conflict,) = mapped(doc)
    assert conflict["workspace"] == "fleet-default" and conflict["handshakes"] == ["db"]
    message = conflict["message"]
    # team-b is shared and c-b-prod matches the target; c-b-dev does not match it, and team-c is not shared.
    assert "team-b/c-b-prod" in message and "1 cluster(s)" in message
    assert "c-b-dev" not in message and "c-c-prod" not in message
    assert "BundleNamespaceMapping fleet-default/share-all" in message and "Secret apps/db-creds" in message
    assert "mapped-delivery" in text and "team-b/c-b-prod" in text
    assert doc["summary"]["conflicts"] == 1


def test_a_mapping_that_excludes_fleet_handshakes_bundles_is_no_conflict(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    excluded = {"matchExpressions": [{"key": LABEL_HANDSHAKE, "operator": "DoesNotExist"}]}
    other_tool = {"matchLabels": {LABEL_MANAGED_BY: "someone-else"}}
    nil_namespaces = mapping("no-namespaces", {}, None)
    inv = inventory(
        tmp_path / "inv.yaml",
        mapping("excluded", excluded, {"matchLabels": {"share": "yes"}}),
        mapping("other-tool", other_tool, {}),
        nil_namespaces,
    )

    code, doc, _ = plan(repo, tmp_path, key_env, inv)

    assert mapped(doc) == [] and doc["conflicts"] == []
    assert code == 10  # changes present, nothing in the way


def test_a_selector_on_labels_fleet_adds_may_match_and_is_reported(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    # fleet.cattle.io/repo-name comes from the GitRepo: the plan cannot know it, so the mapping may match.
    by_repo = {"matchLabels": {"fleet.cattle.io/repo-name": "shared-apps"}}
    inv = inventory(tmp_path / "inv.yaml", mapping("by-repo", by_repo, {"matchLabels": {"share": "yes"}}))

    code, doc, _ = plan(repo, tmp_path, key_env, inv)

    assert code == 1
    assert [c["handshakes"] for c in mapped(doc)] == [["db"]]


def test_namespaces_missing_from_the_inventory_may_be_selected_and_the_plan_says_so(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    inv = inventory(
        tmp_path / "inv.yaml", mapping("share", {}, {"matchLabels": {"share": "yes"}}), with_namespaces=False
    )

    code, doc, _ = plan(repo, tmp_path, key_env, inv)

    assert code == 1
    (conflict,) = mapped(doc)
    # Without Namespace objects their labels are unknown: both other namespaces may be shared.
    assert "team-b/c-b-prod" in conflict["message"] and "team-c/c-c-prod" in conflict["message"]
    assert "no Namespace object for team-b, team-c" in conflict["message"]


def test_help_names_the_whole_export() -> None:
    result = run_cli("plan", "--help")
    assert result.code == 0
    assert INVENTORY_KINDS in "".join(result.stdout.split())  # argparse wraps the line
