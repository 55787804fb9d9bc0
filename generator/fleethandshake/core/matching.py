"""Which clusters a Fleet target selects, with Fleet's own semantics: per cluster, and indexed.

Read from Fleet's source (rancher/fleet, the v0.16 line) and written anew here:

- internal/cmd/controller/target/matcher/clustermatcher.go (NewClusterMatcher, Match): the criteria
  a target gives are ANDed; a target that gives none matches nothing; `clusterName` matches the
  Cluster's name or its `management.cattle.io/cluster-display-name` label.
- matcher/bundlematch.go (match, isRestricted, criteriaWithRestrictions, matchCustomization,
  MatchAllTargetCustomizations, determineIsCustomization): a target is tried against each of the
  cluster's groups in turn, so `clusterGroup`, `clusterGroupSelector` and the restriction must all
  hold for the SAME group; a cluster in no group is tried once with group "" and no group labels.
- target/builder.go (Manager.Targets): the first GitRepo target that matches decides, then
  `doNotDeploy` on it or on the customisations (FirstMatch: the first matching one; AllMatches:
  any matching one) skips the cluster.
- target/target.go (clusterGroupsForCluster): a group's members are the clusters of its
  workspace its `spec.selector` matches; a nil selector has none, `{}` has all.
- k8s.io/apimachinery metav1.LabelSelectorAsSelector: a nil selector selects nothing, an empty
  one everything; NotIn and DoesNotExist hold where the key is absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType

from .inventory import Cluster, ClusterGroup, Inventory
from .models import LabelSelector, Requirement, Target

DISPLAY_NAME_LABEL = "management.cattle.io/cluster-display-name"
_NO_LABELS: Mapping[str, str] = MappingProxyType({})
_EMPTY: frozenset[str] = frozenset()


class CustomizationMode(StrEnum):
    """Bundle.spec.targetCustomizationMode; anything but AllMatches behaves as FirstMatch."""

    FIRST_MATCH = "FirstMatch"
    ALL_MATCHES = "AllMatches"


@dataclass(frozen=True)
class BundleTarget:
    """An entry of Bundle.spec.targets, reduced to what decides whether it deploys.

    `customization` is Fleet's `source == "customization"` (the entry came from fleet.yaml
    `targetCustomizations`); None means the field is unset, as in bundles older than it, and the
    position decides (bundlematch.go determineIsCustomization).
    """

    target: Target
    do_not_deploy: bool = False
    customization: bool | None = None


def requirement_matches(requirement: Requirement, labels: Mapping[str, str]) -> bool:
    key, values = requirement.key, requirement.values
    if requirement.operator == "In":
        return key in labels and labels[key] in values
    if requirement.operator == "NotIn":
        return key not in labels or labels[key] not in values
    if requirement.operator == "Exists":
        return key in labels
    if requirement.operator == "DoesNotExist":
        return key not in labels
    raise ValueError(f"unknown label selector operator {requirement.operator!r}")


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes semantics: None (nil) matches nothing, an empty selector everything."""
    if selector is None:
        return False
    return all(labels.get(k) == v for k, v in selector.match_labels) and all(
        requirement_matches(r, labels) for r in selector.match_expressions
    )


def has_criteria(target: Target) -> bool:
    # Empty strings count as unset, as in Go, where "" is the zero value.
    return bool(target.cluster_name or target.cluster_group) or (
        target.cluster_selector is not None or target.cluster_group_selector is not None
    )


def _criteria_hold(target: Target, cluster: Cluster, group_name: str, group_labels: Mapping[str, str]) -> bool:
    """clustermatcher.go Match, for one (cluster, group) pair."""
    if not has_criteria(target):
        return False
    if target.cluster_name and target.cluster_name not in (
        cluster.name,
        cluster.label_map.get(DISPLAY_NAME_LABEL),
    ):
        return False
    if target.cluster_group and target.cluster_group != group_name:
        return False
    if target.cluster_group_selector is not None and not selector_matches(target.cluster_group_selector, group_labels):
        return False
    return target.cluster_selector is None or selector_matches(target.cluster_selector, cluster.label_map)


def _for_some_group(groups: Sequence[ClusterGroup], test: Callable[[str, Mapping[str, str]], bool]) -> bool:
    # bundlematch.go match(): with no groups the cluster is tried once as group "" without labels,
    # so a clusterGroupSelector of {} (or only NotIn/DoesNotExist) matches an ungrouped cluster.
    if not groups:
        return test("", _NO_LABELS)
    return any(test(g.name, g.label_map) for g in groups)


def groups_for_cluster(cluster: Cluster, groups: Iterable[ClusterGroup]) -> tuple[ClusterGroup, ...]:
    """target.go clusterGroupsForCluster: groups of the cluster's workspace that select it."""
    return tuple(
        g for g in groups if g.workspace == cluster.workspace and selector_matches(g.selector, cluster.label_map)
    )


def target_matches(target: Target, cluster: Cluster, groups_of_cluster: Iterable[ClusterGroup]) -> bool:
    """Whether one target selects `cluster`, given the groups it belongs to (the reference)."""
    return _for_some_group(tuple(groups_of_cluster), lambda g, gl: _criteria_hold(target, cluster, g, gl))


def _customization_flags(targets: Sequence[BundleTarget], restrictions: int) -> list[bool]:
    # determineIsCustomization: bundlereader puts targetCustomizations before the GitRepo targets,
    # which it also copies into targetRestrictions; no restrictions means no GitRepo made the bundle.
    customizations = len(targets) - restrictions
    return [
        bt.customization if bt.customization is not None else (restrictions > 0 and i < customizations)
        for i, bt in enumerate(targets)
    ]


def bundle_deploys(
    cluster: Cluster,
    groups: Iterable[ClusterGroup],
    targets: Sequence[BundleTarget],
    restrictions: Sequence[Target],
    mode: str = CustomizationMode.FIRST_MATCH,
) -> bool:
    """Whether Fleet creates a BundleDeployment of the bundle for `cluster` (builder.go Targets).

    `groups` are the cluster's groups (groups_for_cluster); `targets` is Bundle.spec.targets
    (fleet.yaml targetCustomizations first, then the GitRepo targets or the fleet.yaml
    overrideTargets); `restrictions` is spec.targetRestrictions (those GitRepo targets or
    overrideTargets again: bundlereader/read.go); `mode` is spec.targetCustomizationMode.
    """
    groups = tuple(groups)
    flags = _customization_flags(targets, len(restrictions))

    def selects(target: Target) -> bool:
        # criteriaWithRestrictions/isRestricted: a restriction must hold for the same group.
        def test(group: str, group_labels: Mapping[str, str]) -> bool:
            return _criteria_hold(target, cluster, group, group_labels) and (
                not restrictions or any(_criteria_hold(r, cluster, group, group_labels) for r in restrictions)
            )

        return _for_some_group(groups, test)

    # Match(): the first GitRepo target (never a customisation) that selects the cluster.
    chosen = next((bt for bt, custom in zip(targets, flags, strict=True) if not custom and selects(bt.target)), None)
    if chosen is None or chosen.do_not_deploy:
        return False
    matched = [
        bt for bt, custom in zip(targets, flags, strict=True) if custom and target_matches(bt.target, cluster, groups)
    ]
    if mode == CustomizationMode.ALL_MATCHES:
        return not any(bt.do_not_deploy for bt in matched)
    return not (matched and matched[0].do_not_deploy)


class Resolver:
    """Target matching for many targets over a large inventory, by set algebra on an index.

    Per workspace, built once: a label index, each group's members (its selector evaluated once)
    and the clusters in no group. Each distinct target is resolved once and memoised; no target
    is resolved by testing every cluster. Agrees with `target_matches` (a property test checks).
    """

    def __init__(self, inventory: Inventory) -> None:
        self._index = {
            ws: _WorkspaceIndex(inventory.clusters_in(ws), inventory.groups_in(ws)) for ws in inventory.workspaces
        }
        self._memo: dict[tuple[str, Target], frozenset[str]] = {}

    def clusters_for(self, workspace: str, target: Target) -> frozenset[str]:
        """Names of the clusters of `workspace` that `target` selects (Fleet matches only there)."""
        # The name chooses nothing: dropping it lets equal criteria share one memo entry.
        key = (workspace, replace(target, name=None))
        found = self._memo.get(key)
        if found is None:
            index = self._index.get(workspace)
            found = index.resolve(key[1]) if index is not None else _EMPTY
            self._memo[key] = found
        return found

    def bundle_clusters(
        self, workspace: str, override_target: Target, earlier_targets: Iterable[Target]
    ) -> frozenset[str]:
        """The clusters a generated bundle deploys to (render.py fleet_document).

        Its fleet.yaml has `overrideTargets: [target k]`, so k is the only GitRepo-level target
        and the only restriction, and every earlier target as a targetCustomization with
        doNotDeploy: under FirstMatch the first matching customisation decides, and they all
        skip, so a cluster any earlier target selects gets nothing from this bundle.
        """
        chosen = self.clusters_for(workspace, override_target)
        for target in earlier_targets:
            if not chosen:
                break
            chosen = chosen - self.clusters_for(workspace, target)
        return chosen

    def groups_of(self, workspace: str, cluster: str) -> frozenset[str]:
        index = self._index.get(workspace)
        return index.groups_of(cluster) if index is not None else _EMPTY


class _WorkspaceIndex:
    def __init__(self, clusters: Sequence[Cluster], groups: Sequence[ClusterGroup]) -> None:
        self.all = frozenset(c.name for c in clusters)
        values: dict[str, dict[str, set[str]]] = {}
        for c in clusters:
            for key, value in c.labels:
                values.setdefault(key, {}).setdefault(value, set()).add(c.name)
        self.by_value = {k: {v: frozenset(names) for v, names in vs.items()} for k, vs in values.items()}
        self.by_key = {k: _EMPTY.union(*vs.values()) for k, vs in self.by_value.items()}
        # clusterName also matches the display-name label (clustermatcher.go).
        self.by_display_name = self.by_value.get(DISPLAY_NAME_LABEL, {})
        self.groups = {g.name: g for g in groups}
        self.members = {g.name: self.select(g.selector) for g in groups}
        self.ungrouped = self.all - _EMPTY.union(*self.members.values())

    def equal(self, key: str, value: str) -> frozenset[str]:
        return self.by_value.get(key, {}).get(value, _EMPTY)

    def select(self, selector: LabelSelector | None) -> frozenset[str]:
        if selector is None:
            return _EMPTY
        include = [self.equal(k, v) for k, v in selector.match_labels]
        exclude: list[frozenset[str]] = []
        for r in selector.match_expressions:
            if r.operator in ("In", "NotIn"):
                hit = _EMPTY.union(*(self.equal(r.key, v) for v in r.values))
            elif r.operator in ("Exists", "DoesNotExist"):
                hit = self.by_key.get(r.key, _EMPTY)
            else:
                raise ValueError(f"unknown label selector operator {r.operator!r}")
            # NotIn and DoesNotExist also hold where the key is absent: subtract what fails them.
            (include if r.operator in ("In", "Exists") else exclude).append(hit)
        include.sort(key=len)
        result = include[0].intersection(*include[1:]) if include else self.all
        for hit in exclude:
            result = result - hit
        return result

    def resolve(self, target: Target) -> frozenset[str]:
        if not has_criteria(target):
            return _EMPTY
        parts: list[frozenset[str]] = []
        if target.cluster_name:
            by_name = frozenset({target.cluster_name}) & self.all
            parts.append(by_name | self.by_display_name.get(target.cluster_name, _EMPTY))
        if target.cluster_selector is not None:
            parts.append(self.select(target.cluster_selector))
        if target.cluster_group or target.cluster_group_selector is not None:
            parts.append(self.group_part(target.cluster_group, target.cluster_group_selector))
        parts.sort(key=len)
        return parts[0].intersection(*parts[1:])

    def group_part(self, name: str | None, selector: LabelSelector | None) -> frozenset[str]:
        """Clusters in some group that has this name and matches this selector (the same group)."""
        if name:
            group = self.groups.get(name)
            candidates = [group] if group is not None else []
        else:
            candidates = list(self.groups.values())
        result = _EMPTY.union(
            *(self.members[g.name] for g in candidates if selector is None or selector_matches(selector, g.label_map))
        )
        # An ungrouped cluster is tried as group "" with no labels (bundlematch.go match()).
        if not name and selector_matches(selector, _NO_LABELS):
            result = result | self.ungrouped
        return result

    def groups_of(self, cluster: str) -> frozenset[str]:
        return frozenset(name for name, members in self.members.items() if cluster in members)
