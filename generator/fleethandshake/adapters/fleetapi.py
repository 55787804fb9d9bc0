"""Kubernetes API: read Fleet's Bundles, BundleDeployments, Clusters and ClusterGroups (for `status`).

Reads only: no Secret is ever asked for. The configuration is loaded as for downstream delivery
(adapters/kube.py: --kubeconfig, --context, $KUBECONFIG, ~/.kube/config, the in-cluster service
account), and failures are reported the same way: the operation, the object and the HTTP status,
never a response body. Responses are read raw (JSON), never deserialised into client models.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import kube

GROUP, VERSION = "fleet.cattle.io", "v1alpha1"
_PAGE = 500
# What `status` needs, for the error that says so.
RBAC = "list on bundles, clusters and clustergroups in each workspace and on bundledeployments in all namespaces"


@dataclass(frozen=True)
class FleetObjects:
    bundles: tuple[Mapping[str, Any], ...]
    deployments: tuple[Mapping[str, Any], ...]
    clusters: tuple[Mapping[str, Any], ...]  # Clusters and ClusterGroups with their kind, for parse_inventory


class FleetReader:
    """Fleet's objects on the management cluster."""

    def __init__(self, context: str | None = None, kubeconfig: str | None = None) -> None:
        from kubernetes import client

        core = kube._core_api(context, kubeconfig)  # the loading, version check and errors of downstream mode
        self._api: Any = client.CustomObjectsApi(core.api_client)
        self.host = kube._host_of(core)

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
        what = f"list {plural}.{GROUP} {where}{shown}"
        found: list[dict[str, Any]] = []
        page: str | None = None
        while True:
            query = {"label_selector": selector or None, "limit": _PAGE, "_continue": page}
            if namespace is None:
                raw = self._request(what, "list_cluster_custom_object", GROUP, VERSION, plural, **query)
            else:
                raw = self._request(what, "list_namespaced_custom_object", GROUP, VERSION, namespace, plural, **query)
            try:
                document = json.loads(raw)
            except ValueError:
                document = None
            if not isinstance(document, dict):
                answer = f"the Kubernetes API at {self.host} did not answer with a JSON object"
                raise kube.KubeError(f"cannot {what}: {answer}")
            found += [item for item in document.get("items") or [] if isinstance(item, dict)]
            page = (document.get("metadata") or {}).get("continue") or None
            if page is None:
                return found

    def _request(self, what: str, method: str, *args: Any, **kwargs: Any) -> bytes:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        failure: kube.KubeError
        try:
            response = getattr(self._api, method)(*args, _preload_content=False, _request_timeout=kube._TIMEOUT,
                                                  **kwargs)  # fmt: skip
            data = getattr(response, "data", b"")
            return data if isinstance(data, bytes) else b""
        except ApiException as e:  # raised outside this block, so the body in its text is not chained
            failure = _api_failure(what, self.host, e.status)
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise kube.KubeError(
                f"cannot {what}: cannot reach the Kubernetes API at {self.host} ({kube._transport(e)})"
            ) from e
        raise failure


def _api_failure(what: str, host: str, status: Any) -> kube.KubeError:
    code = status if isinstance(status, int) else 0
    if code == 0:
        return kube.KubeError(f"cannot {what}: cannot reach the Kubernetes API at {host} (connection or TLS error)")
    details = {
        401: f"unauthorized: the Kubernetes API at {host} rejected the credentials; check the kubeconfig user",
        403: f"forbidden: status needs {RBAC}",
        404: f"not found: is Fleet installed on the cluster at {host}? (its CRDs serve {GROUP}/{VERSION})",
    }
    failed = f"the Kubernetes API at {host} failed; try again later"
    detail = details.get(code) or (failed if code >= 500 or code == 429 else "the API server refused the request")
    return kube.KubeError(f"cannot {what}: HTTP {code} {kube._PHRASES.get(code, 'error')}: {detail}", status=code)
