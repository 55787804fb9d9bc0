"""Frozen models of what the source holds and what the generator produces."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

API_VERSION = "riverpointtechnology.com/v1alpha1"
KIND = "FleetHandshake"
DEFAULT_WORKSPACE = "fleet-default"
LABEL_PREFIX = "fleethandshake.riverpointtechnology.com"
LABEL_HANDSHAKE = f"{LABEL_PREFIX}/handshake"
LABEL_WORKSPACE = f"{LABEL_PREFIX}/workspace"
LABEL_SOURCE = f"{LABEL_PREFIX}/source"  # which source (and output) wrote it: see core/ownership.py
# Controller mode: a downstream copy that another handshake reads, applied without an owner
# reference (the garbage collector would delete it with its handshake); the value is that uid.
LABEL_COPY_OF = f"{LABEL_PREFIX}/copy-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "fleet-handshake"
ANNOTATION_MODE = f"{LABEL_PREFIX}/mode"  # per-handshake override of the source's delivery mode


def item_path(item: int | None, path: str) -> str:
    """`path` inside item `item` of a List document (`items[3].spec.targets[0]`); `path` itself
    for a document that is not a List."""
    if item is None:
        return path
    base = f"items[{item}]"
    return base + ("" if not path else path if path.startswith("[") else f".{path}")


class Status(StrEnum):
    """The original operator's status words."""

    PENDING = "Pending"
    MISSING = "Missing"
    SYNCED = "Synced"
    ERROR = "Error"


class SecretValue:
    """A decrypted value. Its repr and str never show it; only `reveal()` does."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretValue(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("SecretValue", self._value))

    def __reduce__(self) -> Any:
        raise TypeError("secret values are not pickled")


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "operator": self.operator}
        if self.values:
            out["values"] = list(self.values)
        return out


@dataclass(frozen=True)
class LabelSelector:
    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.match_labels:
            out["matchLabels"] = dict(self.match_labels)
        if self.match_expressions:
            out["matchExpressions"] = [r.to_dict() for r in self.match_expressions]
        return out


@dataclass(frozen=True)
class Target:
    """A Fleet BundleTarget, reduced to the fields that choose clusters.

    `do_not_deploy`: the clusters this target matches get nothing from the handshake (Fleet's
    `doNotDeploy`): it has no bundle of its own and excludes its clusters from later targets.
    """

    name: str | None = None
    cluster_name: str | None = None
    cluster_selector: LabelSelector | None = None
    cluster_group: str | None = None
    cluster_group_selector: LabelSelector | None = None
    do_not_deploy: bool = False

    def to_dict(self) -> dict[str, Any]:
        """camelCase, as Fleet's GitTarget and BundleTarget spell it."""
        fields = {
            "name": self.name,
            "clusterName": self.cluster_name,
            "clusterSelector": self.cluster_selector and self.cluster_selector.to_dict(),
            "clusterGroup": self.cluster_group,
            "clusterGroupSelector": self.cluster_group_selector and self.cluster_group_selector.to_dict(),
            "doNotDeploy": self.do_not_deploy or None,
        }
        return {key: value for key, value in fields.items() if value is not None}

    def criteria(self) -> dict[str, Any]:
        out = self.to_dict()
        out.pop("name", None)
        out.pop("doNotDeploy", None)
        return out

    @property
    def key(self) -> str:
        """What a target may not share with another target of its handshake (validation).

        A named target is its name; an unnamed one is its criteria. (Bundle names cover more:
        bundles.bundle_identity.)
        """
        if self.name:
            return f"name:{self.name}"
        return "criteria:" + json.dumps(self.criteria(), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Handshake:
    workspace: str
    name: str
    secret_name: str
    secret_namespace: str
    target_namespace: str
    targets: tuple[Target, ...]
    file: str
    document: int
    mode: str | None = None  # from the annotation; None means the source's default
    item: int | None = None  # an item of a List document: `items[item]`

    @property
    def ref(self) -> str:
        return f"{self.workspace}/{self.name}"


@dataclass(frozen=True)
class SourceSecret:
    """An encrypted Secret manifest found in the source, identified by clear-text metadata."""

    namespace: str
    name: str
    file: str
    document: int
    item: int | None = None  # an item of a List document: `items[item]`

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class PlainSecret:
    """A decrypted Secret, ready to render. Values stay wrapped until serialised."""

    name: str
    type: str
    data: tuple[tuple[str, SecretValue], ...] = ()  # base64, as the API server stores it; stringData folded in
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    immutable: bool | None = None


@dataclass(frozen=True)
class Source:
    """Everything the source holds, validated."""

    handshakes: tuple[Handshake, ...]
    secrets: tuple[SourceSecret, ...] = ()
