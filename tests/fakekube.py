"""A fake Kubernetes API server for core/v1 Secrets, spoken to by the real `kubernetes` client.

Enough of the REST protocol for the Kubernetes adapter: GET/LIST with equality and existence
label selectors, server-side apply (PATCH application/apply-patch+yaml) with field ownership, DELETE with uid and
resourceVersion preconditions, metadata-only reads (PartialObjectMetadata), bearer-token
authentication, `Status` error bodies and `/version`. Plain HTTP on 127.0.0.1, an ephemeral port.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import threading
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
_SECRET = re.compile(r"/api/v1/namespaces/([^/]+)/secrets(?:/([^/]+))?")


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


class ApiError(Exception):
    """Answered as a `Status` object with this code, reason and message."""

    def __init__(self, code: int, reason: str, message: str, name: str = "") -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.name = code, reason, message, name

    def status(self) -> dict[str, Any]:
        details = {"name": self.name, "kind": "secrets"} if self.name else {}
        head = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
        return head | {"message": self.message, "reason": self.reason, "details": details, "code": self.code}


@dataclass
class FakeKube:
    """The server and its state. `secrets` maps (namespace, name) to the stored object."""

    token: str = "fake-token"
    secrets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    # RBAC on secrets, as the API server authorises each request: None allows every verb.
    allowed_verbs: set[str] | None = None
    verbs_used: set[str] = field(default_factory=set)  # every verb a request was authorised for
    _failures: list[tuple[str | None, int, str, str]] = field(default_factory=list)
    _hooks: list[tuple[str, Callable[[FakeKube], None]]] = field(default_factory=list)
    _versions: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _server: ThreadingHTTPServer | None = None

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

    def put_secret(
        self, namespace: str, name: str, data: dict[str, str], labels: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Store a Secret as if kubectl had created it (`data` in clear text); returns a copy."""
        obj = {**_blank(namespace, name), "type": "Opaque", "data": {k: _b64(v) for k, v in data.items()}}
        obj["metadata"] |= {"labels": dict(labels or {})}
        obj["metadata"]["managedFields"] = [_managed("kubectl-create", _fields(obj), operation="Update")]
        with self._lock:
            self.secrets[(namespace, name)] = self._stamp(obj, new=True)
            return copy.deepcopy(obj)

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
        match = _SECRET.fullmatch(request.path)
        if match is None:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource {request.path}")
        namespace, name = match.groups()
        self._authorize(request, namespace, name)
        if name is None:
            if request.method != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the collection")
            return 200, self._list(namespace, request)
        handlers = {"GET": self._get, "PATCH": self._apply, "DELETE": self._delete}
        if request.method not in handlers:
            raise ApiError(405, "MethodNotAllowed", f"{request.method} is not supported by the fake")
        return handlers[request.method](namespace, name, request)

    def _authorize(self, request: Request, namespace: str, name: str | None) -> None:
        """The verbs the API server checks: get or list for GET, delete for DELETE, patch for
        PATCH, and create as well when an apply patch creates the object (apiserver
        endpoints/handlers/patch.go: createAuthorizerAttributes)."""
        verbs = {"GET": ["get" if name else "list"], "DELETE": ["delete"], "PATCH": ["patch"]}.get(request.method, [])
        if request.method == "PATCH" and name is not None and (namespace, name) not in self.secrets:
            verbs.append("create")
        for verb in verbs:
            if self.allowed_verbs is not None and verb not in self.allowed_verbs:
                raise ApiError(
                    403, "Forbidden", f'secrets is forbidden: cannot {verb} resource "secrets" in {namespace}'
                )
            self.verbs_used.add(verb)

    def _get(self, namespace: str, name: str, request: Request) -> tuple[int, dict[str, Any]]:
        return 200, _view(self._existing(namespace, name), request.accept, "PartialObjectMetadata")

    def _list(self, namespace: str, request: Request) -> dict[str, Any]:
        match = _selector(request.query.get("labelSelector", ""))
        items = [
            obj
            for (ns, _), obj in sorted(self.secrets.items())
            if ns == namespace and match(obj["metadata"].get("labels") or {})
        ]
        if _wants(request.accept, "PartialObjectMetadataList"):
            view = [{"metadata": obj["metadata"]} for obj in items]
            kind, api = "PartialObjectMetadataList", "meta.k8s.io/v1"
        else:
            view, kind, api = items, "SecretList", "v1"
        return {"kind": kind, "apiVersion": api, "metadata": {"resourceVersion": "1"}, "items": view}

    def _apply(self, namespace: str, name: str, request: Request) -> tuple[int, dict[str, Any]]:
        if (request.content_type or "").split(";")[0].strip() != APPLY_PATCH:
            raise ApiError(415, "UnsupportedMediaType", f"the fake only accepts {APPLY_PATCH} patches")
        manager = request.field_manager
        if not manager:
            raise ApiError(422, "Invalid", "PatchOptions.meta.k8s.io is invalid: fieldManager is required for apply")
        applied = yaml.safe_load(request.body)
        meta = applied.get("metadata") or {}
        if applied.get("kind") != "Secret" or applied.get("apiVersion") != "v1" or meta.get("name") != name:
            raise ApiError(400, "BadRequest", "the applied object is not this v1 Secret", name)
        if meta.get("namespace") not in (None, namespace):
            raise ApiError(400, "BadRequest", "the namespace of the object does not match the request", name)
        existing = self.secrets.get((namespace, name))
        wanted_version = meta.get("resourceVersion")
        if wanted_version and (existing is None or existing["metadata"]["resourceVersion"] != wanted_version):
            raise ApiError(409, "Conflict", "the object has been modified; please apply to the latest version", name)
        obj = copy.deepcopy(existing) or {**_blank(namespace, name), "type": "Opaque"}
        entries = obj["metadata"].get("managedFields", [])
        managers = [entry for entry in entries if entry["manager"] != manager]
        if managers and request.query.get("force") != "true":  # coarse: any other manager conflicts
            others = ", ".join(sorted(entry["manager"] for entry in managers))
            raise ApiError(409, "Conflict", f"Apply failed with conflicts: conflict with {others}", name)
        # Server-side apply: a field this manager set before and no longer sets, and that no other
        # manager owns, is removed. stringData is write-only: what it wrote is stored as data but
        # owned by nobody, so a key dropped from stringData stays (kubernetes/kubernetes#108008).
        before = {f for entry in entries if entry["manager"] == manager for f in _owned_fields(entry)}
        wanted = _fields(applied)
        kept_by_others = {f for entry in managers for f in _owned_fields(entry)} - wanted
        for gone in before - wanted - kept_by_others:
            _remove(obj, gone)
        string_data = {k: _b64(v) for k, v in (applied.get("stringData") or {}).items()}  # stored as data
        obj.setdefault("data", {}).update({**(applied.get("data") or {}), **string_data})
        for section in ("labels", "annotations"):
            if meta.get(section):
                obj["metadata"].setdefault(section, {}).update(meta[section])
        obj["type"] = applied.get("type", obj["type"])
        others = [_managed(e["manager"], _owned_fields(e) - wanted, e.get("operation", "Apply")) for e in managers]
        obj["metadata"]["managedFields"] = [*others, _managed(manager, wanted)]
        self.secrets[(namespace, name)] = self._stamp(obj, new=existing is None)
        return (201 if existing is None else 200), obj

    def _delete(self, namespace: str, name: str, request: Request) -> tuple[int, dict[str, Any]]:
        obj = self._existing(namespace, name)
        preconditions = (json.loads(request.body) if request.body else {}).get("preconditions") or {}
        for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            if preconditions.get(key) and preconditions[key] != obj["metadata"][key]:
                message = f"Precondition failed: {label} in precondition: {preconditions[key]}"
                raise ApiError(409, "Conflict", f"{message}, {label} in object meta: {obj['metadata'][key]}", name)
        del self.secrets[(namespace, name)]
        details = {"name": name, "kind": "secrets", "uid": obj["metadata"]["uid"]}
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def _existing(self, namespace: str, name: str) -> dict[str, Any]:
        obj = self.secrets.get((namespace, name))
        if obj is None:
            raise ApiError(404, "NotFound", f'secrets "{name}" not found', name)
        return obj

    def _stamp(self, obj: dict[str, Any], *, new: bool) -> dict[str, Any]:
        meta = obj["metadata"]
        if new:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta["resourceVersion"] = str(next(self._versions))
        return obj


def _blank(namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace}}


Field = tuple[str, ...]  # ("data", key), ("metadata", "labels", key), ("type",), ("immutable",)


def _fields(obj: dict[str, Any]) -> set[Field]:
    """The fields an object (or an applied configuration) sets, as the API server tracks them."""
    found: set[Field] = {(name,) for name in ("type", "immutable") if name in obj}
    found |= {("data", key) for key in obj.get("data") or {}}
    meta = obj.get("metadata") or {}
    found |= {("metadata", section, key) for section in ("labels", "annotations") for key in meta.get(section) or {}}
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
