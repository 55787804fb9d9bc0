"""Which clusters a Fleet target selects, with Fleet's own semantics, by an index of the inventory.

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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType

from .inventory import Cluster, ClusterGroup, Inventory
from .models import LabelSelector, Requirement, Target

DISPLAY_NAME_LABEL = "management.cattle.io/cluster-display-name"
_NO_LABELS: Mapping[str, str] = MappingProxyType({})
_EMPTY: frozenset[str] = frozenset()


def requirement_matches(requirement: Requirement, labels: Mapping[str, str]) -> bool:
    key, values = requirement.key, requirement.values
    if requirement.operator == "In":
        return key in labels and labels[key] in values
    if requirement.operator == "NotIn":
        return key not in labels or labels[key] not in values
    if requirement.operator == "Exists":
        return key in labels
    return key not in labels  # DoesNotExist: validation (_OPERATORS) lets no other operator through


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


class Resolver:
    """Target matching for many targets over a large inventory, by set algebra on an index.

    Per workspace, built once: a label index, each group's members (its selector evaluated once)
    and the clusters in no group. Each distinct target is resolved once and memoised; no target
    is resolved by testing every cluster. Property tests check it against the per-cluster
    reference matcher of tests/fleetmatch.py, which Fleet's own test cases check.
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
            else:  # Exists, DoesNotExist
                hit = self.by_key.get(r.key, _EMPTY)
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
