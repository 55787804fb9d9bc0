"""Deliveries that may fight are refused at validation; provably disjoint targets are not.

Every case marked disjoint is checked against the target matcher with clusters made to break
it: no cluster (label set, name, display name, groups) is matched by both.
"""

from __future__ import annotations

from itertools import product
from typing import Any

import pytest

from fleethandshake.core import deliveries
from fleethandshake.core.inventory import Cluster, ClusterGroup
from fleethandshake.core.matching import DISPLAY_NAME_LABEL
from fleethandshake.core.models import Handshake, Target
from fleethandshake.core.validate_handshake import parse_target
from fleetmatch import target_matches


def target(**criteria: Any) -> Target:
    parsed, problems = parse_target(criteria)
    assert parsed is not None and not problems, problems
    return parsed


def hs(name: str, *targets: Target, secret: str = "db", namespace: str = "app", workspace: str = "ws") -> Handshake:
    return Handshake(workspace, name, secret, name, namespace, tuple(targets), f"{name}.yaml", 0)


PROD = {"matchLabels": {"env": "prod"}}
DEV = {"matchLabels": {"env": "dev"}}
# (first target, second target, provably disjoint)
CASES = [
    ({"clusterName": "c1"}, {"clusterName": "c2"}, True),
    ({"clusterName": "c1"}, {"clusterName": "c1"}, False),
    ({"clusterSelector": PROD}, {"clusterSelector": DEV}, True),
    ({"clusterSelector": PROD, "clusterGroup": "g"}, {"clusterSelector": DEV, "clusterName": "c1"}, True),
    ({"clusterSelector": PROD}, {"clusterSelector": {"matchLabels": {"region": "eu"}}}, False),
    ({"clusterSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["a", "b"]}]}},
     {"clusterSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["c"]}]}}, True),
    ({"clusterSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["a", "b"]}]}},
     {"clusterSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["a"]}]}}, False),
    ({"clusterSelector": PROD},
     {"clusterSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}}, True),
    ({"clusterSelector": PROD},
     {"clusterSelector": {"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}}, True),
    ({"clusterSelector": {"matchExpressions": [{"key": "env", "operator": "Exists"}]}},
     {"clusterSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["x"]}]}}, False),
    ({"clusterSelector": {}}, {"clusterName": "c1"}, False),
    ({"clusterGroup": "a"}, {"clusterGroup": "b"}, False),  # a cluster may be in both groups
    ({"clusterGroupSelector": PROD}, {"clusterGroupSelector": DEV}, False),  # ... matched through two groups
    ({"clusterName": "c1"}, {"clusterSelector": PROD}, False),
    ({"clusterName": "c1"}, {"clusterGroup": "g"}, False),
]  # fmt: skip


@pytest.mark.parametrize(("first", "second", "disjoint"), CASES)
def test_targets_provably_disjoint(first: dict[str, Any], second: dict[str, Any], disjoint: bool) -> None:
    a, b = target(**first), target(**second)
    problems = deliveries.conflicting_deliveries([hs("orders-db", a), hs("payments-db", b)])
    assert (problems == []) is disjoint
    if not disjoint:
        assert [p.file for p in problems] == ["orders-db.yaml", "payments-db.yaml"]
        assert all("ws/orders-db and ws/payments-db" in p.message and "app/db" in p.message for p in problems)


def _clusters() -> list[tuple[Cluster, tuple[ClusterGroup, ...]]]:
    """Clusters built to break a wrong proof: names, display names, labels and groups mixed."""
    label_sets = [{}, {"env": "prod"}, {"env": "dev"}, {"env": "a"}, {"env": "b"}, {"env": "c"}, {"env": "x"},
                  {"region": "eu"}, {"env": "prod", "region": "eu"}]  # fmt: skip
    groups = tuple(ClusterGroup("ws", name, labels) for name, labels in
                   [("g", (("env", "prod"),)), ("a", (("env", "dev"),)), ("b", ())])  # fmt: skip
    return [(Cluster("ws", name, tuple(sorted(labels.items()))), groups)
            for name, labels in product(["c1", "c2", "c3"], label_sets)]  # fmt: skip


@pytest.mark.parametrize(("first", "second", "disjoint"), [c for c in CASES if c[2]])
def test_what_is_called_disjoint_never_shares_a_cluster(first: dict[str, Any], second: dict[str, Any],
                                                        disjoint: bool) -> None:  # fmt: skip
    a, b = target(**first), target(**second)
    for cluster, groups in _clusters():
        assert not (target_matches(a, cluster, groups) and target_matches(b, cluster, groups)), cluster


def test_a_cluster_name_and_a_display_name_are_not_told_apart() -> None:
    """The one case the proof cannot see: plan --inventory reports it (test_ownership_plan)."""
    cluster = Cluster("ws", "c-m-abc", ((DISPLAY_NAME_LABEL, "prod-eu"),))
    a, b = target(clusterName="c-m-abc"), target(clusterName="prod-eu")
    assert deliveries.conflicting_deliveries([hs("x", a), hs("y", b)]) == []
    assert target_matches(a, cluster, ()) and target_matches(b, cluster, ())


def test_every_target_pair_must_be_disjoint_and_only_same_name_namespace_and_workspace_count() -> None:
    c1, c2, c3 = target(clusterName="c1"), target(clusterName="c2"), target(clusterName="c3")
    assert deliveries.conflicting_deliveries([hs("x", c1, c2), hs("y", c3)]) == []
    assert len(deliveries.conflicting_deliveries([hs("x", c1, c2), hs("y", c3, c2)])) == 2
    assert deliveries.conflicting_deliveries([hs("x", c1), hs("y", c1, secret="other")]) == []
    assert deliveries.conflicting_deliveries([hs("x", c1), hs("y", c1, namespace="other")]) == []
    assert deliveries.conflicting_deliveries([hs("x", c1), hs("y", c1, workspace="other")]) == []
