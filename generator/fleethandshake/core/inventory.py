"""The Fleet inventory: the Clusters and ClusterGroups of each workspace on the management cluster,
and the BundleNamespaceMappings and Namespaces that let a workspace's bundles reach clusters of
other namespaces.

Parsed from what `kubectl get INVENTORY_KINDS -A -o yaml` prints (one `kind: List` document), from
a multi-document stream of such objects, or from a mix of both. Pure: documents come in already
parsed. Field names follow Fleet's CRDs: the workspace is `metadata.namespace`, a group's members
are chosen by `spec.selector`, a mapping's selectors sit at its top level (`bundleSelector`,
`namespaceSelector`: pkg/apis/fleet.cattle.io/v1alpha1/bundlenamespacemapping_types.go).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from ..errors import Problem
from . import names
from .models import LabelSelector
from .validate_handshake import parse_selector
from .yaml.reader import Document, join

FLEET_API_VERSION = "fleet.cattle.io/v1alpha1"
CLUSTER = "Cluster"
CLUSTER_GROUP = "ClusterGroup"
MAPPING = "BundleNamespaceMapping"
NAMESPACE = "Namespace"
# The resources to export, as `kubectl get` names them (README, --help and error messages).
INVENTORY_KINDS = (
    "clusters.fleet.cattle.io,clustergroups.fleet.cattle.io,bundlenamespacemappings.fleet.cattle.io,namespaces"
)
EXPORT_COMMAND = f"kubectl get {INVENTORY_KINDS} -A -o yaml"
# Typed lists (what the API server returns) may leave apiVersion and kind off their items.
_TYPED_LISTS = {"ClusterList": CLUSTER, "ClusterGroupList": CLUSTER_GROUP, "BundleNamespaceMappingList": MAPPING}

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Labelled:
    workspace: str
    name: str
    labels: Labels = ()

    @cached_property
    def label_map(self) -> Mapping[str, str]:
        return MappingProxyType(dict(self.labels))


@dataclass(frozen=True)
class Cluster(_Labelled):
    """A Fleet Cluster: what target matching looks at."""


@dataclass(frozen=True)
class ClusterGroup(_Labelled):
    """A Fleet ClusterGroup. Its own labels are what `clusterGroupSelector` matches; `selector`
    (spec.selector) chooses its member clusters. None is Go's nil: the group has no members."""

    selector: LabelSelector | None = None


@dataclass(frozen=True)
class NamespaceMapping:
    """A Fleet BundleNamespaceMapping: the bundles of its namespace (`workspace`) that
    `bundle_selector` selects may also deploy to the clusters of every namespace that
    `namespace_selector` selects (target/builder.go getNamespacesForBundle). None is Go's nil: a
    mapping with either selector nil maps nothing (target/mapping.go newBundleMapping)."""

    workspace: str
    name: str
    bundle_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None


@dataclass(frozen=True)
class Namespace:
    """A Namespace of the management cluster: its labels are what a mapping's namespaceSelector
    matches."""

    name: str
    labels: Labels = ()

    @cached_property
    def label_map(self) -> Mapping[str, str]:
        return MappingProxyType(dict(self.labels))


@dataclass(frozen=True)
class Inventory:
    clusters: tuple[Cluster, ...] = ()
    groups: tuple[ClusterGroup, ...] = ()
    mappings: tuple[NamespaceMapping, ...] = ()
    namespaces: tuple[Namespace, ...] = ()

    @property
    def workspaces(self) -> tuple[str, ...]:
        return tuple(sorted({c.workspace for c in self.clusters} | {g.workspace for g in self.groups}))

    def clusters_in(self, workspace: str) -> tuple[Cluster, ...]:
        return tuple(c for c in self.clusters if c.workspace == workspace)

    def groups_in(self, workspace: str) -> tuple[ClusterGroup, ...]:
        return tuple(g for g in self.groups if g.workspace == workspace)


def parse_inventory(documents: Iterable[Document | Any], file: str = "<inventory>") -> tuple[Inventory, list[Problem]]:
    """Collect every Cluster and ClusterGroup; report every problem with its YAML path.

    `documents` are what `reader.parse_documents` returns (their line numbers end up in the
    problems) or plain parsed objects. Objects of other kinds, Rancher's own `Cluster` kinds
    (provisioning.cattle.io, management.cattle.io) among them, are ignored. Objects with
    problems are left out of the inventory.
    """
    reader = _Reader(file)
    for index, doc in enumerate(documents):
        reader.document(doc if isinstance(doc, Document) else Document(index=index, data=doc))
    clusters = sorted(reader.clusters.values(), key=lambda c: (c.workspace, c.name))
    groups = sorted(reader.groups.values(), key=lambda g: (g.workspace, g.name))
    mappings = sorted(reader.mappings.values(), key=lambda m: (m.workspace, m.name))
    namespaces = sorted(reader.namespaces.values(), key=lambda n: n.name)
    return Inventory(tuple(clusters), tuple(groups), tuple(mappings), tuple(namespaces)), reader.problems


@dataclass
class _Reader:
    file: str
    problems: list[Problem] = field(default_factory=list)
    clusters: dict[tuple[str, str], Cluster] = field(default_factory=dict)
    groups: dict[tuple[str, str], ClusterGroup] = field(default_factory=dict)
    mappings: dict[tuple[str, str], NamespaceMapping] = field(default_factory=dict)
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    # Where each object was first seen, to name it when it comes again.
    seen: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def add(self, doc: Document, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, doc.index, path, message, doc.line(path)))

    def document(self, doc: Document) -> None:
        if not isinstance(doc.data, dict):
            self.add(doc, "", f"must be a Kubernetes object (a mapping), not {type(doc.data).__name__}")
            return
        self.item(doc, doc.data, "", None)

    def item(self, doc: Document, data: dict[str, Any], path: str, item_kind: str | None) -> None:
        kind = data.get("kind", item_kind)
        if not isinstance(kind, str):
            return
        # An item of a typed list may leave apiVersion off: its list's.
        api = data.get("apiVersion", ("v1" if item_kind == NAMESPACE else FLEET_API_VERSION) if item_kind else None)
        if kind == "List" or (kind in _TYPED_LISTS and api == FLEET_API_VERSION):
            self.items(doc, data.get("items"), join(path, "items"), _TYPED_LISTS.get(kind))
        elif kind == "NamespaceList" and api == "v1":
            self.items(doc, data.get("items"), join(path, "items"), NAMESPACE)
        elif kind == NAMESPACE and api == "v1":
            self.namespace(doc, data, path)
        elif kind not in (CLUSTER, CLUSTER_GROUP, MAPPING):
            return
        elif api == FLEET_API_VERSION:
            self.object(doc, data, path, kind)
        elif isinstance(api, str) and api.startswith("fleet.cattle.io/"):
            self.add(doc, join(path, "apiVersion"), f"must be {FLEET_API_VERSION}")

    def items(self, doc: Document, value: Any, path: str, item_kind: str | None) -> None:
        if value is None:
            return
        if not isinstance(value, list):
            self.add(doc, path, "must be a list")
            return
        for i, item in enumerate(value):
            if isinstance(item, dict):
                self.item(doc, item, join(path, i), item_kind)
            else:
                self.add(doc, join(path, i), "must be a Kubernetes object (a mapping)")

    def object(self, doc: Document, data: dict[str, Any], path: str, kind: str) -> None:
        before = len(self.problems)
        meta_path = join(path, "metadata")
        meta = data.get("metadata")
        if not isinstance(meta, dict):
            self.add(doc, meta_path, "is required and must be a mapping")
            return
        name = self.name(doc, meta.get("name"), join(meta_path, "name"), names.dns1123_subdomain_problem)
        workspace = self.name(doc, meta.get("namespace"), join(meta_path, "namespace"), names.dns1123_label_problem)
        labels = self.labels(doc, meta.get("labels"), join(meta_path, "labels"))
        selector: LabelSelector | None = None
        bundles: LabelSelector | None = None
        namespaces: LabelSelector | None = None
        if kind == CLUSTER_GROUP:
            selector = self.selector(doc, data.get("spec"), join(path, "spec"))
        elif kind == MAPPING:
            bundles = self.selector(doc, data, path, "bundleSelector")
            namespaces = self.selector(doc, data, path, "namespaceSelector")
        self.plain_scalars(doc, path)
        if name is None or workspace is None or len(self.problems) != before:
            return
        key = (kind, workspace, name)
        where = f"document {doc.index}" + (f" {path}" if path else "")
        if key in self.seen:
            self.add(doc, meta_path, f"{kind} {workspace}/{name} is also defined at {self.seen[key]}")
            return
        self.seen[key] = where
        if kind == CLUSTER:
            self.clusters[workspace, name] = Cluster(workspace, name, labels)
        elif kind == MAPPING:
            self.mappings[workspace, name] = NamespaceMapping(workspace, name, bundles, namespaces)
        else:
            self.groups[workspace, name] = ClusterGroup(workspace, name, labels, selector)

    def namespace(self, doc: Document, data: dict[str, Any], path: str) -> None:
        before = len(self.problems)
        meta = data.get("metadata")
        if not isinstance(meta, dict):
            self.add(doc, join(path, "metadata"), "is required and must be a mapping")
            return
        name = self.name(doc, meta.get("name"), join(path, "metadata.name"), names.dns1123_label_problem)
        labels = self.labels(doc, meta.get("labels"), join(path, "metadata.labels"))
        if name is not None and len(self.problems) == before:
            self.namespaces[name] = Namespace(name, labels)

    def plain_scalars(self, doc: Document, path: str) -> None:
        """Unquoted scalars Fleet reads differently (`gpu: y` is a boolean to Go): a hand-written
        inventory may have them; what kubectl exports is quoted where it must be."""
        for where, message in doc.plain_problems:
            if not path or where == path or where.startswith((f"{path}.", f"{path}[")):
                self.add(doc, where, message)

    def name(self, doc: Document, value: Any, path: str, rule: Callable[[str], str | None]) -> str | None:
        if value is None or value == "":
            hint = " (the workspace; export with `kubectl get ... -A`)" if path.endswith("namespace") else ""
            self.add(doc, path, f"is required{hint}")
            return None
        if not isinstance(value, str):
            self.add(doc, path, "must be a string")
            return None
        problem = rule(value)
        if problem is not None:
            self.add(doc, path, problem)
            return None
        return value

    def labels(self, doc: Document, value: Any, path: str) -> Labels:
        if value is None:
            return ()
        if not isinstance(value, dict):
            self.add(doc, path, "must be a mapping")
            return ()
        out: list[tuple[str, str]] = []
        for key, val in value.items():
            where = join(path, str(key))
            problem = names.label_key_problem(key) if isinstance(key, str) else "label key must be a string"
            if problem is None:
                problem = names.label_value_problem(val) if isinstance(val, str) else "must be a string"
            if problem is not None:
                self.add(doc, where, problem)
            else:
                out.append((key, val))
        return tuple(sorted(out))

    def selector(self, doc: Document, spec: Any, path: str, key: str = "selector") -> LabelSelector | None:
        if spec is None:
            return None
        if not isinstance(spec, dict):
            self.add(doc, path, "must be a mapping")
            return None
        selector, problems = parse_selector(spec.get(key), join(path, key), file=self.file, doc=doc)
        self.problems.extend(problems)
        return selector
