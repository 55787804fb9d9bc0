"""The delivery map (plan --map) on in-memory bundles: who receives what, grouped and rendered.

Bundles are rendered by the plain mode into an in-memory tree and read back as the plan reads
them; clusters are resolved by the plan's own resolver (app/plan.py resolver_for).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from pathlib import Path

from test_render_properties import ENV

from fleethandshake.app.plan import resolver_for
from fleethandshake.core import deliverymap, mapreport
from fleethandshake.core.bundleview import BundleView, read_views
from fleethandshake.core.conflicts import Conflict, find_conflicts
from fleethandshake.core.deliverymap import ClusterDeliveries, Delivery, DeliveryMap, Unreached
from fleethandshake.core.inventory import Cluster, ClusterGroup, Inventory
from fleethandshake.core.matching import DISPLAY_NAME_LABEL
from fleethandshake.core.models import Handshake, LabelSelector, PlainSecret, SecretValue, Target
from fleethandshake.core.plan import Plan
from fleethandshake.modes import modes

CANARY = "map-canary-Vq93"
WS, OTHER = "fleet-default", "fleet-other"


def selector(**labels: str) -> LabelSelector:
    return LabelSelector(match_labels=tuple(sorted(labels.items())))


def hs(name: str, secret: str, *targets: Target, workspace: str = WS, namespace: str = "apps") -> Handshake:
    return Handshake(workspace, name, secret, "default", namespace, targets, "hs.yaml", 0)


def cluster(name: str, workspace: str = WS, display: str | None = None, **labels: str) -> Cluster:
    if display:
        labels[DISPLAY_NAME_LABEL] = display
    return Cluster(workspace, name, tuple(sorted(labels.items())))


HANDSHAKES = (
    # First match wins: an edge cluster that is also prod gets the Secret from the edge bundle only.
    hs("db", "db-creds", Target(name="edge", cluster_group="edge"),
       Target(name="prod", cluster_selector=selector(env="prod")), namespace="orders"),
    # doNotDeploy: every cluster but the one named gets it.
    hs("pull", "pull", Target(name="not-dev", cluster_name="dev-1", do_not_deploy=True),
       Target(name="all", cluster_selector=LabelSelector())),
    # Another workspace with a cluster of the same name: matched only there.
    hs("other-db", "db-creds", Target(cluster_selector=selector(env="prod")), workspace=OTHER, namespace="orders"),
    # Matches no cluster of the inventory.
    hs("nowhere", "pull", Target(cluster_selector=selector(env="nowhere"))),
)  # fmt: skip
INVENTORY = Inventory(
    clusters=(
        cluster("c-1", display="prod-eu", env="prod"),
        cluster("c-2", display="edge-7", env="prod", tier="edge"),
        cluster("c-3", display="dev-1", env="dev"),
        cluster("c-1", workspace=OTHER, env="prod"),
        cluster("c-9", workspace=OTHER, env="dev"),
    ),
    groups=(ClusterGroup(WS, "edge", (), selector(tier="edge")),),
)


def secret_for(h: Handshake) -> PlainSecret:
    value = SecretValue(base64.b64encode(CANARY.encode()).decode())
    return PlainSecret(h.secret_name, "Opaque", (("password", value), ("user", value)))


def views_of(handshakes: tuple[Handshake, ...]) -> dict[str, BundleView]:
    tree: dict[str, bytes] = {}
    for h in handshakes:
        tree.update(modes()["plain"].render(ENV, h, secret_for(h)).files)
    return read_views(tree)


def the_map(inventory: Inventory = INVENTORY, handshakes: tuple[Handshake, ...] = HANDSHAKES) -> DeliveryMap:
    resolve, _ = resolver_for(inventory, Path("inventory.yaml"))
    return deliverymap.build(views_of(handshakes), resolve, inventory)


def received(m: DeliveryMap, workspace: str, name: str) -> list[tuple[str, str, str]]:
    (entry,) = [c for c in m.clusters if (c.workspace, c.cluster) == (workspace, name)]
    return [(d.secret, d.handshake, d.target) for d in entry.deliveries]


def test_each_cluster_receives_what_the_first_matching_target_delivers() -> None:
    m = the_map()
    assert received(m, WS, "c-1") == [("apps/pull", "pull", "all: clusters (all)"),
                                      ("orders/db-creds", "db", "prod: clusters env=prod")]  # fmt: skip
    # In group edge AND env=prod: once, from the edge bundle (the prod bundle skips it).
    assert received(m, WS, "c-2") == [("apps/pull", "pull", "all: clusters (all)"),
                                      ("orders/db-creds", "db", "edge: group edge")]  # fmt: skip
    # doNotDeploy on dev-1 (its display name): nothing from `pull`, and nothing else matches it.
    assert received(m, WS, "c-3") == []


def test_workspaces_are_kept_apart_even_for_clusters_of_the_same_name() -> None:
    m = the_map()
    assert received(m, OTHER, "c-1") == [("orders/db-creds", "other-db", "clusters env=prod")]
    assert received(m, OTHER, "c-9") == []
    assert m.workspaces == (WS, OTHER)
    assert [(c.workspace, c.label) for c in m.clusters] == [
        (WS, "dev-1 (c-3)"), (WS, "edge-7 (c-2)"), (WS, "prod-eu (c-1)"), (OTHER, "c-1"), (OTHER, "c-9"),
    ]  # fmt: skip


def test_deliveries_carry_bundle_mode_and_key_names() -> None:
    m = the_map()
    (entry,) = [c for c in m.clusters if (c.workspace, c.cluster) == (WS, "c-2")]
    db = entry.deliveries[1]
    assert (db.mode, db.keys) == ("plain", ("password", "user"))
    assert db.path == f"{WS}/{db.bundle}" and db.bundle.startswith("db-edge-")


def test_handshakes_that_reach_no_cluster_are_called_out() -> None:
    m = the_map()
    assert [(u.workspace, u.handshake, u.secrets) for u in m.unreached] == [(WS, "nowhere", ("apps/pull",))]
    # A workspace that has bundles but no cluster in the inventory: its handshakes reach nothing.
    only_default = Inventory(tuple(c for c in INVENTORY.clusters if c.workspace == WS), INVENTORY.groups)
    m = the_map(only_default)
    assert OTHER in m.workspaces
    assert {u.handshake for u in m.unreached} == {"nowhere", "other-db"}


def test_groups_count_clusters_that_receive_the_same_set_nothing_last() -> None:
    clusters = tuple(cluster(f"c-{i}", env="prod", tier=f"t{i % 2}") for i in range(5))
    clusters += tuple(cluster(f"c-dev-{i}", env="dev") for i in range(6))
    handshakes = (
        hs("db", "db-creds", Target(cluster_selector=selector(env="prod"))),
        hs("tls", "tls", Target(cluster_selector=selector(tier="t0"))),
    )
    groups = the_map(Inventory(clusters), handshakes).groups(WS)
    assert [(len(g.clusters), [d.secret for d in g.deliveries]) for g in groups] == [
        (3, ["apps/db-creds", "apps/tls"]), (2, ["apps/db-creds"]), (6, []),
    ]  # fmt: skip
    assert [c.cluster for c in groups[0].clusters] == ["c-0", "c-2", "c-4"]


def plan() -> Plan:
    return Plan(bundles=(), handshakes=(), summary={"added": 0, "removed": 0, "modified": 0, "unchanged": 0})


def test_text_lists_every_cluster_and_what_needs_attention() -> None:
    text = mapreport.to_text(the_map(), plan())
    assert text.splitlines()[0] == (
        "delivery map: 5 clusters in 2 workspaces: 3 receive 5 Secret deliveries, 2 receive nothing; "
        "1 handshake reaches no cluster"
    )
    assert "  dev-1 (c-3): nothing\n" in text
    assert re.search(r"\n  edge-7 \(c-2\): 2 Secrets\n    apps/pull  from pull \[all: clusters \(all\)\]  bundle "
                     r"pull-all-\w+  plain  keys: password, user\n", text)  # fmt: skip
    assert "NEEDS ATTENTION:\n  handshake fleet-default/nowhere reaches no cluster (Secret apps/pull;" in text


def test_json_holds_every_cluster_with_indexes_of_its_bundles() -> None:
    doc = json.loads(mapreport.to_json(the_map(), plan()))
    assert doc["format"] == "fleet-handshake-map/v2"
    assert doc["summary"] == {"workspaces": 2, "clusters": 5, "receiving": 3, "receivingNothing": 2,
                              "deliveries": 5, "unreached": 1, "changed": False}  # fmt: skip
    # apps/pull of `pull` reaches two clusters, through one bundle: written once.
    assert [(b["namespace"], b["name"], b["handshake"]) for b in doc["bundles"]] == [
        ("apps", "pull", "pull"), ("orders", "db-creds", "db"), ("orders", "db-creds", "db"),
        ("orders", "db-creds", "other-db"),
    ]  # fmt: skip
    first = doc["clusters"][1]
    assert (first["workspace"], first["cluster"], first["displayName"]) == (WS, "c-2", "edge-7")
    assert set(doc["bundles"][0]) == {"namespace", "name", "handshake", "target", "bundle", "path", "keys", "mode"}
    assert [c["bundles"] for c in doc["clusters"]] == [[], [0, 1], [0, 2], [3], []]
    assert doc["unreached"][0]["handshake"] == "nowhere"


def test_json_gives_each_cluster_exactly_the_secrets_of_the_map() -> None:
    # Three workspaces (fleet-empty has no cluster in the inventory), clusters that receive
    # nothing, handshakes that reach no cluster, and a conflict: edge-7 gets apps/pull from two
    # handshakes.
    handshakes = (*HANDSHAKES, hs("pull-edge", "pull", Target(cluster_group="edge")),
                  hs("lost", "lost", Target(cluster_selector=LabelSelector()), workspace="fleet-empty"))  # fmt: skip
    views = views_of(handshakes)
    resolve, display = resolver_for(INVENTORY, Path("inventory.yaml"))
    m = deliverymap.build(views, resolve, INVENTORY)
    conflicts = tuple(find_conflicts(views, resolve, display))
    assert len(m.workspaces) == 3 and m.receiving < len(m.clusters)
    assert [u.handshake for u in m.unreached] == ["nowhere", "lost"]
    assert [c.kind for c in conflicts].count("duplicate-delivery") == 1

    doc = json.loads(mapreport.to_json(m, replace(plan(), conflicts=conflicts)))
    bundles = [Delivery(**(b | {"keys": tuple(b["keys"])})) for b in doc["bundles"]]
    assert len(bundles) == len(set(bundles)) == len({d for c in m.clusters for d in c.deliveries})
    rebuilt = tuple(ClusterDeliveries(c["workspace"], c["cluster"], c["displayName"],
                                      tuple(bundles[i] for i in c["bundles"])) for c in doc["clusters"])  # fmt: skip
    assert rebuilt == m.clusters
    assert tuple(Unreached(u["workspace"], u["handshake"], tuple(u["secrets"]), tuple(u["bundles"]))
                 for u in doc["unreached"]) == m.unreached  # fmt: skip
    assert tuple(Conflict(**(c | {"handshakes": tuple(c["handshakes"])})) for c in doc["conflicts"]) == tuple(
        c for c in conflicts if c.kind != "no-cluster"
    )


def test_markdown_groups_counts_and_caps_at_thousands_of_clusters() -> None:
    clusters = tuple(cluster(f"c-m-{i:05d}", display=f"prod-{i:05d}", env="prod") for i in range(5000))
    clusters += tuple(cluster(f"c-d-{i}", env="dev") for i in range(3))
    handshakes = (
        hs("db", "db-creds", Target(cluster_selector=selector(env="prod"))),
        hs("pull", "pull", Target(cluster_selector=LabelSelector())),
    )
    text = mapreport.to_markdown(the_map(Inventory(clusters), handshakes), plan())
    assert "**5,003 clusters in 1 workspace: 5,003 receive 10,003 Secret deliveries, 0 receive nothing**" in text
    assert "**5,000 clusters** receive 2 Secrets" in text
    assert "**3 clusters** receive 1 Secret" in text
    assert "and 4,900 more (the text and JSON maps list every cluster)" in text
    assert text.count("`prod-") == mapreport.MAX_NAMES
    assert text.count("<details>") == text.count("</details>") == 2
    assert len(text) < 10_000


def test_markdown_stays_under_its_size_and_says_what_it_left_out() -> None:
    # 2 x 200 clusters, each receiving a Secret of its own: 400 groups, far more than fit.
    clusters = tuple(cluster(f"c-{i}", workspace=ws) for ws in (WS, OTHER) for i in range(200))
    handshakes = tuple(hs(f"h{i}", "s", Target(cluster_name=f"c-{i}"), workspace=ws)
                       for ws in (WS, OTHER) for i in range(200))  # fmt: skip
    text = mapreport.to_markdown(the_map(Inventory(clusters), handshakes), plan())
    assert len(text) <= mapreport.MAX_CHARS
    assert text.endswith("never a value.</sub>\n")
    for part in text.split("#### Workspace ")[1:]:  # each workspace gets its share
        shown = part.count("<details>")
        assert shown == part.count("</details>") > 20
        note = f"*And {200 - shown} sets of Secrets, received by {200 - shown} clusters, left out to keep this"
        assert note in part


def test_markdown_caps_what_needs_attention() -> None:
    handshakes = tuple(hs(f"h{i:02d}", "s", Target(cluster_name=f"gone-{i}")) for i in range(60))
    m = the_map(Inventory((cluster("c-1"),)), handshakes)
    assert len(m.unreached) == 60
    text = mapreport.to_markdown(m, plan())
    assert text.count("- handshake fleet-default/h") == mapreport.MAX_ATTENTION
    assert "- ... and 10 more: the text and JSON maps list them all" in text
    assert mapreport.to_text(m, plan()).count("  handshake fleet-default/h") == 60


def test_no_value_in_any_format() -> None:
    m = the_map()
    forms = (CANARY, base64.b64encode(CANARY.encode()).decode(), CANARY.encode().hex())
    for render_map in (mapreport.to_text, mapreport.to_markdown, mapreport.to_json):
        out = render_map(m, plan())
        assert "password" in out
        for form in forms:
            assert form not in out


def test_markdown_stays_under_its_size_with_hundreds_of_workspaces() -> None:
    # 600 workspaces of 2 clusters: their headings alone would be twice the limit.
    workspaces = [f"workspace-number-{i:04d}" for i in range(600)]
    clusters = tuple(cluster(f"c-{i}", workspace=ws) for ws in workspaces for i in range(2))
    handshakes = tuple(hs("h", "s", Target(cluster_name="c-0"), workspace=ws) for ws in workspaces)
    text = mapreport.to_markdown(the_map(Inventory(clusters), handshakes), plan())
    assert len(text) <= mapreport.MAX_CHARS
    assert text.endswith("never a value.</sub>\n")
    shown = text.count("#### Workspace ")
    assert 0 < shown < 600
    assert f"*{600 - shown} more workspaces, with {2 * (600 - shown):,} clusters, left out to keep this" in text


def test_markdown_text_from_messages_or_labels_cannot_open_html() -> None:
    from fleethandshake.core.models import Status
    from fleethandshake.core.output import HandshakeChange

    broken = HandshakeChange(WS, "db", Status.ERROR, "cannot read <details><summary>x", (), (), ())
    clusters = (cluster("c-1", display="a`<details>", env="prod"),)
    text = mapreport.to_markdown(the_map(Inventory(clusters), HANDSHAKES[:1]), replace(plan(), handshakes=(broken,)))
    assert "<details><summary>x" not in text and "cannot read &lt;details>&lt;summary>x" in text
    assert "a`&lt;details> (c-1)" in text
    assert text.count("<details>") == text.count("</details>")


def test_markdown_stays_under_its_size_when_handshakes_with_many_targets_reach_nothing() -> None:
    # 50 handshakes of 150 targets each reach no cluster: each "Needs attention" line would name
    # 150 bundles (about 6,000 characters), 300,000 in all.
    targets = tuple(Target(cluster_name=f"nowhere-{i:03d}") for i in range(150))
    handshakes = tuple(hs(f"handshake-{i:02d}", f"s-{i}", *targets) for i in range(50))
    text = mapreport.to_markdown(the_map(Inventory((cluster("c-1"),)), handshakes), plan())
    assert len(text) <= mapreport.MAX_CHARS
    assert text.endswith("never a value.</sub>\n")
    assert text.count("reaches no cluster") == 50, "every unreached handshake is still named"
