"""Kubernetes API for controller mode: read, list, watch, apply, delete and write the status of
FleetHandshakes, Fleet Bundles and Secrets (loaded only by the `controller` command; kubeclient.py
says which modules import the `kubernetes` client).

As in kubeclient.py, responses are read raw (never deserialised into client models, whose validation
errors quote their input) and errors name the operation, the object and the HTTP status, never a
body. Secrets are watched as metadata only (PartialObjectMetadata): the controller holds a
Secret's values only while it renders the one a handshake names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from http import HTTPStatus
from typing import Any, NamedTuple

from . import kuberead
from .kube import APPLY_PATCH as _APPLY
from .kube import FIELD_MANAGER, revealed
from .kubeclient import METADATA, METADATA_LIST, TIMEOUT, KubeError, transport
from .kuberead import ApiReader

CONTROLLER_MANAGER = f"{FIELD_MANAGER}-controller"  # the field manager of what the controller applies
_MERGE = "application/merge-patch+json"


class Resource(NamedTuple):
    group: str  # "" for the core group
    version: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


HANDSHAKES = Resource(kuberead.GROUP, kuberead.VERSION, kuberead.PLURAL)
BUNDLES = Resource("fleet.cattle.io", "v1alpha1", "bundles")
SECRETS = Resource("", "v1", "secrets")


class KubeGone(KubeError):
    """A watch's resourceVersion is too old (HTTP 410): list again."""


class KubeLeaseLost(KubeError):
    """A write refused before it was sent: this replica no longer holds the Lease."""


class KubeObjects(ApiReader):
    """The objects of one cluster, as the controller reads and writes them (`api_client` is
    shared with the Lease election). `may_write()` is asked before every write (the controller
    sets it to whether it still holds the Lease): another replica may lead once it is False."""

    def __init__(self, context: str | None = None, kubeconfig: str | None = None) -> None:
        super().__init__(context, kubeconfig)
        self.may_write: Callable[[], bool] = lambda: True

    def get(self, res: Resource, namespace: str, name: str, *, metadata_only: bool = False) -> dict[str, Any] | None:
        """The object, None if it does not exist (a Secret: with its values, to render at once,
        unless `metadata_only`)."""
        what = f"read {res.plural} {namespace}/{name}"
        headers = {"_headers": {"Accept": METADATA}} if metadata_only else {}
        try:
            if res == SECRETS:
                return self._json(what, self._core.read_namespaced_secret, name, namespace, **headers)
            return self._json(what, self._custom.get_namespaced_custom_object, *res[:2], namespace, res.plural, name)
        except KubeError as e:
            if e.status == HTTPStatus.NOT_FOUND:
                return None
            raise

    def list(self, res: Resource, namespace: str | None = None, selector: str = "") -> tuple[list[dict[str, Any]], str]:
        """Every object (across namespaces when `namespace` is None) matching the label
        `selector`, and the list's resourceVersion to watch from. Secrets: metadata only."""
        what = f"list {res.plural}" + (f" in {namespace}" if namespace else "") + (f" ({selector})" if selector else "")
        query: dict[str, Any] = {"label_selector": selector or None}
        if res == SECRETS:
            metadata = {"_headers": {"Accept": METADATA_LIST}, **query}
            if namespace is None:
                return self.pages(what, self._core.list_secret_for_all_namespaces, **metadata)
            return self.pages(what, self._core.list_namespaced_secret, namespace, **metadata)
        if namespace is None:
            return self.pages(what, self._custom.list_cluster_custom_object, *res[:2], res.plural, **query)
        return self.pages(what, self._custom.list_namespaced_custom_object, *res[:2], namespace, res.plural, **query)

    def watch(self, res: Resource, resource_version: str, timeout: int) -> Iterator[tuple[str, dict[str, Any]]]:
        """(event type, object) from `resource_version` on, until the server ends the watch after
        `timeout` seconds; KubeGone when that version is too old. Secrets: metadata only."""
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        what = f"watch {res.plural}"
        call: Any
        args: tuple[Any, ...]
        if res == SECRETS:
            call, args, extra = self._core.list_secret_for_all_namespaces, (), {"_headers": {"Accept": METADATA}}
        else:
            call, args, extra = self._custom.list_cluster_custom_object, (*res[:2], res.plural), {}
        watcher: Any = watch.Watch
        stream = watcher().stream(
            call, *args, resource_version=resource_version, timeout_seconds=timeout, allow_watch_bookmarks=True,
            _request_timeout=(TIMEOUT[0], timeout + 30.0), **extra,
        )  # fmt: skip
        failure: KubeError
        try:
            for event in stream:
                yield str(event["type"]), dict(event["raw_object"])
            return
        except ApiException as e:
            failure = self.failure(what, e.status, e.reason)
        except (OSError, ValueError) as e:
            raise KubeError(f"cannot {what}: {transport(e)} ({self.host})") from None
        except Exception as e:  # urllib3's errors, when the server goes away mid-stream
            raise KubeError(f"cannot {what}: connection failed: {type(e).__name__} ({self.host})") from None
        raise KubeGone(str(failure), status=failure.status) if failure.status == HTTPStatus.GONE else failure

    def apply(self, res: Resource, obj: Mapping[str, Any]) -> None:
        """Server-side apply under the controller's field manager, forcing its fields. A Secret's
        values (SecretValue) are revealed here, only into the request."""
        meta = obj["metadata"]
        what = f"apply {res.plural} {meta['namespace']}/{meta['name']}"
        self._fence(what)
        options = {"field_manager": CONTROLLER_MANAGER, "force": True, "_content_type": _APPLY}
        if res == SECRETS:
            body = revealed(obj)
            self.call(what, self._core.patch_namespaced_secret, meta["name"], meta["namespace"], body, **options)
            return
        call = self._custom.patch_namespaced_custom_object
        self.call(what, call, *res[:2], meta["namespace"], res.plural, meta["name"], obj, **options)

    def write_status(self, res: Resource, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """Replace the fields of `status` through the status subresource (a merge patch)."""
        call = self._custom.patch_namespaced_custom_object_status
        what = f"write the status of {res.plural} {namespace}/{name}"
        self._fence(what)
        self.call(what, call, *res[:2], namespace, res.plural, name, {"status": dict(status)}, _content_type=_MERGE)

    def patch_metadata(self, res: Resource, namespace: str, name: str, metadata: Mapping[str, Any]) -> bool:
        """Merge-patch the object's metadata (a null removes a key) if it is still at the
        `resourceVersion` that `metadata` holds; False when it is gone or changed."""
        what = f"patch the metadata of {res.plural} {namespace}/{name}"
        self._fence(what)
        body = {"metadata": dict(metadata)}
        try:
            if res == SECRETS:
                self.call(what, self._core.patch_namespaced_secret, name, namespace, body, _content_type=_MERGE)
            else:
                call = self._custom.patch_namespaced_custom_object
                self.call(what, call, *res[:2], namespace, res.plural, name, body, _content_type=_MERGE)
            return True
        except KubeError as e:
            if e.status in (HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT):
                return False
            raise

    def delete(self, res: Resource, namespace: str, name: str, uid: str, resource_version: str | None = None) -> bool:
        """Delete the object if it is still the one with `uid` (and, when given, still at
        `resource_version`: unchanged since it was read); False when it is gone or changed."""
        from kubernetes.client import V1DeleteOptions, V1Preconditions

        body = V1DeleteOptions(preconditions=V1Preconditions(uid=uid, resource_version=resource_version))
        what = f"delete {res.plural} {namespace}/{name}"
        self._fence(what)
        try:
            if res == SECRETS:
                self.call(what, self._core.delete_namespaced_secret, name, namespace, body=body)
            else:
                call = self._custom.delete_namespaced_custom_object
                self.call(what, call, *res[:2], namespace, res.plural, name, body=body)
            return True
        except KubeError as e:
            if e.status in (HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT):
                return False
            raise

    def _fence(self, what: str) -> None:
        if not self.may_write():
            raise KubeLeaseLost(f"cannot {what}: this replica no longer holds the Lease; not sent")

    def _json(self, what: str, call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self.json(what, self.call(what, call, *args, **kwargs))

    def details(self, code: int) -> str | None:
        hints = {403: "forbidden: the service account lacks this permission (see the controller's RBAC)",
                 404: "not found", 409: "conflict", 410: "gone: list again"}  # fmt: skip
        return hints.get(code) or super().details(code)
