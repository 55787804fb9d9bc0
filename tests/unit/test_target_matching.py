"""Target matching: Fleet's own cases, the indexed resolver against the reference, inventories.

The conformance part replays tests/data/fleet/target_match_cases.json (78 cases from Fleet's tests).
Every case applies to targets and runs: the single-target levels through `target_matches`, the
end-to-end level through `bundle_deploys`. Cases give a cluster's groups as membership (the
cluster is in these groups, which have these labels), so the groups are passed as given.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleethandshake.core.bundles import bundles_for
from fleethandshake.core.bundleview import read_views
from fleethandshake.core.inventory import Cluster, ClusterGroup, Inventory, parse_inventory
from fleethandshake.core.matching import DISPLAY_NAME_LABEL, Resolver, has_criteria
from fleethandshake.core.models import Handshake, LabelSelector, Requirement, Target
from fleethandshake.core.render import FLEET_YAML, fleet_document, to_yaml
from fleethandshake.core.validate_handshake import parse_target
from fleethandshake.core.yaml.reader import parse_documents
from fleetmatch import BundleTarget, CustomizationMode, bundle_deploys, groups_for_cluster, target_matches

CASES_FILE = Path(__file__).resolve().parents[1] / "data" / "fleet" / "target_match_cases.json"
CASE_COUNT = 78
CRITERIA = ("clusterName", "clusterSelector", "clusterGroup", "clusterGroupSelector")
WS = "fleet-default"


def _load_cases() -> list[Any]:
    cases = json.loads(CASES_FILE.read_text())
    return [pytest.param(c, id=f"{c['source']}-{c['cluster_name']}") for c in cases]


CASES = _load_cases()


def _labels(data: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(data.items()))


def _target(data: dict[str, Any]) -> Target:
    """A case's BundleTarget through our validator; helm, doNotDeploy etc. are not criteria."""
    chosen = {k: v for k, v in data.items() if k in (*CRITERIA, "name")}
    target, problems = parse_target(chosen, "target")
    if not any(k in chosen for k in CRITERIA):
        # Fleet accepts a target without criteria and matches nothing with it; our validator
        # refuses it outright. Model it as the empty Target, which the matcher must reject.
        assert [p.message for p in problems] == [
            "has no cluster criteria (clusterName, clusterSelector, clusterGroup or clusterGroupSelector), "
            "so it would match no cluster"
        ]
        return Target(name=chosen.get("name"))
    assert target is not None, [str(p) for p in problems]
    return target


def _bundle_targets(entries: list[dict[str, Any]], customization: bool | None) -> list[BundleTarget]:
    return [BundleTarget(_target(e), bool(e.get("doNotDeploy")), customization) for e in entries]


SINGLE_TARGET_LEVELS = (
    "ClusterMatcher.Match",
    "ScheduleMatch.MatchCluster",
    "customization criteria via BundleMatch.MatchAllTargetCustomizations",
    "BundleMatch.MatchTargetCustomizations (FirstMatch)",
)


def test_all_cases_are_present() -> None:
    assert len(CASES) == CASE_COUNT


@pytest.mark.parametrize("case", CASES)
def test_fleet_case(case: dict[str, Any]) -> None:
    cluster = Cluster(WS, case["cluster_name"], _labels(case["cluster_labels"]))
    groups = [ClusterGroup(WS, g["name"], _labels(g["labels"])) for g in case["cluster_groups"]]
    level: str = case["level"]
    spec: dict[str, Any] = case["target"]
    if level.startswith("Bundle targeting end-to-end"):
        # Bundle.spec.targets = fleet.yaml targetCustomizations, then the GitRepo targets;
        # targetRestrictions as given (the GitRepo targets, or none for a CLI-made bundle).
        assert spec["kind"] == "bundle"
        restrictions = [_target(r) for r in spec["targetRestrictions"]]
        mode = spec.get("targetCustomizationMode", CustomizationMode.FIRST_MATCH)
        # Newer bundles mark customisations (source); older ones leave it to position. Both must agree.
        for source in (True, None):
            targets = _bundle_targets(spec["fleet_yaml_targetCustomizations"], source)
            targets += _bundle_targets(spec["gitrepo_targets"], False if source else None)
            assert bundle_deploys(cluster, groups, targets, restrictions, mode) is case["expected_match"], source
    elif level.startswith(SINGLE_TARGET_LEVELS):
        # Per-target criteria without restrictions. doNotDeploy (case bundlematch_test.go:116)
        # does not change whether criteria match; builder.go acts on it, tested end to end above.
        assert target_matches(_target(spec), cluster, groups) is case["expected_match"]
    else:
        pytest.fail(f"unknown level {level!r}: read it and implement it")


# -- the same semantics, on an inventory ------------------------------------------------------


def test_group_criteria_must_hold_for_the_same_group() -> None:
    cluster = Cluster(WS, "c1", (("env", "prod"),))
    groups = (
        ClusterGroup(WS, "g1", (("tier", "gold"),), LabelSelector()),
        ClusterGroup(WS, "g2", (), LabelSelector()),
    )
    resolver = Resolver(Inventory((cluster,), groups))
    gold = LabelSelector((("tier", "gold"),))
    for target, expected in [
        (Target(cluster_group="g2", cluster_group_selector=gold), False),
        (Target(cluster_group="g1", cluster_group_selector=gold), True),
    ]:
        assert target_matches(target, cluster, groups) is expected
        assert resolver.clusters_for(WS, target) == ({"c1"} if expected else set())


def test_group_selectors_nil_empty_and_ungrouped_clusters() -> None:
    lonely = Cluster(WS, "lonely", (("env", "dev"),))
    member = Cluster(WS, "member", (("env", "prod"),))
    groups = (
        ClusterGroup(WS, "prod", (("tier", "gold"),), LabelSelector((("env", "prod"),))),
        ClusterGroup(WS, "nil", (), None),  # spec.selector null: no members at all
    )
    inv = Inventory((lonely, member), groups)
    resolver = Resolver(inv)
    assert groups_for_cluster(member, groups) == (groups[0],)
    assert groups_for_cluster(lonely, groups) == ()
    # A cluster in no group is tried as group "" with no labels: `{}` and a lone NotIn accept it.
    no_gold = LabelSelector(match_expressions=(Requirement("tier", "NotIn", ("gold",)),))
    for target, expected in [
        (Target(cluster_group_selector=LabelSelector()), {"lonely", "member"}),
        (Target(cluster_group_selector=no_gold), {"lonely"}),
        (Target(cluster_group="nil"), set()),
        (Target(cluster_selector=LabelSelector()), {"lonely", "member"}),
        (Target(cluster_selector=no_gold), {"lonely", "member"}),  # NotIn holds without the key
        (Target(), set()),
    ]:
        brute = {c.name for c in inv.clusters if target_matches(target, c, groups_for_cluster(c, groups))}
        assert brute == expected, target
        assert resolver.clusters_for(WS, target) == expected, target


def test_cluster_name_matches_display_name_and_name_does_not_matter_for_memo() -> None:
    clusters = (Cluster(WS, "c-m-1", ((DISPLAY_NAME_LABEL, "shop"),)), Cluster(WS, "shop", ()))
    resolver = Resolver(Inventory(clusters))
    assert resolver.clusters_for(WS, Target(name="a", cluster_name="shop")) == {"c-m-1", "shop"}
    assert resolver.clusters_for(WS, Target(name="b", cluster_name="shop")) == {"c-m-1", "shop"}
    assert resolver.clusters_for("elsewhere", Target(cluster_name="shop")) == frozenset()


# -- differential property: the index agrees with the reference ------------------------------

KEYS = ("env", "tier", DISPLAY_NAME_LABEL)
VALUES = ("a", "b", "c")
label_maps = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3).map(_labels)
requirements = st.one_of(
    st.builds(
        Requirement,
        st.sampled_from(KEYS),
        st.sampled_from(("In", "NotIn")),
        st.lists(st.sampled_from(VALUES), min_size=1, max_size=2, unique=True).map(tuple),
    ),
    st.builds(Requirement, st.sampled_from(KEYS), st.sampled_from(("Exists", "DoesNotExist"))),
)
selectors = st.builds(LabelSelector, label_maps, st.lists(requirements, max_size=2).map(tuple))
maybe_selectors = st.one_of(st.none(), st.just(LabelSelector()), selectors)
targets = st.builds(
    Target,
    name=st.none(),
    cluster_name=st.one_of(st.none(), st.sampled_from(("c0", "c1", "c7", "a", "b"))),
    cluster_selector=maybe_selectors,
    cluster_group=st.one_of(st.none(), st.sampled_from(("g0", "g1", "g7"))),
    cluster_group_selector=maybe_selectors,
)
WORKSPACES = ("ws-a", "ws-b")


@st.composite
def inventories(draw: st.DrawFn) -> Inventory:
    clusters = draw(
        st.lists(
            st.builds(Cluster, st.sampled_from(WORKSPACES), st.sampled_from([f"c{i}" for i in range(6)]), label_maps),
            max_size=8,
            unique_by=lambda c: (c.workspace, c.name),
        )
    )
    groups = draw(
        st.lists(
            st.builds(
                ClusterGroup,
                st.sampled_from(WORKSPACES),
                st.sampled_from(("g0", "g1", "g2")),
                label_maps,
                maybe_selectors,
            ),
            max_size=4,
            unique_by=lambda g: (g.workspace, g.name),
        )
    )
    return Inventory(tuple(clusters), tuple(groups))


def _brute(inv: Inventory, workspace: str, target: Target) -> set[str]:
    return {c.name for c in inv.clusters_in(workspace) if target_matches(target, c, groups_for_cluster(c, inv.groups))}


@settings(max_examples=100, deadline=None)
@given(inventories(), st.lists(targets, min_size=1, max_size=4))
def test_resolver_equals_reference(inv: Inventory, some: list[Target]) -> None:
    resolver = Resolver(inv)
    for workspace in (*WORKSPACES, "ws-empty"):
        for target in some:
            assert resolver.clusters_for(workspace, target) == _brute(inv, workspace, target), target


@settings(max_examples=100, deadline=None)
@given(inventories(), st.lists(targets, min_size=1, max_size=3))
def test_bundle_clusters_equal_what_fleet_deploys(inv: Inventory, handshake_targets: list[Target]) -> None:
    resolver = Resolver(inv)
    *earlier, override = handshake_targets
    for workspace in WORKSPACES:
        got = resolver.bundle_clusters(workspace, override, earlier)
        for source, mode in ((True, "FirstMatch"), (None, "FirstMatch"), (True, "AllMatches")):
            bundle = [BundleTarget(t, True, source) for t in earlier]
            bundle.append(BundleTarget(override, False, False if source else None))
            expected = {
                c.name
                for c in inv.clusters_in(workspace)
                if bundle_deploys(c, groups_for_cluster(c, inv.groups), bundle, [override], mode)
            }
            assert got == expected, (source, mode)


# -- doNotDeploy targets: rendered, read back as plan reads them, deployed as Fleet deploys -------


@st.composite
def handshake_target_lists(draw: st.DrawFn) -> list[Target]:
    """Targets as the validator lets them through: criteria, distinct, and at least one deploys."""
    with_criteria = targets.filter(has_criteria)
    chosen = draw(st.lists(with_criteria, min_size=1, max_size=4, unique_by=lambda t: t.key))
    flags = draw(st.lists(st.booleans(), min_size=len(chosen), max_size=len(chosen)))
    out = [replace(t, do_not_deploy=flag) for t, flag in zip(chosen, flags, strict=True)]
    return out if not all(flags) else [*out, replace(chosen[0], name="deploys", do_not_deploy=False)]


def _parsed(entry: dict[str, Any]) -> Target:
    target, problems = parse_target({k: v for k, v in entry.items() if k != "doNotDeploy"}, "target")
    assert target is not None and problems == [], problems
    return target


@settings(max_examples=150, deadline=None)
@given(inventories(), handshake_target_lists())
def test_do_not_deploy_targets_exclude_their_clusters_from_later_targets(
    inv: Inventory, handshake_targets: list[Target]
) -> None:
    """Per cluster, the handshake's first matching target decides, as in the original operator's
    single Bundle: a doNotDeploy target delivers nothing and no later target may deliver there.
    Checked three ways on the fleet.yaml files fleet-handshake writes: as `plan` reads them
    (bundleview, then the resolver), as Fleet deploys them (bundle_deploys), and against that
    single Bundle."""
    resolver = Resolver(inv)
    for workspace in WORKSPACES:
        hs = Handshake(workspace, "hs", "s", "default", "apps", tuple(handshake_targets), "hs.yaml", 0)
        made = bundles_for(hs, "plain")
        assert [b.target for b in made] == [t for t in handshake_targets if not t.do_not_deploy]
        tree = {f"{b.path}/{FLEET_YAML}": to_yaml(fleet_document(hs, b)).encode() for b in made}
        views = read_views(tree)
        reached: dict[str, set[str]] = {}
        for bundle in made:
            doc = fleet_document(hs, bundle)
            view = views[bundle.path]
            planned = resolver.bundle_clusters(workspace, _parsed(view.target), [_parsed(t) for t in view.earlier])
            custom = [BundleTarget(_parsed(t), t["doNotDeploy"], True) for t in doc.get("targetCustomizations", [])]
            fleet_targets = [*custom, BundleTarget(_parsed(doc["overrideTargets"][0]), False, False)]
            restrictions = [_parsed(doc["overrideTargets"][0])]
            deployed = {
                c.name
                for c in inv.clusters_in(workspace)
                if bundle_deploys(c, groups_for_cluster(c, inv.groups), fleet_targets, restrictions)
            }
            assert planned == deployed
            reached[bundle.name] = set(planned)
        # The original operator: one Bundle whose targets are the handshake's, first match wins.
        single = [BundleTarget(t, t.do_not_deploy, False) for t in handshake_targets]
        for c in inv.clusters_in(workspace):
            groups = groups_for_cluster(c, inv.groups)
            first = next((t for t in handshake_targets if target_matches(t, c, groups)), None)
            getting = {name for name, clusters in reached.items() if c.name in clusters}
            if first is None or first.do_not_deploy:
                assert getting == set(), c
                assert not bundle_deploys(c, groups, single, [])
            else:
                assert getting == {made[[b.target for b in made].index(first)].name}, c
                assert bundle_deploys(c, groups, single, [])


# -- inventory parsing ---------------------------------------------------------------------

KUBECTL_LIST = """\
apiVersion: v1
kind: List
metadata:
  resourceVersion: ""
items:
- apiVersion: fleet.cattle.io/v1alpha1
  kind: Cluster
  metadata:
    name: c-m-1
    namespace: fleet-default
    labels:
      env: prod
      management.cattle.io/cluster-display-name: shop
  spec:
    kubeConfigSecret: c-m-1-kubeconfig
  status:
    namespace: cluster-fleet-default-c-m-1
- apiVersion: fleet.cattle.io/v1alpha1
  kind: Cluster
  metadata:
    name: local
    namespace: fleet-local
- apiVersion: management.cattle.io/v3
  kind: Cluster
  metadata:
    name: c-m-1
- apiVersion: fleet.cattle.io/v1alpha1
  kind: ClusterGroup
  metadata:
    name: prod
    namespace: fleet-default
    labels:
      tier: gold
  spec:
    selector:
      matchLabels:
        env: prod
- apiVersion: fleet.cattle.io/v1alpha1
  kind: ClusterGroup
  metadata:
    name: nobody
    namespace: fleet-default
  spec:
    selector: null
"""


def test_kubectl_list() -> None:
    inv, problems = parse_inventory(parse_documents(KUBECTL_LIST), "inventory.yaml")
    assert problems == []
    assert inv.clusters == (
        Cluster("fleet-default", "c-m-1", (("env", "prod"), (DISPLAY_NAME_LABEL, "shop"))),
        Cluster("fleet-local", "local"),
    )
    assert inv.groups == (
        ClusterGroup("fleet-default", "nobody"),
        ClusterGroup("fleet-default", "prod", (("tier", "gold"),), LabelSelector((("env", "prod"),))),
    )
    assert inv.workspaces == ("fleet-default", "fleet-local")
    assert Resolver(inv).clusters_for("fleet-default", Target(cluster_group="prod")) == {"c-m-1"}


def test_multi_document_stream_with_a_list_inside() -> None:
    text = (
        "apiVersion: fleet.cattle.io/v1alpha1\nkind: Cluster\nmetadata: {name: a, namespace: ws}\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: unrelated, namespace: ws}\n"
        "---\napiVersion: fleet.cattle.io/v1alpha1\nkind: ClusterList\n"
        "items:\n- metadata: {name: b, namespace: ws, labels: {env: dev}}\n"
        "---\napiVersion: fleet.cattle.io/v1alpha1\nkind: ClusterGroup\n"
        "metadata: {name: all, namespace: ws}\nspec: {selector: {}}\n"
    )
    inv, problems = parse_inventory(parse_documents(text))
    assert problems == []
    assert [c.name for c in inv.clusters] == ["a", "b"]
    assert Resolver(inv).clusters_for("ws", Target(cluster_group="all")) == {"a", "b"}


def test_workspaces_are_isolated() -> None:
    docs = [
        {"apiVersion": "fleet.cattle.io/v1alpha1", "kind": "Cluster", "metadata": {"name": "x", "namespace": ns}}
        for ns in ("ws-a", "ws-b")
    ]
    docs.append(
        {
            "apiVersion": "fleet.cattle.io/v1alpha1",
            "kind": "ClusterGroup",
            "metadata": {"name": "all", "namespace": "ws-a"},
            "spec": {"selector": {}},
        }
    )
    inv, problems = parse_inventory(docs)
    assert problems == []
    resolver = Resolver(inv)
    assert resolver.clusters_for("ws-a", Target(cluster_group="all")) == {"x"}
    assert resolver.clusters_for("ws-b", Target(cluster_group="all")) == frozenset()
    assert groups_for_cluster(inv.clusters_in("ws-b")[0], inv.groups) == ()


def test_problems_carry_paths_and_lines() -> None:
    text = """\
apiVersion: v1
kind: List
items:
- apiVersion: fleet.cattle.io/v1alpha1
  kind: Cluster
  metadata:
    namespace: ws
- apiVersion: fleet.cattle.io/v1alpha1
  kind: Cluster
  metadata:
    name: no-workspace
    labels: {env: 3}
- apiVersion: fleet.cattle.io/v1alpha1
  kind: Cluster
  metadata: {name: fine, namespace: ws}
- apiVersion: fleet.cattle.io/v1alpha1
  kind: ClusterGroup
  metadata: {name: bad, namespace: ws}
  spec:
    selector:
      matchExpressions:
      - {key: env, operator: Maybe}
- apiVersion: fleet.cattle.io/v1alpha1
  kind: Cluster
  metadata: {name: fine, namespace: ws}
- apiVersion: fleet.cattle.io/v1beta1
  kind: Cluster
  metadata: {name: future, namespace: ws}
- just a string
"""
    inv, problems = parse_inventory(parse_documents(text), "inv.yaml")
    found = {(p.path, p.line) for p in problems}
    assert found == {
        ("items[0].metadata.name", 7),  # a missing key takes the line of its parent's content
        ("items[1].metadata.namespace", 11),
        ("items[1].metadata.labels.env", 12),
        ("items[3].spec.selector.matchExpressions[0].operator", 22),
        ("items[4].metadata", 25),
        ("items[5].apiVersion", 26),
        ("items[6]", 29),
    }
    assert all(p.file == "inv.yaml" and p.document == 0 for p in problems)
    dup = next(p for p in problems if p.path == "items[4].metadata")
    assert dup.message == "Cluster ws/fine is also defined at document 0 items[2]"
    assert [c.name for c in inv.clusters] == ["fine"]
    assert inv.groups == ()


def test_not_a_mapping_and_bad_items() -> None:
    inv, problems = parse_inventory([["a"], {"apiVersion": "v1", "kind": "List", "items": {"a": 1}}])
    assert [(p.document, p.path) for p in problems] == [(0, ""), (1, "items")]
    assert inv == Inventory()
