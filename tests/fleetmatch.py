"""Fleet's matcher per cluster, the reference that the indexed Resolver (core/matching.py) is
checked against; Fleet's own test cases (tests/data/fleet/target_match_cases.json) check it.

Read from Fleet's source (rancher/fleet, the v0.16 line): the functions cited in
core/matching.py's docstring, and target/builder.go (Manager.Targets) for `bundle_deploys`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from fleethandshake.core.inventory import Cluster, ClusterGroup
from fleethandshake.core.matching import DISPLAY_NAME_LABEL, has_criteria, selector_matches
from fleethandshake.core.models import Target

_NO_LABELS: Mapping[str, str] = {}


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
