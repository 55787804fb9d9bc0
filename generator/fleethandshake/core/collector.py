"""Problems of one object, collected as validation goes; what its plain scalars mean to Go."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..errors import Problem
from .models import item_path
from .yaml.reader import UNCHECKED, Document, join


class Collector:
    """Problems of one object: a document, or an item of a List document (`items[3]`)."""

    def __init__(self, file: str, doc: Document, *, item: int | None = None, data: Any = None) -> None:
        self.file, self.doc, self.item = file, doc, item
        self.data = doc.data if item is None else data  # the object
        self.problems: list[Problem] = []
        top = doc.data if isinstance(doc.data, dict) else {}
        # SOPS metadata sits at the top of the document; a List's covers its items.
        self.sops_key, self.encrypted = "sops" in top, isinstance(top.get("sops"), dict)

    def add(self, path: str, message: str) -> None:
        full = item_path(self.item, path)
        self.problems.append(Problem(self.file, self.doc.index, full, message, self.doc.line(full)))

    def mapping(self, value: Any, path: str, allowed: set[str] | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.add(path, f"must be a mapping, not {kind_of(value)}")
            return {}
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    self.add(
                        join(path, str(key)),
                        f"unknown field (allowed: {', '.join(sorted(allowed))})",
                    )
        return value

    def string(
        self,
        parent: dict[str, Any],
        key: str,
        path: str,
        required: bool = True,
        rule: Callable[[str], str | None] | None = None,
    ) -> str | None:
        """`parent[key]`, a non-empty string, or None; `rule` says what else is wrong with it."""
        value = parent.get(key)
        where = join(path, key)
        if value is None:
            if required:
                self.add(where, "is required")
            return None
        if not isinstance(value, str):
            self.add(where, f"must be a string, not {kind_of(value)}")
            return None
        if not value:
            self.add(where, "must not be empty")
            return None
        if rule is not None:
            self.check(where, rule(value))
        return value

    def check(self, where: str, problem: str | None) -> bool:
        if problem is not None:
            self.add(where, problem)
            return False
        return True


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def below(path: str, base: str) -> str | None:
    """What `path` is inside `base` ("" for `base` itself), or None when it is not inside it."""
    if not base or path == base:
        return path if not base else ""
    if path.startswith(f"{base}."):
        return path[len(base) + 1 :]
    return path[len(base) :] if path.startswith(f"{base}[") else None


def plain_scalars(c: Collector) -> None:
    """A handshake or Secret is a Kubernetes object: every plain scalar in it must mean to
    fleet-handshake what it means to kubectl and Fleet. Where it does not, that problem replaces
    the others at its path (`must be a string` for `1:30`, which Kubernetes reads as a string).
    For an item of a List, only its own scalars, and never those of its data and stringData:
    the reader leaves out only the document's top-level UNCHECKED fields, and a message quotes the
    scalar."""
    base = item_path(c.item, "")
    plain = []
    for path, message in c.doc.plain_problems:
        rel = below(path, base)
        if rel is not None and not (c.item is not None and re.split(r"[.\[]", rel, maxsplit=1)[0] in UNCHECKED):
            plain.append((rel, message))
    if plain:
        paths = {item_path(c.item, rel) for rel, _ in plain}
        c.problems = [p for p in c.problems if p.path not in paths]
        for rel, message in plain:
            c.add(rel, message)
