"""`import`: FleetHandshakes and the Secrets they reference, as read from a cluster or an export,
made into source files (pure: cleaning objects, choosing file names, pairing).

What the original operator delivered decides what a Secret keeps: it built the delivered Secret
from the source Secret's name, `data`, `stringData` and `type` only, in the handshake's
`targetNamespace` (rptcloud/fleet-handshake, operator/internal/controller/
fleethandshake_controller.go, Reconcile). So an imported Secret keeps exactly those (and its
namespace, which is how a handshake finds it): no labels, no annotations. Above all not
`kubectl apply`'s last-applied annotation, which holds the values in clear text.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import names
from .collector import kind_of
from .models import API_VERSION, DEFAULT_WORKSPACE, KIND, SecretValue
from .render import go_base64_decode
from .validate import is_handshake, is_secret, list_items
from .validate_handshake import META_KEYS
from .validate_secret import LAST_APPLIED

# ObjectMeta written by the API server or by controllers on it (every field a handshake may carry
# but these): meaningless in git.
SERVER_FIELDS = frozenset(META_KEYS - {"name", "namespace", "labels", "annotations"})
HANDSHAKES_DIR = "handshakes"
SECRETS_DIR = "secrets"
SecretRef = tuple[str, str]  # (namespace, name)


def found_objects(objects: Iterable[Any]) -> tuple[list[dict[str, Any]], dict[SecretRef, dict[str, Any]]]:
    """The FleetHandshakes and the v1 Secrets among `objects` (items of a List too), in order."""
    handshakes: list[dict[str, Any]] = []
    secrets: dict[SecretRef, dict[str, Any]] = {}
    pending = list(objects)
    while pending:
        obj = pending.pop(0)
        listed = list_items(obj)
        if listed is not None:
            items, default = listed
            for item in items if isinstance(items, list) else ():
                if default is not None and isinstance(item, dict):
                    item = {"kind": default[0], "apiVersion": default[1], **item}
                pending.append(item)
        elif is_handshake(obj):
            handshakes.append(obj)
        elif is_secret(obj):
            meta = obj.get("metadata")
            if isinstance(meta, dict) and isinstance(meta.get("name"), str):
                secrets[(str(meta.get("namespace") or "default"), meta["name"])] = obj
    return handshakes, secrets


def _metadata(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return dict(meta) if isinstance(meta, Mapping) else {}


def clean_handshake(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The handshake as it belongs in git: no status, no server-written metadata."""
    meta = {k: v for k, v in _metadata(obj).items() if k not in SERVER_FIELDS}
    annotations = meta.pop("annotations", None)
    if isinstance(annotations, Mapping):
        kept = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        if kept:
            meta["annotations"] = kept
    if not meta.get("labels"):
        meta.pop("labels", None)
    return {"apiVersion": obj.get("apiVersion", API_VERSION), "kind": KIND, "metadata": meta, "spec": obj.get("spec")}


def clean_secret(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The Secret as the original operator delivered it (name, type, data, stringData), in its
    namespace; every value a SecretValue, revealed only when the clear text is piped to sops."""
    meta = _metadata(obj)
    cleaned: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace") or "default"},
    }
    if isinstance(obj.get("type"), str) and obj["type"]:
        cleaned["type"] = obj["type"]
    for section in ("data", "stringData"):
        values = obj.get(section)
        if isinstance(values, Mapping) and values:
            cleaned[section] = {str(k): SecretValue(str(v)) for k, v in values.items()}
    return cleaned


def secret_problem(obj: Mapping[str, Any]) -> str | None:
    """Why the Secret's values cannot be imported as they are, or None. Kubernetes takes only
    strings there: a number, boolean, null or binary value of a hand-made export (`017`, `true`,
    `~`) would come out as Python writes it (`15`, `True`, `None`), a value nobody had."""
    for section in ("data", "stringData"):
        values = obj.get(section)
        if values is None:
            continue
        if not isinstance(values, Mapping):
            return f"{section} must be a mapping, not {kind_of(values)}"
        for key, value in values.items():
            if not isinstance(key, str):
                return f"a key of {section} is {kind_of(key)}, not a string"
            if not isinstance(value, str):
                return f"the value of {section}[{key!r}] is {kind_of(value)}, not a string (quote it in the export)"
            if section == "data" and not _is_base64(value):  # the API server refuses it; generate would too
                return f"the value of data[{key!r}] is not base64 (clear text belongs under stringData)"
    return None


def _is_base64(value: str) -> bool:
    try:
        go_base64_decode(value)
    except (binascii.Error, ValueError):
        return False
    return True


def handshake_file(workspace: str, name: str) -> str:
    return f"{HANDSHAKES_DIR}/{workspace}/{name}.yaml"


def secret_file(namespace: str, name: str) -> str:
    return f"{SECRETS_DIR}/{namespace}/{name}.yaml"


@dataclass(frozen=True)
class Entry:
    """One handshake to import, with the Secret it references (None: not found)."""

    workspace: str
    name: str
    path: str  # where the handshake goes, relative to SOURCE
    handshake: dict[str, Any]
    secret_ref: SecretRef
    secret_path: str
    secret: dict[str, Any] | None
    secret_problem: str | None = None  # why the Secret found cannot be imported

    @property
    def ref(self) -> str:
        return f"{self.workspace}/{self.name}"


@dataclass(frozen=True)
class Refused:
    """A handshake that cannot become a file: its names would not make a safe path."""

    ref: str
    reason: str


def pair(
    handshakes: Iterable[Mapping[str, Any]], secrets: Mapping[SecretRef, Mapping[str, Any]]
) -> tuple[list[Entry], list[Refused]]:
    """Each handshake with its Secret and the files they go to, sorted by workspace and name.

    Names become paths only once they are valid Kubernetes names (no `/`, never `.` or `..`)."""
    entries: list[Entry] = []
    refused: list[Refused] = []
    for obj in handshakes:
        meta, spec = _metadata(obj), obj.get("spec")
        workspace, name = meta.get("namespace") or DEFAULT_WORKSPACE, meta.get("name")
        spec = spec if isinstance(spec, Mapping) else {}
        secret_ns, secret_name = spec.get("secretNamespace"), spec.get("secretName")
        ref = f"{workspace}/{name}"
        checks = (
            ("metadata.namespace", workspace, names.dns1123_label_problem),
            ("metadata.name", name, names.dns1123_subdomain_problem),
            ("spec.secretNamespace", secret_ns, names.dns1123_label_problem),
            ("spec.secretName", secret_name, names.dns1123_subdomain_problem),
        )
        problem = next(
            (
                f"{path} {'must be a string' if not isinstance(value, str) else rule(value)}"
                for path, value, rule in checks
                if not isinstance(value, str) or rule(value)
            ),
            None,
        )
        if problem is not None or not isinstance(name, str):
            refused.append(Refused(ref, problem or "metadata.name must be a string"))
            continue
        assert isinstance(secret_ns, str) and isinstance(secret_name, str)
        found = secrets.get((secret_ns, secret_name))
        entries.append(
            Entry(
                workspace=workspace,
                name=name,
                path=handshake_file(workspace, name),
                handshake=clean_handshake(obj),
                secret_ref=(secret_ns, secret_name),
                secret_path=secret_file(secret_ns, secret_name),
                secret=None if found is None else clean_secret(found),
                secret_problem=None if found is None else secret_problem(found),
            )
        )
    return sorted(entries, key=lambda e: (e.workspace, e.name)), refused
