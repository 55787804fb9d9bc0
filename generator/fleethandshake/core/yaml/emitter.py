"""A fast path for `render.to_yaml`: the same bytes as PyYAML's emitter, for the common cases only.

Rendering a thousand Secrets spent most of its time in PyYAML's representer (a Python call per
node). The documents rendered here are small block-style mappings of names and base64 strings,
so this module writes those directly and answers None for anything it is not sure about: a key
over 128 characters, text outside printable ASCII (line breaks included), floats, nested lists.
The caller then uses PyYAML. `tests/unit/test_yamlemit.py` checks byte equality with PyYAML.

Every string, key or value, is written double-quoted (see `render.to_yaml` for why), so the only
characters printable ASCII text needs escaped are the backslash and the double quote.
"""

from __future__ import annotations

import re
from typing import Any

from ..models import SecretValue

_MAX_SIMPLE_KEY = 128  # libyaml writes longer keys as explicit `? key`
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")


class _Unsure(Exception):
    """This document is PyYAML's to write."""


def _quoted(text: str) -> str:
    """`text` double-quoted, as PyYAML's emitter writes printable ASCII in that style."""
    if _PRINTABLE_ASCII.fullmatch(text) is None:
        raise _Unsure
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _scalar(value: Any) -> str:
    if isinstance(value, SecretValue):  # revealed here only
        return _quoted(value.reveal())
    kind = type(value)
    if kind is str:
        return _quoted(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if value is None:
        return "null"
    raise _Unsure


def _key(key: Any) -> str:
    if type(key) is not str or len(key) > _MAX_SIMPLE_KEY:
        raise _Unsure
    return _quoted(key)


def _mapping(data: dict[Any, Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for key, value in data.items():
        name = _key(key)
        kind = type(value)
        if kind is dict and value:
            out.append(f"{pad}{name}:")
            _mapping(value, indent + 2, out)
        elif kind is list and value:
            out.append(f"{pad}{name}:")
            _sequence(value, indent, out)  # PyYAML writes lists in mappings without extra indent
        elif kind is dict:
            out.append(f"{pad}{name}: {{}}")
        elif kind is list:
            out.append(f"{pad}{name}: []")
        else:
            out.append(f"{pad}{name}: {_scalar(value)}")


def _sequence(items: list[Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for item in items:
        kind = type(item)
        if kind is dict and item:
            start = len(out)
            _mapping(item, indent + 2, out)
            out[start] = f"{pad}- {out[start][indent + 2 :]}"
        elif kind is dict:
            out.append(f"{pad}- {{}}")
        elif kind is list:
            if item:
                raise _Unsure
            out.append(f"{pad}- []")
        else:
            out.append(f"{pad}- {_scalar(item)}")


def emit(data: Any) -> str | None:
    """`data` as block YAML without the final newline, byte for byte as `render.to_yaml` writes it; None if unsure."""
    out: list[str] = []
    try:
        if type(data) is dict and data:
            _mapping(data, 0, out)
        elif type(data) is list and data:
            _sequence(data, 0, out)
        else:
            return None
    except _Unsure:
        return None
    return "\n".join(out)
