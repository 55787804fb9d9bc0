"""Bundles that a BundleNamespaceMapping may carry out of their workspace: a plan conflict.

Fleet deploys a bundle to the matching clusters of its own namespace and of every namespace that a
BundleNamespaceMapping in that namespace opens to it. The mapping's `bundleSelector` must match
the Bundle's labels, its `namespaceSelector` the other Namespace's labels, and either selector nil
maps nothing (rancher/fleet internal/cmd/controller/target/builder.go getNamespacesForBundle,
mapping.go). The clusters there are matched against the bundle's targets with the groups of
their own namespace, as in the bundle's workspace.

What a plan knows of a Bundle's labels is what its fleet.yaml sets: fleet-handshake's owner
labels, which win over the rest (bundlereader/read.go). Fleet also gives the Bundle the GitRepo's
own labels and `fleet.cattle.io/repo-name` (gitops/reconciler/gitjob.go argsAndEnvs), which the
plan cannot know, so a selector MAY match when every requirement on a key the fleet.yaml sets
holds: any other key could hold either way. A namespace that the inventory holds clusters of but
no Namespace object for has unknown labels: it may be selected too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .bundleview import BundleView
from .conflicts import Conflict, Resolve, labelled
from .inventory import Inventory, NamespaceMapping
from .matching import requirement_matches, selector_matches
from .models import LABEL_HANDSHAKE, LabelSelector

KIND = "mapped-delivery"
_SHOWN = 10  # cluster names in one conflict's message; the rest are counted


def may_select(selector: LabelSelector | None, known: Mapping[str, str]) -> bool:
    """Whether `selector` may match a Bundle whose labels include `known` and may include others."""
    if selector is None:
        return False
    if any(key in known and known[key] != value for key, value in selector.match_labels):
        return False
    return all(r.key not in known or requirement_matches(r, known) for r in selector.match_expressions)


def mapped_deliveries(
    views: Iterable[BundleView], inventory: Inventory, resolve: Resolve, display: Mapping[tuple[str, str], str]
) -> list[Conflict]:
    """One conflict per mapping and handshake whose bundles it may deliver to clusters of other
    namespaces, naming those clusters."""
    by_workspace: dict[str, list[NamespaceMapping]] = {}
    for mapping in inventory.mappings:
        by_workspace.setdefault(mapping.workspace, []).append(mapping)
    if not by_workspace:
        return []
    labels = {ns.name: ns.label_map for ns in inventory.namespaces}
    with_clusters = sorted({c.workspace for c in inventory.clusters})
    reached: dict[tuple[str, str, str, str], set[tuple[str, str]]] = {}  # (ws, mapping, handshake, secret) -> clusters
    unknown: dict[tuple[str, str, str, str], set[str]] = {}  # ... -> namespaces whose labels are not known
    for view in views:
        known = dict(view.bundle_labels)
        for mapping in by_workspace.get(view.workspace, ()):
            if mapping.namespace_selector is None or not may_select(mapping.bundle_selector, known):
                continue
            key = (view.workspace, mapping.name, view.handshake, f"{view.target_namespace}/{view.secret_name}")
            for namespace in with_clusters:
                ns_labels = labels.get(namespace)
                if namespace == view.workspace or (
                    ns_labels is not None and not selector_matches(mapping.namespace_selector, ns_labels)
                ):
                    continue
                clusters = resolve(namespace, view.target, view.earlier)
                if clusters:
                    reached.setdefault(key, set()).update((namespace, c) for c in clusters)
                    if ns_labels is None:
                        unknown.setdefault(key, set()).add(namespace)
    return [_conflict(key, clusters, unknown.get(key, set()), display) for key, clusters in sorted(reached.items())]


def _conflict(
    key: tuple[str, str, str, str],
    clusters: set[tuple[str, str]],
    unknown: set[str],
    display: Mapping[tuple[str, str], str],
) -> Conflict:
    workspace, mapping, handshake, secret = key
    ordered = sorted(clusters)
    names = [f"{ns}/{labelled(c, display.get((ns, c)))}" for ns, c in ordered[:_SHOWN]]
    more = f" and {len(ordered) - _SHOWN} more" if len(ordered) > _SHOWN else ""
    namespaces = sorted({ns for ns, _ in ordered})
    message = (
        f"BundleNamespaceMapping {workspace}/{mapping} may also deploy the bundles of handshake"
        f" {workspace}/{handshake} outside workspace {workspace}: Fleet would deliver Secret {secret} to"
        f" {len(ordered)} cluster(s) of namespace(s) {', '.join(namespaces)}: {', '.join(names)}{more}."
        f" Exclude fleet-handshake's bundles from the mapping's bundleSelector (matchExpressions:"
        f" [{{key: {LABEL_HANDSHAKE}, operator: DoesNotExist}}]) or narrow its namespaceSelector"
    )
    if unknown:
        message += (
            f"; the inventory has no Namespace object for {', '.join(sorted(unknown))}, so their labels are"
            " not known: export `namespaces` with the inventory"
        )
    return Conflict(KIND, workspace, None, (handshake,), message)
