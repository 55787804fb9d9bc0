"""Kubernetes API: read Fleet's Bundles, BundleDeployments, Clusters and ClusterGroups (for `status`).

Reads only: no Secret is ever asked for. The configuration is loaded as for downstream delivery
(adapters/kubeclient.py: --kubeconfig, --context, $KUBECONFIG, ~/.kube/config, the in-cluster service
account), and failures are reported the same way: the operation, the object and the HTTP status,
never a response body. Responses are read raw (JSON), never deserialised into client models.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .kuberead import ApiReader

GROUP, VERSION = "fleet.cattle.io", "v1alpha1"
# What `status` needs, for the error that says so.
RBAC = "list on bundles, clusters and clustergroups in each workspace and on bundledeployments in all namespaces"


@dataclass(frozen=True)
class FleetObjects:
    bundles: tuple[Mapping[str, Any], ...]
    deployments: tuple[Mapping[str, Any], ...]
    clusters: tuple[Mapping[str, Any], ...]  # Clusters and ClusterGroups with their kind, for parse_inventory


class FleetReader(ApiReader):
    """Fleet's objects on the management cluster."""

    def read(self, workspaces: Iterable[str], selector: str) -> FleetObjects:
        """The Bundles matching `selector` in each workspace, their BundleDeployments (in the
        clusters' namespaces), and each workspace's Clusters and ClusterGroups."""
        bundles, deployments, clusters = [], [], []
        for ws in sorted(set(workspaces)):
            bundles += self._list("bundles", ws, selector)
            deployments += self._list("bundledeployments", None, f"{selector},fleet.cattle.io/bundle-namespace={ws}")
            for plural, kind in (("clusters", "Cluster"), ("clustergroups", "ClusterGroup")):
                clusters += [{**item, "apiVersion": f"{GROUP}/{VERSION}", "kind": kind}
                             for item in self._list(plural, ws, "")]  # fmt: skip
        return FleetObjects(tuple(bundles), tuple(deployments), tuple(clusters))

    def _list(self, plural: str, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        where = f"in namespace {namespace}" if namespace else "in all namespaces"
        shown = f" (selector {selector})" if selector else ""
        return self.list_custom(f"list {plural}.{GROUP} {where}{shown}", GROUP, VERSION, plural, namespace, selector)

    def details(self, code: int) -> str | None:
        if code == 403:
            return f"forbidden: status needs {RBAC}"
        if code == 404:
            return f"not found: is Fleet installed on the cluster at {self.host}? (its CRDs serve {GROUP}/{VERSION})"
        return super().details(code)
