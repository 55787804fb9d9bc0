"""Read objects from the management cluster: FleetHandshakes and the Secrets they reference
(import), Fleet's Bundles, BundleDeployments, Clusters and ClusterGroups (status, fleetapi.py).

Through kubeclient.py, as adapters/kube.py: errors name the operation, the object and the HTTP
status, never a response body (a Secret's would be its values). Bodies are read raw and parsed
as JSON, never into the client's models. The `kubernetes` client is imported only when a reader
is built.
"""

from __future__ import annotations

import functools
from http import HTTPStatus
from typing import Any

from ..core.models import API_VERSION
from . import kubeclient
from .kubeclient import KubeError

GROUP, VERSION = API_VERSION.split("/")
PLURAL = "fleethandshakes"


class ApiReader:
    """Paged, raw reads through the `kubernetes` client, with errors that name what failed."""

    def __init__(self, context: str | None = None, kubeconfig: str | None = None) -> None:
        from kubernetes import client

        self.api_client: Any = kubeclient.api_client(context, kubeconfig)
        self._core: Any = client.CoreV1Api(self.api_client)
        self._custom: Any = client.CustomObjectsApi(self.api_client)
        self.host = kubeclient.host_of(self._core)

    def list_custom(
        self, what: str, group: str, version: str, plural: str, namespace: str | None, selector: str = ""
    ) -> list[dict[str, Any]]:
        """Every object of a custom resource in `namespace` (every namespace when None)."""
        if namespace:
            found = self.pages(what, self._custom.list_namespaced_custom_object, group, version, namespace, plural,
                               label_selector=selector or None)  # fmt: skip
        else:
            found = self.pages(what, self._custom.list_cluster_custom_object, group, version, plural,
                               label_selector=selector or None)  # fmt: skip
        return found[0]

    def pages(self, what: str, call: Any, *args: Any, **query: Any) -> tuple[list[dict[str, Any]], str]:
        """Every item of a list call, page by page (`limit`, then `continue` until the server gives
        none), and the list's resourceVersion (to watch from)."""
        return kubeclient.list_pages(what, self.host, functools.partial(self.call, what, call, *args, **query))

    def call(self, what: str, method: Any, *args: Any, **kwargs: Any) -> bytes:
        return kubeclient.raw_call(self.host, what, method, functools.partial(self.failure, what), *args, **kwargs)

    def failure(self, what: str, status: Any, reason: Any = None) -> KubeError:
        return kubeclient.api_failure(what, self.host, status, reason, self.details)

    def details(self, code: int) -> str | None:
        """What an HTTP status means for this reader's requests (None: the general words)."""
        return None

    def json(self, what: str, raw: bytes) -> dict[str, Any]:
        return kubeclient.json_object(what, self.host, raw)


class ClusterReader(ApiReader):
    """The FleetHandshakes of a cluster and the Secrets they name (import)."""

    def handshakes(self, namespace: str | None) -> list[dict[str, Any]]:
        """Every FleetHandshake of `namespace`, or of every namespace when None."""
        where = f"namespace {namespace}" if namespace else "every namespace"
        return self.list_custom(f"list FleetHandshakes in {where}", GROUP, VERSION, PLURAL, namespace)

    def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The whole Secret (values included: they go to sops only), None when it does not exist."""
        what = f"read Secret {namespace}/{name}"
        try:
            raw = self.call(what, self._core.read_namespaced_secret, name, namespace)
        except KubeError as e:
            if e.status == HTTPStatus.NOT_FOUND:
                return None
            raise
        return self.json(what, raw)

    def details(self, code: int) -> str | None:
        if code == 403:
            return f"forbidden: import needs list on {PLURAL}.{GROUP} and get on the Secrets they name"
        if code == 404:
            return "not found (is the FleetHandshake CRD installed on this cluster?)"
        return super().details(code)
