"""Render handshakes into an in-memory tree of bundle files: `{relative path: bytes}`."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from .bundles import Bundle
from .models import (
    LABEL_HANDSHAKE,
    LABEL_MANAGED_BY,
    LABEL_SOURCE,
    LABEL_WORKSPACE,
    MANAGER,
    Handshake,
    PlainSecret,
    SecretValue,
)
from .names import is_secret_key, label_key_problem, label_value_problem
from .secrettypes import type_problem
from .yaml import emitter as yamlemit

MAX_SECRET_BYTES = 1024 * 1024  # the API server's limit on one Secret: the bytes of its data values together
MAX_ANNOTATION_BYTES = 256 * 1024  # the API server's limit on an object's annotations, keys and values together
MAX_BUNDLE_GZIP = 1_000_000  # Fleet stores a bundle's content gzipped in one object, under etcd's limit
FLEET_YAML = "fleet.yaml"
STATE_DIR = ".fleet-handshake"
# What the renderer writes beyond the templates: raise it when that changes, so that a handshake
# reused unchanged from an earlier run is rendered again (2: every string quoted, data only,
# 64-bit bundle identities).
OUTPUT_FORMAT = 2

if TYPE_CHECKING:
    import jinja2

Tree = dict[str, bytes]


class RenderError(Exception):
    """A decrypted Secret cannot be delivered. The message names keys, never values."""


def _represent_str(dumper: Any, value: str) -> yaml.Node:
    # One rule for every string written, key or value: double quotes. Go's readers
    # (sigs.k8s.io/yaml for kubectl, the API server's clients and Fleet; yaml.v3 for sops) and
    # PyYAML resolve plain scalars differently (`y`, `0o17`, `1e3`, `1:30`), and single quotes
    # cannot carry a line break or a control character; a double-quoted scalar is a string to
    # every one of them, and the emitter escapes whatever YAML could misread (NEL, LS, PS, BOM,
    # control characters).
    node: yaml.Node = dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return node


class Dumper(yaml.CSafeDumper):
    """The YAML dumper of `to_yaml`'s slow path: the one place where a SecretValue becomes text."""


Dumper.add_representer(str, _represent_str)
Dumper.add_representer(SecretValue, lambda dumper, value: _represent_str(dumper, value.reveal()))

# libyaml folds a long double-quoted line at a space; never fold (a C int is the limit).
WIDTH = 2**31 - 1


def to_yaml(data: Any) -> str:
    fast = yamlemit.emit(data)  # the same bytes, without PyYAML's per-node overhead, when it can
    if fast is not None:
        return fast
    text: str = yaml.dump(
        data, Dumper=Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=WIDTH
    )
    return text.rstrip("\n")


def make_environment(sources: Mapping[str, str]) -> jinja2.Environment:
    """Jinja2 for the templates (name -> source), with `to_yaml`; each is compiled once, when first used."""
    import jinja2

    # YAML, not HTML: autoescaping would corrupt it. Values enter only through to_yaml.
    env = jinja2.Environment(
        loader=jinja2.DictLoader(dict(sources)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["to_yaml"] = to_yaml
    return env


def fleet_document(handshake: Handshake, bundle: Bundle, source: str = "") -> dict[str, Any]:
    """fleet.yaml content for one target."""
    fleet: dict[str, Any] = {
        "name": bundle.name,
        "labels": owner_labels(handshake, source),
        "namespace": handshake.target_namespace,
        # A cluster that moves to another bundle of the same handshake (labels changed, targets
        # reordered, bundles renamed) meets the Secret still owned by the old bundle's Helm release:
        # the new release adopts it instead of failing, and when the old release's uninstall then
        # deletes it, drift correction puts it back at once (README: "When a cluster moves").
        "helm": {"takeOwnership": True},
        "correctDrift": {"enabled": True},
        "overrideTargets": [bundle.target.to_dict()],
    }
    earlier = handshake.targets[: bundle.target_index]
    if earlier:
        # First match wins across the handshake's targets: a cluster an earlier target
        # matches gets the Secret from that target's bundle (or, for a doNotDeploy target,
        # from none), not from this one as well.
        fleet["targetCustomizations"] = [{**t.to_dict(), "doNotDeploy": True} for t in earlier]
    return fleet


def present(**fields: Any) -> dict[str, Any]:
    """The fields that have a value: a Secret without labels writes no `labels: {}`."""
    return {k: dict(v) if isinstance(v, tuple) else v for k, v in fields.items() if v not in ((), None)}


def secret_document(handshake: Handshake, secret: PlainSecret) -> dict[str, Any]:
    metadata = {"name": secret.name, "namespace": handshake.target_namespace,
                **present(labels=secret.labels, annotations=secret.annotations)}  # fmt: skip
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": secret.type,
            **present(immutable=secret.immutable, data=secret.data)}  # fmt: skip


@dataclass(frozen=True)
class Sealed:
    """A file still to be encrypted (by an adapter) for exactly these recipients: the values of
    keys ending in `encrypted_suffix` are encrypted."""

    path: str
    plaintext: bytes = field(repr=False)
    recipients: tuple[str, ...]
    encrypted_suffix: str


@dataclass(frozen=True)
class Rendered:
    files: Tree = field(repr=False)  # plain mode: Secrets in clear text
    sealed: tuple[Sealed, ...] = ()
    management: tuple[dict[str, Any], ...] = ()  # Secrets to write on the management cluster
    undelivered: tuple[str, ...] = ()  # parts of the Secret the mode cannot deliver ("labels", ...)


def owner_labels(handshake: Handshake, source: str = "") -> dict[str, str]:
    labels = {LABEL_MANAGED_BY: MANAGER, LABEL_WORKSPACE: handshake.workspace, LABEL_HANDSHAKE: handshake.name}
    if source:
        labels[LABEL_SOURCE] = source
    return labels


def plain_secret(doc: Mapping[str, Any], name: str) -> PlainSecret:
    """Build the deliverable Secret from a decrypted manifest; errors name keys only."""
    meta = doc.get("metadata") or {}
    secret_type = doc.get("type") or "Opaque"  # the API server's default, for "" and null too
    if not isinstance(secret_type, str):
        raise RenderError("type must be a string")
    # Written as `data` only, as the API server stores it (stringData wins over data for a key):
    # a key later removed from stringData would otherwise stay on every cluster, because Helm's
    # three-way merge and server-side apply remove only fields they set (kubernetes#108008).
    raw = _values(doc.get("data"), "data", base64_encoded=True)
    raw.update(_values(doc.get("stringData"), "stringData", base64_encoded=False))
    total = sum(len(value) for value in raw.values())  # the API server's rule (ValidateSecret)
    if total > MAX_SECRET_BYTES:
        raise RenderError(f"the Secret's data is {total} bytes, over the API server's limit of 1 MiB")
    immutable = doc.get("immutable")
    if immutable is not None and not isinstance(immutable, bool):
        raise RenderError("immutable must be true or false")
    labels = _strings(meta.get("labels"), "metadata.labels")
    annotations = _strings(meta.get("annotations"), "metadata.annotations")
    _check_metadata(labels, annotations)
    problem = type_problem(secret_type, raw, dict(annotations))
    if problem is not None:
        raise RenderError(problem)
    return PlainSecret(
        name=name,
        type=secret_type,
        data=tuple((key, SecretValue(base64.b64encode(value).decode())) for key, value in sorted(raw.items())),
        labels=labels,
        annotations=annotations,
        immutable=immutable,
    )


def _check_metadata(labels: tuple[tuple[str, str], ...], annotations: tuple[tuple[str, str], ...]) -> None:
    """The API server's rules for labels and annotations (apimachinery ValidateLabels and
    ValidateAnnotations): a Secret that breaks them is refused on every cluster. Names keys only."""
    for key, value in labels:
        problem = label_key_problem(key)
        if problem is not None:
            raise RenderError(f"metadata.labels: a key is not a valid label key ({problem})")
        problem = label_value_problem(value)
        if problem is not None:
            raise RenderError(f"metadata.labels.{key}: {problem}")
    for key, _ in annotations:
        if label_key_problem(key.lower()) is not None:  # a qualified name; the prefix in any case
            raise RenderError("metadata.annotations: a key is not a valid annotation key ([prefix/]name)")
    size = sum(len(key.encode()) + len(value.encode()) for key, value in annotations)
    if size > MAX_ANNOTATION_BYTES:
        raise RenderError(f"metadata.annotations: {size} bytes, over the API server's limit of 256 KiB")


def go_base64_decode(text: str) -> bytes:
    """The bytes Kubernetes reads from a `data` value: Go's encoding/base64 (StdEncoding, as
    encoding/json decodes []byte) skips line breaks (CR and LF) anywhere and nothing else, and
    wants the padding; a value broken over lines (a `|` block) is valid to kubectl."""
    return base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True)


def _values(section: Any, where: str, *, base64_encoded: bool) -> dict[str, bytes]:
    """The bytes each key of `data` or `stringData` delivers (kept here only: they leave as SecretValue)."""
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise RenderError(f"{where} must be a mapping")
    out = {}
    for key in sorted(section, key=str):
        value = section[key]
        if not is_secret_key(key):
            raise RenderError(f"{where}: a key is not a valid Secret key")
        if value is None:  # `key:` with no value: the API server stores it empty
            out[key] = b""
            continue
        if not isinstance(value, str):
            raise RenderError(f"{where}.{key} must be a string after decryption")
        if not base64_encoded:
            out[key] = value.encode()
            continue
        try:
            out[key] = go_base64_decode(value)  # written back canonical: one line
        except (binascii.Error, ValueError):
            raise RenderError(f"{where}.{key} is not valid base64") from None
    return out


def _strings(section: Any, where: str) -> tuple[tuple[str, str], ...]:
    if section is None:
        return ()
    if not isinstance(section, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in section.items()):
        raise RenderError(f"{where} must map strings to strings")
    return tuple(sorted(section.items()))
