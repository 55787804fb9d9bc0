"""The JSON plan's layout: every key, in the order machines and reviewers have seen it."""

from __future__ import annotations

from fleethandshake.core import planreport
from fleethandshake.core.conflicts import Conflict
from fleethandshake.core.models import Status
from fleethandshake.core.output import HandshakeChange
from fleethandshake.core.plan import BundleDiff, ClusterImpact, Move, Plan
from fleethandshake.core.removals import Removals


def plan(with_clusters: bool) -> Plan:
    diff = BundleDiff("ws", "hs", "t: cluster c1", "b-1", "ws/b-1", "modified", "s", "ns", ("data",), ("k2",), (),
                      ("k1",), *((("c1",), ("c1",), ()) if with_clusters else ()), where="cluster c1")  # fmt: skip
    return Plan(
        bundles=(diff,),
        handshakes=(HandshakeChange("ws", "hs", Status.MISSING, "no Secret", (), (), ()),),
        clusters=(ClusterImpact("ws", "c1", ("ns/s (hs)",), (), ()),) if with_clusters else None,
        conflicts=(
            Conflict(kind="no-cluster", workspace="ws", cluster=None, handshakes=("hs",), message="matches no cluster"),
        ),
        moves=(Move("ws", "c1", "hs", "ns/s", "ws/b-0", "ws/b-1"),),
        summary={"added": 0, "removed": 0, "modified": 1, "unchanged": 0},
        display={("ws", "c1"): "prod"},
        removals=Removals(("ws/b-9",), 3, "a reason", False),
    )


def test_json_plan_keys_and_their_order() -> None:
    for with_clusters in (False, True):
        text = planreport.to_json(plan(with_clusters))
        clusters = ', "clusters": ["c1"], "clustersGained": ["c1"], "clustersLost": []' if with_clusters else ""
        expected = (
            '{"bundles": [{"workspace": "ws", "handshake": "hs", "target": "t: cluster c1", "bundle": "b-1", '
            '"path": "ws/b-1", "change": "modified", "secret": "s", "targetNamespace": "ns", "changes": ["data"], '
            f'"keysAdded": ["k2"], "keysRemoved": [], "keysChanged": ["k1"]{clusters}, "where": "cluster c1"}}], '
            '"conflicts": [{"kind": "no-cluster", "workspace": "ws", "cluster": null, "handshakes": ["hs"], '
            '"message": "matches no cluster"}], '
            '"moves": [{"workspace": "ws", "cluster": "c1", "handshake": "hs", "secret": "ns/s", "from": "ws/b-0", '
            '"to": "ws/b-1", "message": "cluster c1 moves from bundle ws/b-0 to ws/b-1 of handshake ws/hs '
            '(Secret ns/s): the new bundle takes the Secret over"}], '
            '"handshakes": [{"namespace": "ws", "name": "hs", "status": "Missing", "message": "no Secret"}], '
            '"summary": {"added": 0, "removed": 0, "modified": 1, "unchanged": 0, "changed": true}, '
            '"removalGuard": {"gone": ["ws/b-9"], "owned": 3, "refusal": "a reason", "allowed": false, '
            '"refused": true}'
        )
        if with_clusters:
            expected += (', "clusters": [{"workspace": "ws", "cluster": "c1", "displayName": "prod", '
                         '"gains": ["ns/s (hs)"], "loses": [], "changes": []}]')  # fmt: skip
        assert text == expected + "}\n"
