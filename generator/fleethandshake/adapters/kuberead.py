"""Read FleetHandshakes and the Secrets they reference from a cluster (import).

Loads the kubeconfig and reports failures as adapters/kube.py does: errors name the operation,
the object and the HTTP status, never a response body (a Secret's would be its values). Bodies
are read raw and parsed as JSON, never into the client's models. The `kubernetes` client is
imported only when a reader is built.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from . import kube
from .kube import KubeError

GROUP, VERSION, PLURAL = "riverpointtechnology.com", "v1alpha1", "fleethandshakes"
_PAGE = 500


class ClusterReader:
    def __init__(self, context: str | None = None, kubeconfig: str | None = None) -> None:
        from kubernetes import client

        api = kube.api_client(context, kubeconfig)
        self._core: Any = client.CoreV1Api(api)
        self._custom: Any = client.CustomObjectsApi(api)
        self.host = kube._host_of(self._core)

    def handshakes(self, namespace: str | None) -> list[dict[str, Any]]:
        """Every FleetHandshake of `namespace`, or of every namespace when None."""
        where = f"namespace {namespace}" if namespace else "every namespace"
        what, verb = f"list FleetHandshakes in {where}", f"list {PLURAL}.{GROUP}"
        found: list[dict[str, Any]] = []
        page: str | None = None
        while True:
            query = {"limit": _PAGE, "_continue": page}
            if namespace:
                raw = self._call(what, verb, self._custom.list_namespaced_custom_object,
                                 GROUP, VERSION, namespace, PLURAL, **query)  # fmt: skip
            else:
                raw = self._call(what, verb, self._custom.list_cluster_custom_object, GROUP, VERSION, PLURAL, **query)
            document = self._json(what, raw)
            found += [item for item in document.get("items") or [] if isinstance(item, dict)]
            page = (document.get("metadata") or {}).get("continue") or None
            if page is None:
                return found

    def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The whole Secret (values included: they go to sops only), None when it does not exist."""
        what = f"read Secret {namespace}/{name}"
        try:
            raw = self._call(what, f"get secrets in namespace {namespace}",
                             self._core.read_namespaced_secret, name, namespace)  # fmt: skip
        except KubeError as e:
            if e.status == HTTPStatus.NOT_FOUND:
                return None
            raise
        return self._json(what, raw)

    def _call(self, what: str, verb: str, method: Any, *args: Any, **kwargs: Any) -> bytes:
        return kube.raw_call(
            self.host, what, method, lambda status, _: self._failure(what, verb, status), *args, **kwargs
        )

    def _failure(self, what: str, verb: str, status: Any) -> KubeError:
        code = status if isinstance(status, int) else 0
        if code == 0:
            return KubeError(f"cannot {what}: cannot reach the Kubernetes API at {self.host} (connection or TLS error)")
        details = {
            401: f"unauthorized: the Kubernetes API at {self.host} rejected the credentials; check the kubeconfig user",
            403: f"forbidden: the credentials lack permission to {verb}",
            404: "not found (is the FleetHandshake CRD installed on this cluster?)",
        }
        detail = details.get(code) or "the API server refused the request"
        return KubeError(f"cannot {what}: HTTP {code} {kube._PHRASES.get(code, '')}: {detail}", status=code)

    def _json(self, what: str, raw: bytes) -> dict[str, Any]:
        try:
            document = json.loads(raw)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise KubeError(f"cannot {what}: the Kubernetes API at {self.host} did not answer with a JSON object")
        return document
