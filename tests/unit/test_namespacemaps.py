"""BundleNamespaceMappings in the inventory, and whether one may select a generated bundle."""

from __future__ import annotations

from fleethandshake.core.inventory import parse_inventory
from fleethandshake.core.models import LABEL_HANDSHAKE, LABEL_MANAGED_BY, LabelSelector, Requirement
from fleethandshake.core.namespacemaps import may_select

KNOWN = {LABEL_MANAGED_BY: "fleet-handshake", LABEL_HANDSHAKE: "db"}


def selector(labels: dict[str, str] | None = None, *requirements: Requirement) -> LabelSelector:
    return LabelSelector(tuple(sorted((labels or {}).items())), tuple(requirements))


def test_nil_selects_nothing_and_empty_selects_everything() -> None:
    assert not may_select(None, KNOWN)
    assert may_select(selector(), KNOWN)


def test_known_labels_decide_and_unknown_ones_may_hold() -> None:
    assert may_select(selector({LABEL_HANDSHAKE: "db"}), KNOWN)
    assert not may_select(selector({LABEL_HANDSHAKE: "other"}), KNOWN)
    assert not may_select(selector(None, Requirement(LABEL_HANDSHAKE, "DoesNotExist")), KNOWN)
    assert not may_select(selector(None, Requirement(LABEL_HANDSHAKE, "NotIn", ("db",))), KNOWN)
    # A label the GitRepo or Fleet adds is not known to the plan: either way is possible.
    assert may_select(selector({"fleet.cattle.io/repo-name": "apps"}), KNOWN)
    assert may_select(selector(None, Requirement("team", "DoesNotExist")), KNOWN)
    assert not may_select(selector({"fleet.cattle.io/repo-name": "apps", LABEL_HANDSHAKE: "x"}), KNOWN)


def test_the_inventory_reads_mappings_and_namespaces_as_kubectl_lists_them() -> None:
    documents = [
        {"apiVersion": "fleet.cattle.io/v1alpha1", "kind": "BundleNamespaceMappingList", "items": [
            {"metadata": {"name": "share", "namespace": "fleet-default"},
             "bundleSelector": {}, "namespaceSelector": {"matchLabels": {"share": "yes"}}},
            {"metadata": {"name": "nil", "namespace": "fleet-default"}, "bundleSelector": None},
        ]},
        {"apiVersion": "v1", "kind": "NamespaceList", "items": [  # as the API server lists them: no kind
            {"metadata": {"name": "team-b", "labels": {"share": "yes"}}},
        ]},
    ]  # fmt: skip
    inv, problems = parse_inventory(documents)
    assert problems == []
    share, nil = sorted(inv.mappings, key=lambda m: m.name, reverse=True)
    assert (share.workspace, share.bundle_selector, share.namespace_selector) == (
        "fleet-default",
        selector(),
        selector({"share": "yes"}),
    )
    assert (nil.bundle_selector, nil.namespace_selector) == (None, None)
    assert [(n.name, n.labels) for n in inv.namespaces] == [("team-b", (("share", "yes"),))]


def test_a_mapping_with_an_invalid_selector_is_a_problem_with_its_path() -> None:
    near = {"matchExpressions": [{"key": "a", "operator": "Near"}]}
    bad = {"apiVersion": "fleet.cattle.io/v1alpha1", "kind": "BundleNamespaceMapping",
           "metadata": {"name": "bad", "namespace": "fleet-default"},
           "bundleSelector": near, "namespaceSelector": {}}  # fmt: skip
    inv, problems = parse_inventory([bad], "inv.yaml")
    assert inv.mappings == ()
    assert [p.path for p in problems] == ["bundleSelector.matchExpressions[0].operator"]
