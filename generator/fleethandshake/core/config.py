"""The source's configuration: the default delivery mode and the sops-mode recipients.

Lives in `SOURCE/.fleet-handshake.yaml` (hidden, so the source scan skips it). Every field is
optional; no file means plain mode.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import Problem
from ..modes import DEFAULT, NAMES
from .models import Target
from .ownership import source_name_problem
from .validate_handshake import parse_selector
from .yaml.reader import Document, join

CONFIG_FILE = ".fleet-handshake.yaml"
CONFIG_API_VERSION = "fleet-handshake/v1alpha1"
_SCOPES = ("clusterName", "clusterGroup", "clusterSelector", "clusterGroupSelector", "targetName")
_AGE_RECIPIENT = re.compile(r"age1[02-9ac-hj-np-z]{58}")


@dataclass(frozen=True)
class RecipientScope:
    """Age recipients for the targets that name this cluster, group, selector or target name."""

    kind: str  # one of _SCOPES
    value: str  # a name, or a selector as canonical JSON
    age: tuple[str, ...]


@dataclass(frozen=True)
class Config:
    mode: str = DEFAULT
    recipients: tuple[RecipientScope, ...] = field(default_factory=tuple)
    source: str | None = None  # the source identity (core/ownership.py); None: derived from OUT

    def recipients_for(self, target: Target) -> tuple[str, ...]:
        """Every scope equal to one of the target's criteria contributes its recipients.

        Within a target the criteria are ANDed, so each criterion's scope covers every cluster
        the target reaches; the union may include clusters outside the AND (documented).
        """
        wanted = {("targetName", target.name), ("clusterName", target.cluster_name),
                  ("clusterGroup", target.cluster_group)}  # fmt: skip
        if target.cluster_selector is not None:
            wanted.add(("clusterSelector", _canonical(target.cluster_selector.to_dict())))
        if target.cluster_group_selector is not None:
            wanted.add(("clusterGroupSelector", _canonical(target.cluster_group_selector.to_dict())))
        found = {r for scope in self.recipients if (scope.kind, scope.value) in wanted for r in scope.age}
        return tuple(sorted(found))


def _canonical(selector: Any) -> str:
    return json.dumps(selector, sort_keys=True, separators=(",", ":"))


def parse_config(doc: Document | None, file: str = CONFIG_FILE) -> tuple[Config, list[Problem]]:
    if doc is None or doc.data is None:
        return Config(), []
    problems: list[Problem] = []

    def add(path: str, message: str) -> None:
        problems.append(Problem(file, doc.index, path, message, doc.line(path)))

    data = doc.data
    if not isinstance(data, dict):
        add("", "must be a mapping")
        return Config(), problems
    for key in data:
        if key not in ("apiVersion", "kind", "mode", "source", "sops"):
            add(str(key), "unknown field (allowed: apiVersion, kind, mode, source, sops)")
    if data.get("apiVersion", CONFIG_API_VERSION) != CONFIG_API_VERSION:
        add("apiVersion", f"must be {CONFIG_API_VERSION}")
    mode = data.get("mode", DEFAULT)
    if mode not in NAMES:
        add("mode", f"must be one of {', '.join(NAMES)}")
        mode = DEFAULT
    source = data.get("source")
    if source is not None:
        problem = source_name_problem(source) if isinstance(source, str) else "must be a string"
        if problem is not None:
            add("source", problem)
            source = None
    scopes: list[RecipientScope] = []
    sops = data.get("sops") or {}
    if not isinstance(sops, dict) or any(k != "recipients" for k in sops):
        add("sops", "must be a mapping with `recipients` only")
        sops = {}
    raw = sops.get("recipients") or []
    if not isinstance(raw, list):
        add("sops.recipients", "must be a list")
        raw = []
    for i, entry in enumerate(raw):
        scope = _scope(entry, join("sops.recipients", i), add)
        if scope is not None:
            scopes.append(scope)
    return Config(str(mode), tuple(scopes), source), problems


def _scope(entry: Any, path: str, add: Any) -> RecipientScope | None:
    if not isinstance(entry, dict):
        add(path, "must be a mapping with one scope (clusterName, clusterGroup, clusterSelector, "
            "clusterGroupSelector or targetName) and `age`")  # fmt: skip
        return None
    kinds = [k for k in entry if k in _SCOPES]
    unknown = [k for k in entry if k not in _SCOPES and k != "age"]
    for k in unknown:
        add(join(path, str(k)), f"unknown field (allowed: {', '.join(_SCOPES)}, age)")
    if len(kinds) != 1:
        add(path, f"needs exactly one scope of {', '.join(_SCOPES)}")
        return None
    kind = kinds[0]
    value = entry[kind]
    if kind in ("clusterSelector", "clusterGroupSelector"):
        selector, selector_problems = parse_selector(value, join(path, kind))
        for p in selector_problems:
            add(p.path, p.message)
        if selector is None:
            return None
        text = _canonical(selector.to_dict())
    elif isinstance(value, str) and value:
        text = value
    else:
        add(join(path, kind), "must be a non-empty string")
        return None
    age = entry.get("age")
    if not isinstance(age, list) or not age:
        add(join(path, "age"), "must list at least one age recipient (age1...)")
        return None
    bad = [i for i, r in enumerate(age) if not isinstance(r, str) or not _AGE_RECIPIENT.fullmatch(r)]
    for i in bad:
        add(join(join(path, "age"), i), "is not an age recipient (age1 followed by 58 characters)")
    if bad:
        return None
    return RecipientScope(kind, text, tuple(age))
