"""Kubernetes API: write, list and delete the workspace Secrets of downstream delivery, through
kubeclient.py (client, raw calls, paged lists, errors that never hold a body).

Secret values arrive as `SecretValue` and are revealed only while the request body is built.
Reads ask for metadata only, so listing and ownership checks never fetch a value.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, NamedTuple

from ..core.models import SecretValue
from .kubeclient import (
    METADATA,
    METADATA_LIST,
    KubeError,
    api_client,
    api_failure,
    host_of,
    json_object,
    list_pages,
    raw_call,
)

FIELD_MANAGER = "fleet-handshake"
APPLY_PATCH = "application/apply-patch+yaml"
_DELETE_ATTEMPTS = 3


class KubeOwnershipError(KubeError):
    """The Secret exists but does not carry fleet-handshake's owner labels: never overwritten."""


class _Op(NamedTuple):
    """One API operation, as error messages name it."""

    what: str  # "apply Secret NS/NAME"
    verb: str  # the RBAC verb it needs
    namespace: str


class Written(NamedTuple):
    """What one apply left on the cluster: the Secret's uid and resourceVersion, and whether this
    call created it (HTTP 201: none existed when the apply was made)."""

    uid: str
    version: str
    created: bool


@dataclass(frozen=True)
class OwnedSecret:
    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)


class SecretStore:
    """Secrets on one cluster, written by server-side apply under one field manager."""

    def __init__(self, context: str | None = None, kubeconfig: str | None = None) -> None:
        from kubernetes import client

        self._api: Any = client.CoreV1Api(api_client(context, kubeconfig))
        self.host = host_of(self._api)

    def apply(
        self,
        manifest: Mapping[str, Any],
        *,
        owner_labels: Mapping[str, str] | None = None,
        replaces: tuple[Mapping[str, str], tuple[str, ...]] | None = None,
        check: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> Written:
        """Create or update a v1 Secret by server-side apply, forcing this tool's fields. Returns
        the uid and resourceVersion it wrote, and whether this call created it.

        With `owner_labels`, an existing Secret is taken over only if it carries all of them, or
        (`replaces`: labels it must carry, label keys it must lack) the previous owner's
        (KubeOwnershipError otherwise); they are added to the object's labels, and the write is
        conditional on the resourceVersion that was checked (HTTP 409 if it changed meanwhile).
        `check(metadata)` is called with an existing Secret's metadata before the write, under the
        same condition; it raises to refuse the write.
        """
        body = _request_body(manifest, owner_labels)  # values revealed from here on, in memory only
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        op = _Op(f"apply Secret {namespace}/{name}", "patch", namespace)
        current = None  # not read without `owner_labels`: no immutable re-apply then
        if owner_labels:
            current = self._metadata(namespace, name)
            taken = replaces is not None and _owned(current or {}, replaces[0], replaces[1])
            if current is not None and not _owned(current, owner_labels) and not taken:
                labels = ",".join(f"{k}={v}" for k, v in sorted(owner_labels.items()))
                raise KubeOwnershipError(
                    f"cannot {op.what}: a Secret of that name exists without the labels {labels}, so it is"
                    " not managed by fleet-handshake and was left untouched; rename the handshake's secret"
                    " or remove the existing Secret"
                )
            if current is not None and check is not None:
                check(current)
            if current is not None and current.get("resourceVersion"):
                body["metadata"]["resourceVersion"] = str(current["resourceVersion"])
        apply = {"field_manager": FIELD_MANAGER, "force": True, "_content_type": APPLY_PATCH}
        statuses: list[int] = []

        def patch(*args: Any, **kwargs: Any) -> Any:
            response = self._api.patch_namespaced_secret(*args, **kwargs)
            statuses.append(getattr(response, "status", 0))
            return response

        failure = functools.partial(self._api_failure, op)
        try:
            raw = raw_call(self.host, op.what, patch, failure, name, namespace, body, **apply)
        except KubeError as e:
            if e.status != HTTPStatus.UNPROCESSABLE_ENTITY or current is None or not self._kept_immutable(body):
                raise
            # Written immutable by an earlier version, with these very values: it stays so (the API
            # server never lets `immutable` go), and its labels and annotations are still updated.
            raw = raw_call(self.host, op.what, patch, failure, name, namespace, {**body, "immutable": True}, **apply)
        written = json_object(op.what, self.host, raw).get("metadata")  # the body holds the values: kept no longer
        written = written if isinstance(written, Mapping) else {}
        uid, version = str(written.get("uid") or ""), str(written.get("resourceVersion") or "")
        return Written(uid, version, statuses == [HTTPStatus.CREATED])

    def list_owned(self, namespace: str, selector: str) -> list[OwnedSecret]:
        """The Secrets in `namespace` matching the label `selector`, sorted, metadata only."""
        if not selector.strip():
            raise ValueError("list_owned needs a label selector: an empty one matches every Secret")
        return self._list(namespace, selector)

    def list_names(self, namespace: str) -> list[OwnedSecret]:
        """Every Secret in `namespace` with its labels, sorted, metadata only: to check names."""
        return self._list(namespace, "")

    def _list(self, namespace: str, selector: str) -> list[OwnedSecret]:
        shown = f" (selector {selector})" if selector else ""
        op = _Op(f"list Secrets in namespace {namespace}{shown}", "list", namespace)
        fetch = functools.partial(self._request, op, "list_namespaced_secret", namespace,
                                  _headers={"Accept": METADATA_LIST}, label_selector=selector or None)  # fmt: skip
        found: list[OwnedSecret] = []
        for item in list_pages(op.what, self.host, fetch)[0]:
            meta = item.get("metadata") or {}
            labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
            annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
            found.append(OwnedSecret(str(meta.get("namespace") or namespace), str(meta["name"]), labels, annotations))
        return sorted(found, key=lambda s: (s.namespace, s.name))

    def delete_owned(
        self,
        namespace: str,
        name: str,
        owner_labels: Mapping[str, str],
        *,
        absent: tuple[str, ...] = (),
        unchanged: tuple[str, str] | None = None,
        check: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> bool:
        """Delete the Secret if it carries every owner label and none of the `absent` label keys
        (and, with `unchanged`, still has that uid and resourceVersion); False when absent, not
        owned or changed. `check(metadata)`, as for `apply`, raises to refuse the delete.

        The delete is conditional on the uid and resourceVersion that were checked, so a Secret
        replaced in between is never deleted; on a conflict it is read and checked again.
        """
        if not owner_labels:
            raise ValueError("delete_owned needs owner labels: without them every Secret would count as owned")
        from kubernetes.client import V1DeleteOptions, V1Preconditions

        op = _Op(f"delete Secret {namespace}/{name}", "delete", namespace)
        for _ in range(_DELETE_ATTEMPTS):
            current = self._metadata(namespace, name)
            if current is None or not _owned(current, owner_labels, absent):
                return False
            if unchanged is not None and unchanged != (current.get("uid"), current.get("resourceVersion")):
                return False
            if check is not None:
                check(current)
            checked = V1Preconditions(uid=current.get("uid"), resource_version=current.get("resourceVersion"))
            try:
                self._request(
                    op, "delete_namespaced_secret", name, namespace, body=V1DeleteOptions(preconditions=checked)
                )
                return True
            except KubeError as e:
                if e.status == HTTPStatus.NOT_FOUND:
                    return False
                if e.status != HTTPStatus.CONFLICT:
                    raise
        raise KubeError(
            f"cannot {op.what}: HTTP 409 Conflict: it changed {_DELETE_ATTEMPTS} times while being deleted"
            " (resourceVersion precondition failed); it was not deleted, run again",
            status=HTTPStatus.CONFLICT,
        )

    def _kept_immutable(self, body: Mapping[str, Any]) -> bool:
        """Whether the Secret `body` names is immutable and already holds `body`'s type and data."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        op = _Op(f"read Secret {namespace}/{name}", "get", namespace)
        live = json_object(op.what, self.host, self._request(op, "read_namespaced_secret", name, namespace))
        return (
            live.get("immutable") is True
            and live.get("type", "Opaque") == body.get("type", "Opaque")
            and (live.get("data") or {}) == (body.get("data") or {})
        )

    def _metadata(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Secret's metadata, None if it does not exist."""
        op = _Op(f"read Secret {namespace}/{name}", "get", namespace)
        try:
            raw = self._request(op, "read_namespaced_secret", name, namespace, _headers={"Accept": METADATA})
        except KubeError as e:
            if e.status == HTTPStatus.NOT_FOUND:
                return None
            raise
        meta = json_object(op.what, self.host, raw).get("metadata")
        return dict(meta) if isinstance(meta, Mapping) else {}

    def _request(self, op: _Op, method: str, *args: Any, **kwargs: Any) -> bytes:
        """Call a CoreV1Api method and return the raw response body; failures become KubeError."""
        failure = functools.partial(self._api_failure, op)
        return raw_call(self.host, op.what, getattr(self._api, method), failure, *args, **kwargs)

    def _api_failure(self, op: _Op, status: Any, reason: Any) -> KubeError:
        ns = op.namespace
        details = {
            403: f"forbidden: the credentials lack permission to {op.verb} secrets in namespace {ns}"
            f" (needs get, list, create, patch and delete on secrets in {ns})",
            404: f"not found: namespace {ns} or the object does not exist",
            409: "conflict: another field manager owns its fields, or it changed since it was read; not changed",
            422: "invalid: the API server rejected the object (check its name, keys and type)",
        }
        if op.verb == "patch":  # an apply: the update rules are the likelier cause
            details[422] = (
                "invalid: the API server rejected the object (check its name and keys; a Secret's type cannot"
                " change, nor the data of an immutable one, as earlier versions of fleet-handshake wrote it: to"
                f" replace it, delete it and run again: kubectl delete secret -n {ns} {op.what.rsplit('/', 1)[-1]})"
            )
        return api_failure(op.what, self.host, status, reason, details.get)


def _request_body(manifest: Mapping[str, Any], owner_labels: Mapping[str, str] | None) -> Any:
    """The full object to apply: the one place where secret values are revealed."""
    if manifest.get("apiVersion") != "v1" or manifest.get("kind") != "Secret":
        raise ValueError("SecretStore.apply takes a v1 Secret manifest")
    meta = manifest.get("metadata")
    if not (isinstance(meta, Mapping) and all(isinstance(meta.get(k), str) and meta[k] for k in ("name", "namespace"))):
        raise ValueError("SecretStore.apply needs metadata.name and metadata.namespace")
    body = revealed(manifest)
    if owner_labels:
        body["metadata"]["labels"] = {**(body["metadata"].get("labels") or {}), **owner_labels}
    return body


def revealed(value: Any) -> Any:
    """A copy of `value` with every SecretValue in it revealed: for a request body only."""
    if isinstance(value, SecretValue):
        return value.reveal()
    if isinstance(value, Mapping):
        return {str(k): revealed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [revealed(v) for v in value]
    return value


def _owned(metadata: Mapping[str, Any], owner_labels: Mapping[str, str], absent: tuple[str, ...] = ()) -> bool:
    labels = metadata.get("labels") or {}
    return all(labels.get(key) == value for key, value in owner_labels.items()) and not any(k in labels for k in absent)
