"""A fake Kubernetes API server, spoken to by the real `kubernetes` client.

It serves core/v1 Secrets, Fleet's Bundles, BundleDeployments, Clusters, ClusterGroups and
GitRepos (fleet.cattle.io/v1alpha1) and FleetHandshakes (riverpointtechnology.com/v1alpha1),
each in a namespace or listed across all of them. Enough of the REST protocol for the tool's
adapters: GET/LIST with equality and existence label selectors, POST (create), server-side apply
(PATCH application/apply-patch+yaml) with field ownership, JSON merge patches (conditional on a
metadata.resourceVersion they carry), the `status` subresource, DELETE with uid and
resourceVersion preconditions and background garbage collection of the objects it owned
(ownerReferences), metadata-only reads (PartialObjectMetadata), bearer-token authentication and
RBAC verbs, `Status` error bodies and `/version`. A Secret's update is refused (422) as the API
server refuses it: its type changed, or its data or `immutable` once it is immutable. Watch
streams (`?watch=true`: ADDED, MODIFIED and DELETED events, each with its resourceVersion, from
a given resourceVersion or from the current state, bookmarks on request, 410 Gone before the oldest kept event) and
coordination.k8s.io/v1 Leases, replaced (PUT) under resourceVersion conflicts, for leader
election. Plain HTTP on 127.0.0.1, an ephemeral port. Tests can fail the next request, run a
hook before it, or hold it until they release it.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

APPLY_PATCH = "application/apply-patch+yaml"
_FIELDS = ("gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler", "platform")
VERSION = {"major": "1", "minor": "31", "gitVersion": "v1.31.0-fake"} | dict.fromkeys(_FIELDS, "fake")
MERGE_PATCH = "application/merge-patch+json"
_PATH = re.compile(
    r"/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<namespace>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>status))?"
)


@dataclass(frozen=True)
class Resource:
    """A namespaced kind the fake serves."""

    api_version: str
    plural: str
    kind: str


RESOURCES = {
    r.plural: r
    for r in (
        Resource("v1", "secrets", "Secret"),
        Resource("fleet.cattle.io/v1alpha1", "bundles", "Bundle"),
        Resource("fleet.cattle.io/v1alpha1", "bundledeployments", "BundleDeployment"),
        Resource("fleet.cattle.io/v1alpha1", "clusters", "Cluster"),
        Resource("fleet.cattle.io/v1alpha1", "clustergroups", "ClusterGroup"),
        Resource("fleet.cattle.io/v1alpha1", "gitrepos", "GitRepo"),
        Resource("riverpointtechnology.com/v1alpha1", "fleethandshakes", "FleetHandshake"),
        Resource("coordination.k8s.io/v1", "leases", "Lease"),
    )
}
_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES.values()}
Key = tuple[str, str, str]  # (plural, namespace, name)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    accept: str | None
    authorization: str | None
    body: bytes

    @property
    def field_manager(self) -> str | None:
        return self.query.get("fieldManager")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Hold:
    """A request kept waiting (see FakeKube.hold_next): `arrived` is set when it is, and it is
    handled once `release` is set."""

    method: str
    path_part: str
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class ApiError(Exception):
    """Answered as a `Status` object with this code, reason and message."""

    def __init__(self, code: int, reason: str, message: str, name: str = "", plural: str = "secrets") -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.name, self.plural = code, reason, message, name, plural

    def status(self) -> dict[str, Any]:
        details = {"name": self.name, "kind": self.plural} if self.name else {}
        head = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
        return head | {"message": self.message, "reason": self.reason, "details": details, "code": self.code}


@dataclass
class FakeKube:
    """The server and its state. `objects` maps (plural, namespace, name) to the stored object."""

    token: str = "fake-token"
    objects: dict[Key, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    # RBAC, as the API server authorises each request: None allows every verb on every resource;
    # a set of verbs applies to secrets (what the tool's Secret writes are checked against), and
    # `allowed` maps a plural to its verbs for the other resources.
    allowed_verbs: set[str] | None = None
    max_page: int | None = None  # at most this many items in one page of a list (None: as asked)
    allowed: dict[str, set[str]] | None = None
    verbs_used: set[str] = field(default_factory=set)  # every verb a request was authorised for
    # The creationTimestamp of every object created while it is set (None: the clock's second): the
    # API server's has whole seconds, so two objects created in one second carry the same one.
    second: str | None = None
    _failures: list[tuple[str | None, int, str, str]] = field(default_factory=list)
    _hooks: list[tuple[str, Callable[[FakeKube], None]]] = field(default_factory=list)
    _holds: list[Hold] = field(default_factory=list)
    _versions: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _server: ThreadingHTTPServer | None = None
    # Watch: every change as (resourceVersion, type, key, object), oldest first; events before
    # `_compacted` are gone (410). `_changed` wakes the watch streams; `_stopping` ends them.
    _events: list[tuple[int, str, Key, dict[str, Any]]] = field(default_factory=list)
    _compacted: int = 0
    _latest: int = 0
    _changed: threading.Condition | None = None
    _stopping: bool = False
    bookmark_seconds: float = 1.0

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)

    def start(self) -> FakeKube:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self)

            do_PATCH = do_DELETE = do_POST = do_PUT = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._end_watches()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeKube:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "the fake server is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(self, status: int, reason: str, *, method: str | None = None, message: str = "") -> None:
        """Answer the next request (of `method`, if given) with a Status error instead."""
        with self._lock:
            self._failures.append((method, status, reason, message or f"fake failure {status}"))

    def before_next(self, method: str, hook: Callable[[FakeKube], None]) -> None:
        """Run `hook(self)` just before the next request of `method` is handled."""
        with self._lock:
            self._hooks.append((method, hook))

    def hold_next(self, method: str, path_part: str) -> Hold:
        """Keep the next request of `method` whose path contains `path_part` waiting until the
        test sets `release`; it waits before the server's lock (every other request is answered
        meanwhile) and is recorded and handled after. A client blocked inside a request, without
        timing."""
        hold = Hold(method, path_part)
        with self._lock:
            self._holds.append(hold)
        return hold

    @property
    def secrets(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The stored Secrets by (namespace, name): a snapshot, to read."""
        with self._lock:
            return {(ns, name): obj for (plural, ns, name), obj in self.objects.items() if plural == "secrets"}

    def put_secret(
        self, namespace: str, name: str, data: dict[str, str], labels: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Store a Secret as if kubectl had created it (`data` in clear text); returns a copy."""
        obj = {
            **_blank("v1", "Secret", namespace, name),
            "type": "Opaque",
            "data": {k: _b64(v) for k, v in data.items()},
        }
        obj["metadata"] |= {"labels": dict(labels or {})}
        return self.put_object(obj)

    def put_object(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store any served object as if `kubectl create` (and, for `status`, its controller) had
        written it; replaces one of the same name. Returns a copy of what is stored."""
        resource = _BY_KIND.get((obj.get("apiVersion"), obj.get("kind")))
        assert resource is not None, f"the fake does not serve {obj.get('apiVersion')} {obj.get('kind')}"
        obj = copy.deepcopy(obj)
        meta = obj["metadata"]
        meta["managedFields"] = [_managed("kubectl-create", _fields(obj), operation="Update")]
        with self._lock:
            key = (resource.plural, meta.get("namespace") or "default", meta["name"])
            meta["namespace"] = key[1]
            old = self.objects.get(key)
            if old is not None:
                meta["uid"], meta["creationTimestamp"] = old["metadata"]["uid"], old["metadata"]["creationTimestamp"]
            return copy.deepcopy(self._store(key, obj, spec_changed=True))

    def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A copy of the stored object, or None."""
        with self._lock:
            obj = self.objects.get((plural, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def objects_of(self, plural: str) -> list[dict[str, Any]]:
        """Copies of the stored objects of one resource, by namespace and name."""
        with self._lock:
            return [copy.deepcopy(o) for (p, _, _), o in sorted(self.objects.items()) if p == plural]

    def secret_values(self, namespace: str, name: str) -> dict[str, str]:
        return {k: base64.b64decode(v).decode() for k, v in self.secrets[(namespace, name)].get("data", {}).items()}

    def requests_of(self, method: str) -> list[Request]:
        return [r for r in self.requests if r.method == method]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        request = Request(
            method=handler.command,
            path=parts.path,
            query={k: v[-1] for k, v in parse_qs(parts.query).items()},
            content_type=handler.headers.get("Content-Type"),
            accept=handler.headers.get("Accept"),
            authorization=handler.headers.get("Authorization"),
            body=handler.rfile.read(length) if length else b"",
        )
        if request.method == "GET" and request.query.get("watch") in ("true", "1"):
            self._serve_watch(handler, request)
            return
        with self._lock:
            hold = next((h for h in self._holds if h.method == request.method and h.path_part in request.path), None)
            if hold is not None:
                self._holds.remove(hold)
        if hold is not None:
            hold.arrived.set()
            hold.release.wait()
        with self._lock:
            self.requests.append(request)
            try:
                code, document = self._answer(request)
            except ApiError as e:
                code, document = e.code, e.status()
        payload = json.dumps(document).encode()
        handler.send_response(code)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _answer(self, request: Request) -> tuple[int, dict[str, Any]]:
        for i, (method, hook) in enumerate(self._hooks):
            if method == request.method:
                del self._hooks[i]
                hook(self)
                break
        for i, (method, code, reason, message) in enumerate(self._failures):
            if method in (None, request.method):
                del self._failures[i]
                raise ApiError(code, reason, message)
        if request.authorization != f"Bearer {self.token}":
            raise ApiError(401, "Unauthorized", "Unauthorized")
        if request.path.rstrip("/") == "/version":
            return 200, VERSION
        match = _PATH.fullmatch(request.path)
        api_version = match and (match["core"] or f"{match['group']}/{match['version']}")
        resource = RESOURCES.get(match["plural"]) if match else None
        if match is None or resource is None or resource.api_version != api_version:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource {request.path}")
        namespace, name, sub = match["namespace"], match["name"], match["sub"]
        self._authorize(request, resource, namespace, name)
        if name is None:
            if request.method == "POST" and namespace is not None:
                return self._create(resource, namespace, request)
            if request.method != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the collection")
            return 200, self._list(resource, namespace, request)
        if namespace is None:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource {request.path}")
        key = (resource.plural, namespace, name)
        if sub == "status":
            return self._status(key, request)
        handlers = {"GET": self._get, "PATCH": self._patch, "DELETE": self._delete, "PUT": self._replace}
        if request.method not in handlers:
            raise ApiError(405, "MethodNotAllowed", f"{request.method} is not supported by the fake")
        return handlers[request.method](key, request)

    def _authorize(self, request: Request, resource: Resource, namespace: str | None, name: str | None) -> None:
        """The verbs the API server checks: get or list for GET, create for POST, delete for
        DELETE, patch for PATCH, and create as well when an apply patch creates the object
        (apiserver endpoints/handlers/patch.go: createAuthorizerAttributes)."""
        verbs = {"GET": ["get" if name else "list"], "POST": ["create"], "DELETE": ["delete"], "PATCH": ["patch"],
                 "PUT": ["update"]}.get(request.method, [])  # fmt: skip
        if request.query.get("watch") in ("true", "1"):
            verbs = ["watch"]
        if request.method == "PATCH" and name is not None and (resource.plural, namespace, name) not in self.objects:
            verbs.append("create")
        if resource.plural == "secrets":
            allowed = self.allowed_verbs
        else:
            allowed = None if self.allowed is None else self.allowed.get(resource.plural, set())
        where = f"in {namespace}" if namespace else "at the cluster scope"
        for verb in verbs:
            if allowed is not None and verb not in allowed:
                plural = resource.plural
                raise ApiError(403, "Forbidden", f'{plural} is forbidden: cannot {verb} resource "{plural}" {where}')
            if resource.plural == "secrets":
                self.verbs_used.add(verb)

    def _get(self, key: Key, request: Request) -> tuple[int, dict[str, Any]]:
        return 200, _view(self._existing(key), request.accept, "PartialObjectMetadata")

    def _list(self, resource: Resource, namespace: str | None, request: Request) -> dict[str, Any]:
        match = _selector(request.query.get("labelSelector", ""))
        items = [
            obj
            for (plural, ns, _), obj in sorted(self.objects.items())
            if plural == resource.plural and namespace in (None, ns) and match(obj["metadata"].get("labels") or {})
        ]
        # Pages: `limit` asks for at most that many items, and the server may send fewer (here:
        # `max_page`); `metadata.continue` then names where the next page starts, and the last
        # page has none (apimachinery ListMeta.Continue).
        start = int(base64.b64decode(request.query["continue"]).decode()) if request.query.get("continue") else 0
        size = min(int(request.query.get("limit") or 0) or len(items), self.max_page or len(items))
        page, rest = items[start : start + size], items[start + size :]
        listed = {"resourceVersion": str(self._latest)}
        if rest:
            listed["continue"] = _b64(str(start + size))
        if _wants(request.accept, "PartialObjectMetadataList"):
            view = [{"metadata": obj["metadata"]} for obj in page]
            kind, api = "PartialObjectMetadataList", "meta.k8s.io/v1"
        else:
            view, kind, api = page, f"{resource.kind}List", resource.api_version
        return {"kind": kind, "apiVersion": api, "metadata": listed, "items": view}

    def _create(self, resource: Resource, namespace: str, request: Request) -> tuple[int, dict[str, Any]]:
        obj = _typed(request.json(), resource)
        meta = obj.setdefault("metadata", {})
        if (obj.get("apiVersion"), obj.get("kind")) != (resource.api_version, resource.kind):
            raise ApiError(400, "BadRequest", f"the object is not a {resource.api_version} {resource.kind}")
        if meta.get("namespace") not in (None, namespace):
            raise ApiError(400, "BadRequest", "the namespace of the object does not match the request")
        key = (resource.plural, namespace, meta.get("name", ""))
        if key in self.objects:
            message = f'{resource.plural} "{key[2]}" already exists'
            raise ApiError(409, "AlreadyExists", message, key[2], resource.plural)
        obj.pop("status", None)  # written through the status subresource only
        meta["namespace"] = namespace
        meta["managedFields"] = [_managed(request.field_manager or "unknown", _fields(obj), operation="Update")]
        return 201, self._store(key, obj, spec_changed=True, collect=True)

    def _patch(self, key: Key, request: Request) -> tuple[int, dict[str, Any]]:
        content_type = (request.content_type or "").split(";")[0].strip()
        if content_type == MERGE_PATCH:
            obj = copy.deepcopy(self._existing(key))
            patch = request.json()
            patch.pop("status", None)
            wanted = (patch.get("metadata") or {}).get("resourceVersion")
            if wanted and wanted != obj["metadata"]["resourceVersion"]:  # a precondition, as the API server's
                message = "the object has been modified; please apply your changes to the latest version"
                raise ApiError(409, "Conflict", message, key[2], key[0])
            _merge_patch(obj, patch)
            _validate_update(key, self._existing(key), obj)
            return 200, self._store(key, obj, spec_changed=True, collect=True)
        if content_type != APPLY_PATCH:
            raise ApiError(415, "UnsupportedMediaType", f"the fake accepts {APPLY_PATCH} and {MERGE_PATCH} patches")
        return self._apply(key, request)

    def _apply(self, key: Key, request: Request) -> tuple[int, dict[str, Any]]:
        plural, namespace, name = key
        resource = RESOURCES[plural]
        manager = request.field_manager
        if not manager:
            raise ApiError(422, "Invalid", "PatchOptions.meta.k8s.io is invalid: fieldManager is required for apply")
        applied = yaml.safe_load(request.body)
        meta = applied.get("metadata") or {}
        if (applied.get("apiVersion"), applied.get("kind")) != (resource.api_version, resource.kind) or meta.get(
            "name"
        ) != name:
            raise ApiError(400, "BadRequest", f"the applied object is not this {resource.kind}", name, plural)
        if meta.get("namespace") not in (None, namespace):
            raise ApiError(400, "BadRequest", "the namespace of the object does not match the request", name, plural)
        existing = self.objects.get(key)
        wanted_version = meta.get("resourceVersion")
        if wanted_version and (existing is None or existing["metadata"]["resourceVersion"] != wanted_version):
            message = "the object has been modified; please apply to the latest version"
            raise ApiError(409, "Conflict", message, name, plural)
        obj = copy.deepcopy(existing) or _blank(resource.api_version, resource.kind, namespace, name)
        if plural == "secrets":
            obj.setdefault("type", "Opaque")
        entries = obj["metadata"].get("managedFields", [])
        managers = [entry for entry in entries if entry["manager"] != manager]
        if managers and request.query.get("force") != "true":  # coarse: any other manager conflicts
            others = ", ".join(sorted(entry["manager"] for entry in managers))
            raise ApiError(409, "Conflict", f"Apply failed with conflicts: conflict with {others}", name, plural)
        # Server-side apply: a field this manager set before and no longer sets, and that no other
        # manager owns, is removed. stringData is write-only: what it wrote is stored as data but
        # owned by nobody, so a key dropped from stringData stays (kubernetes/kubernetes#108008).
        before = {f for entry in entries if entry["manager"] == manager for f in _owned_fields(entry)}
        wanted = _fields(applied)
        kept_by_others = {f for entry in managers for f in _owned_fields(entry)} - wanted
        for gone in before - wanted - kept_by_others:
            _remove(obj, gone)
        body = {k: v for k, v in applied.items() if k not in ("apiVersion", "kind", "metadata", "status")}
        if "stringData" in body:  # stored as data
            body.setdefault("data", {}).update({k: _b64(v) for k, v in (body.pop("stringData") or {}).items()})
        _merge_patch(obj, body)
        for section in ("labels", "annotations"):
            if meta.get(section):
                obj["metadata"].setdefault(section, {}).update(meta[section])
        if "ownerReferences" in meta:
            obj["metadata"]["ownerReferences"] = meta["ownerReferences"]
        others = [_managed(e["manager"], _owned_fields(e) - wanted, e.get("operation", "Apply")) for e in managers]
        obj["metadata"]["managedFields"] = [*others, _managed(manager, wanted)]
        changed = existing is None or {k: v for k, v in obj.items() if k not in ("metadata", "status")} != {
            k: v for k, v in existing.items() if k not in ("metadata", "status")
        }
        _validate_update(key, existing, obj)
        return (201 if existing is None else 200), self._store(key, obj, spec_changed=changed, collect=True)

    def _status(self, key: Key, request: Request) -> tuple[int, dict[str, Any]]:
        """The status subresource: GET reads the object; PATCH (apply or merge) and PUT write
        `status` only, leaving the rest and `metadata.generation` alone."""
        obj = copy.deepcopy(self._existing(key))
        if request.method == "GET":
            return 200, obj
        content_type = (request.content_type or "").split(";")[0].strip()
        if request.method == "PUT" or (request.method == "PATCH" and content_type == APPLY_PATCH):
            body = request.json() if request.method == "PUT" else yaml.safe_load(request.body)
            obj["status"] = body.get("status") or {}
        elif request.method == "PATCH" and content_type == MERGE_PATCH:
            patch = {"status": request.json().get("status")}
            _merge_patch(obj, patch)
        else:
            raise ApiError(415, "UnsupportedMediaType", "the fake writes status with PUT, apply or merge patches")
        return 200, self._store(key, obj, spec_changed=False)

    def _store(self, key: Key, obj: dict[str, Any], *, spec_changed: bool, collect: bool = False) -> dict[str, Any]:
        """Store a write; `collect`: a client's write, whose object the garbage collector deletes
        when the owners it names are all gone (a test's own put_object may name owners it did not
        make)."""
        old = self.objects.get(key)
        if key[0] != "secrets":  # Secrets have no generation
            before = 0 if old is None else old["metadata"].get("generation", 0)
            obj["metadata"]["generation"] = before + 1 if old is None or spec_changed else before
        self.objects[key] = self._stamp(obj, new=old is None)
        self._record("ADDED" if old is None else "MODIFIED", key, obj)
        refs = obj["metadata"].get("ownerReferences") or []
        if collect and refs and not any(self._owner_exists(key[1], ref.get("uid")) for ref in refs):
            self._collect(key)  # as the garbage collector deletes a dependent whose owners are all gone
        return obj

    def _owner_exists(self, namespace: str, uid: object) -> bool:
        return any(k[1] in (namespace, "") and o["metadata"].get("uid") == uid for k, o in self.objects.items())

    def _delete(self, key: Key, request: Request) -> tuple[int, dict[str, Any]]:
        obj = self._existing(key)
        plural, _, name = key
        preconditions = (json.loads(request.body) if request.body else {}).get("preconditions") or {}
        for field_name, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            if preconditions.get(field_name) and preconditions[field_name] != obj["metadata"][field_name]:
                message = f"Precondition failed: {label} in precondition: {preconditions[field_name]}"
                message += f", {label} in object meta: {obj['metadata'][field_name]}"
                raise ApiError(409, "Conflict", message, name, plural)
        self._collect(key)
        details = {"name": name, "kind": plural, "uid": obj["metadata"]["uid"]}
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def _collect(self, key: Key) -> None:
        """Delete the object, then, as the garbage collector does with background propagation,
        every object of its namespace that names it as an owner (by uid)."""
        gone = self.objects.pop(key)
        uid = gone["metadata"]["uid"]
        gone = copy.deepcopy(gone)
        gone["metadata"]["resourceVersion"] = str(next(self._versions))
        self._record("DELETED", key, gone)
        dependents = [
            other
            for other, obj in self.objects.items()
            if other[1] == key[1] and any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])
        ]
        for other in dependents:
            if other in self.objects:
                self._collect(other)

    def _replace(self, key: Key, request: Request) -> tuple[int, dict[str, Any]]:
        """PUT: the object replaced whole (an update), conditional on its metadata.resourceVersion
        when it carries one (409 Conflict when the stored object has moved on); `status` is kept
        from the stored object, as it is written through its own subresource."""
        plural, namespace, name = key
        existing = self._existing(key)
        obj = _typed(request.json(), RESOURCES[plural])
        meta = obj.setdefault("metadata", {})
        if meta.get("name") not in (None, name) or meta.get("namespace") not in (None, namespace):
            raise ApiError(400, "BadRequest", "the name or namespace of the object does not match the request")
        wanted = meta.get("resourceVersion")
        if wanted and wanted != existing["metadata"]["resourceVersion"]:
            message = (f'Operation cannot be fulfilled on {plural} "{name}": the object has been modified; '
                       "please apply your changes to the latest version and try again")  # fmt: skip
            raise ApiError(409, "Conflict", message, name, plural)
        old_meta = existing["metadata"]
        meta |= {"name": name, "namespace": namespace, "uid": old_meta["uid"]}
        meta |= {"creationTimestamp": old_meta["creationTimestamp"], "managedFields": old_meta.get("managedFields", [])}
        obj.pop("status", None)
        if "status" in existing:
            obj["status"] = copy.deepcopy(existing["status"])
        changed = {k: v for k, v in obj.items() if k not in ("metadata", "status")} != {
            k: v for k, v in existing.items() if k not in ("metadata", "status")
        }
        _validate_update(key, existing, obj)
        return 200, self._store(key, obj, spec_changed=changed, collect=True)

    def compact(self) -> None:
        """Forget every event so far, as etcd's compaction does: a watch from an older
        resourceVersion is answered 410 Gone (the client must list again)."""
        with self._lock:
            self._events.clear()
            self._compacted = self._latest

    def _record(self, kind: str, key: Key, obj: dict[str, Any]) -> None:
        self._latest = int(obj["metadata"]["resourceVersion"])
        self._events.append((self._latest, kind, key, copy.deepcopy(obj)))
        assert self._changed is not None
        self._changed.notify_all()

    def _end_watches(self) -> None:
        with self._lock:
            self._stopping = True
            assert self._changed is not None
            self._changed.notify_all()

    def _serve_watch(self, handler: BaseHTTPRequestHandler, request: Request) -> None:
        """A watch stream: one JSON event per chunk, until timeoutSeconds, the server's stop, or
        the client going away. Errors before the stream starts are answered as usual."""
        with self._lock:
            self.requests.append(request)
            try:
                self._answer(request)  # what every request goes through: failures, credentials, path, RBAC
                match = _PATH.fullmatch(request.path)
                assert match is not None
                if match["name"] is not None:
                    raise ApiError(405, "MethodNotAllowed", "watch a collection (with a fieldSelector for one object)")
                resource, namespace = RESOURCES[match["plural"]], match["namespace"]
                wanted = _watch_filter(namespace, request.query)
                pending, since = self._watch_start(resource, wanted, request)
            except ApiError as e:
                payload = json.dumps(e.status()).encode()
                handler.send_response(e.code)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(payload)))
                handler.end_headers()
                handler.wfile.write(payload)
                return
        handler.protocol_version = "HTTP/1.1"  # chunked transfer needs it; this connection closes after
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        deadline = time.monotonic() + float(request.query.get("timeoutSeconds") or 1800)
        bookmarks = request.query.get("allowWatchBookmarks") in ("true", "1")
        try:
            while True:
                for event in pending:
                    data = json.dumps(event).encode() + b"\n"
                    handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                handler.wfile.flush()
                if pending and pending[-1]["type"] == "ERROR":
                    break
                with self._lock:
                    pending, since, done = self._watch_next(resource, wanted, request, since, deadline, bookmarks)
                if done:
                    break
            handler.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _watch_start(
        self, resource: Resource, wanted: Callable[[Key, dict[str, Any]], bool], request: Request
    ) -> tuple[list[dict[str, Any]], int]:
        """The first events: the current objects as ADDED (no resourceVersion, or "0"), or every
        event after the given resourceVersion, or 410 Gone when those events were compacted."""
        start = request.query.get("resourceVersion") or "0"
        if start == "0":
            current = [(k, o) for k, o in sorted(self.objects.items()) if k[0] == resource.plural and wanted(k, o)]
            return [self._event("ADDED", obj, request) for _, obj in current], self._latest
        if int(start) < self._compacted:
            status = ApiError(410, "Expired", f"too old resource version: {start} ({self._compacted})").status()
            return [{"type": "ERROR", "object": status}], self._latest
        return self._events_after(resource, wanted, request, int(start)), self._latest

    def _watch_next(
        self,
        resource: Resource,
        wanted: Callable[[Key, dict[str, Any]], bool],
        request: Request,
        since: int,
        deadline: float,
        bookmarks: bool,
    ) -> tuple[list[dict[str, Any]], int, bool]:
        """Wait (holding the lock's condition) for events after `since`; (events, since, done)."""
        assert self._changed is not None
        while not self._stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return [], since, True
            if self._latest > since:
                return self._events_after(resource, wanted, request, since), self._latest, False
            if not self._changed.wait(min(remaining, self.bookmark_seconds)) and bookmarks:
                meta = {"resourceVersion": str(self._latest)}
                bookmark = {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": meta}
                return [{"type": "BOOKMARK", "object": bookmark}], since, False
        return [], since, True

    def _events_after(
        self, resource: Resource, wanted: Callable[[Key, dict[str, Any]], bool], request: Request, since: int
    ) -> list[dict[str, Any]]:
        return [
            self._event(kind, obj, request)
            for version, kind, key, obj in self._events
            if version > since and key[0] == resource.plural and wanted(key, obj)
        ]

    @staticmethod
    def _event(kind: str, obj: dict[str, Any], request: Request) -> dict[str, Any]:
        return {"type": kind, "object": copy.deepcopy(_view(obj, request.accept, "PartialObjectMetadata"))}

    def _existing(self, key: Key) -> dict[str, Any]:
        obj = self.objects.get(key)
        if obj is None:
            raise ApiError(404, "NotFound", f'{key[0]} "{key[2]}" not found', key[2], key[0])
        return obj

    def _stamp(self, obj: dict[str, Any], *, new: bool) -> dict[str, Any]:
        meta = obj["metadata"]
        if new:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = self.second or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta["resourceVersion"] = str(next(self._versions))
        return obj


def _validate_update(key: Key, existing: dict[str, Any] | None, obj: dict[str, Any]) -> None:
    """The API server's ValidateSecretUpdate (pkg/apis/core/validation): a Secret's type never
    changes, and an immutable Secret keeps its data and stays immutable. 422 otherwise."""
    if key[0] != "secrets" or existing is None:
        return
    problems = []
    if (obj.get("type") or existing.get("type")) != existing.get("type"):
        problems.append("type: Invalid value: field is immutable")
    if existing.get("immutable") is True:
        if obj.get("immutable") is not True:
            problems.append("immutable: Forbidden: field is immutable when `immutable` is set")
        if (obj.get("data") or {}) != (existing.get("data") or {}):
            problems.append("data: Forbidden: field is immutable when `immutable` is set")
    if problems:
        raise ApiError(422, "Invalid", f'Secret "{key[2]}" is invalid: ' + ", ".join(problems), key[2], key[0])


def _typed(obj: dict[str, Any], resource: Resource) -> dict[str, Any]:
    """The API server takes apiVersion and kind from the URL when the body leaves them out."""
    obj.setdefault("apiVersion", resource.api_version)
    obj.setdefault("kind", resource.kind)
    return obj


def _watch_filter(namespace: str | None, query: dict[str, str]) -> Callable[[Key, dict[str, Any]], bool]:
    """Which objects a watch sees: its namespace, labelSelector and fieldSelector
    (`metadata.name` and `metadata.namespace`, equality only)."""
    labels = _selector(query.get("labelSelector", ""))
    fields: dict[str, str] = {}
    for term in filter(None, (t.strip() for t in query.get("fieldSelector", "").split(","))):
        name, _, value = term.replace("==", "=").partition("=")
        if name not in ("metadata.name", "metadata.namespace") or not value:
            raise ApiError(400, "BadRequest", f"field label not supported by the fake: {name}")
        fields[name] = value

    def wanted(key: Key, obj: dict[str, Any]) -> bool:
        _, ns, name = key
        if namespace not in (None, ns) or fields.get("metadata.name", name) != name:
            return False
        return fields.get("metadata.namespace", ns) == ns and labels(obj["metadata"].get("labels") or {})

    return wanted


def _blank(api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}}


def _merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """RFC 7386 JSON merge patch, in place: null removes a key, objects merge, the rest replaces."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_patch(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


Field = tuple[str, ...]  # ("data", key), ("metadata", "labels", key), ("type",), ("immutable",)


def _fields(obj: dict[str, Any]) -> set[Field]:
    """The fields an object (or an applied configuration) sets, as the API server tracks them:
    each leaf of a map (lists are atomic), the labels and annotations by key, and the owner
    references; not `status`, not the write-only `stringData`, not the object's identity."""

    def leaves(node: Any, prefix: Field) -> set[Field]:
        if isinstance(node, dict):
            return {f for key, sub in node.items() for f in leaves(sub, (*prefix, key))}
        return {prefix}

    found: set[Field] = set()
    for key, value in obj.items():
        if key not in ("apiVersion", "kind", "metadata", "status", "stringData"):
            found |= leaves(value, (key,))
    meta = obj.get("metadata") or {}
    found |= {("metadata", section, key) for section in ("labels", "annotations") for key in meta.get(section) or {}}
    if meta.get("ownerReferences"):
        found.add(("metadata", "ownerReferences"))
    return found


def _owned_fields(entry: dict[str, Any]) -> set[Field]:
    """The fields a managedFields entry owns, read back from its FieldsV1."""

    def walk(tree: dict[str, Any], prefix: Field) -> set[Field]:
        if not tree:
            return {prefix}
        return {f for key, sub in tree.items() for f in walk(sub, (*prefix, key.removeprefix("f:")))}

    return {f for f in walk(entry.get("fieldsV1") or {}, ()) if f}


def _remove(obj: dict[str, Any], path: Field) -> None:
    *parents, last = path
    node = obj
    for part in parents:
        node = node.get(part) or {}
    node.pop(last, None)


def _managed(manager: str, fields: set[Field], operation: str = "Apply") -> dict[str, Any]:
    """A managedFields entry: who wrote which fields (FieldsV1), as the API server records it."""
    tree: dict[str, Any] = {}
    for path in sorted(fields):
        node = tree
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"manager": manager, "operation": operation, "apiVersion": "v1", "time": now, "fieldsType": "FieldsV1",
            "fieldsV1": tree}  # fmt: skip


_CHECKS: dict[str, Callable[[dict[str, str], str, str], bool]] = {
    "=": lambda labels, k, v: labels.get(k) == v,
    "!=": lambda labels, k, v: labels.get(k) != v,
    "exists": lambda labels, k, v: k in labels,
    "!": lambda labels, k, v: k not in labels,
}


def _selector(text: str) -> Callable[[dict[str, str]], bool]:
    """Equality-based selectors: `k=v`, `k==v`, `k!=v`, `k` (exists), `!k` (does not exist)."""
    tests: list[tuple[str, str, str]] = []  # (operator, key, value)
    for term in filter(None, (t.strip() for t in text.split(","))):
        if "=" in term:
            op = "!=" if "!=" in term else "="
            key, _, value = term.replace("==", "=").partition(op)
            tests.append((op, key.strip(), value.strip()))
        elif re.fullmatch(r"!?[A-Za-z0-9./_-]+", term):
            tests.append(("!", term[1:], "") if term.startswith("!") else ("exists", term, ""))
        else:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")
    return lambda labels: all(_CHECKS[op](labels, key, value) for op, key, value in tests)


def _wants(accept: str | None, kind: str) -> bool:
    return f"as={kind};" in (accept or "").replace(" ", "") + ";"


def _view(obj: dict[str, Any], accept: str | None, kind: str) -> dict[str, Any]:
    if _wants(accept, kind):
        return {"kind": kind, "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
    return obj


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused."""
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as server:
        port = server.server_address[1]
    return f"http://127.0.0.1:{port}"


def write_kubeconfig(path: Path, contexts: dict[str, FakeKube | str], current: str | None = None) -> Path:
    """A kubeconfig with one cluster, token user and context per entry (a server or a URL)."""
    clusters, users, entries = [], [], []
    for name, target in contexts.items():
        url = target.url if isinstance(target, FakeKube) else target
        token = target.token if isinstance(target, FakeKube) else "no-token"
        clusters.append({"name": f"{name}-cluster", "cluster": {"server": url}})
        users.append({"name": f"{name}-user", "user": {"token": token}})
        entries.append({"name": name, "context": {"cluster": f"{name}-cluster", "user": f"{name}-user"}})
    document = {"apiVersion": "v1", "kind": "Config", "clusters": clusters, "users": users, "contexts": entries}
    document["current-context"] = current or next(iter(contexts))
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture
def fake_kube() -> Iterator[FakeKube]:
    with FakeKube() as server:
        yield server
