"""A fast path for `render.to_yaml`: the same bytes as PyYAML's emitter, for the common cases only.

Rendering a thousand Secrets spent most of its time in PyYAML's representer (a Python call per
node and per character checked). The documents rendered here are small block-style mappings of
names, base64 strings and multi-line text, so this module writes those directly and answers
None for anything it is not sure about: a key over 128 characters, a string that would need
double quotes or folding, non-ASCII text, floats, nested lists. The caller then uses PyYAML.

Whether a string may be written plain is decided by PyYAML's own resolver table (the one its emitter
asks), so `'123'`, `'true'` and `''` are quoted exactly as PyYAML quotes them.
`tests/unit/test_yamlemit.py` checks byte equality with PyYAML on generated documents.
"""

from __future__ import annotations

import re
from typing import Any

from .models import SecretValue
from .yamlresolve import STR, plain_tag

_MAX_SIMPLE_KEY = 128  # libyaml writes longer keys as explicit `? key`
_MAX_SPACED = 1 << 14  # far below the emitter's width (65536): text with spaces is never folded
# ASCII text that needs no quotes in block context: no indicator first, no `: ` or ` #`,
# no leading, trailing or double-purpose whitespace. Anything else goes to PyYAML.
_PLAIN = re.compile(r"[A-Za-z0-9_./+=][A-Za-z0-9_./+=@:%-]*(?: [A-Za-z0-9_./+=@:%-]+)*")
_LITERAL_LINE = re.compile(r"[\x20-\x7e]*")


class _Unsure(Exception):
    """This document is PyYAML's to write."""


_seen: dict[str, str] = {}  # names and keys repeat across documents


def _reads_as_string(text: str) -> bool:
    """What PyYAML's emitter asks before writing a plain scalar (its resolver's table, without PyYAML)."""
    return plain_tag(text) == STR


def _plain_or_quoted(text: str, remember: bool = True) -> str:
    """The text as PyYAML writes a plain-safe string: plain, or single-quoted if it would read as non-string."""
    known = _seen.get(text)
    if known is not None:
        return known
    if not text:
        return "''"
    if _PLAIN.fullmatch(text) is None or text.endswith(":") or ": " in text or text.startswith("..."):
        raise _Unsure
    if " " in text and len(text) > _MAX_SPACED:
        raise _Unsure
    written = text if _reads_as_string(text) else f"'{text}'"
    if remember and len(text) <= 64 and len(_seen) < 4096:
        _seen[text] = written
    return written


def _literal(text: str, indent: int) -> str:
    """`|` block text, as the representer asks for multi-line text without trailing blanks."""
    if text[0] in " \n" or text.endswith("\n\n"):
        raise _Unsure  # indentation or keep indicators: PyYAML's to write
    lines = text.split("\n")
    pad = " " * indent
    out = ["|" if text.endswith("\n") else "|-"]
    for line in lines[:-1] if text.endswith("\n") else lines:
        if _LITERAL_LINE.fullmatch(line) is None or line != line.rstrip(" "):
            raise _Unsure
        out.append(pad + line if line else "")
    return "\n".join(out)


def _scalar(value: Any, indent: int) -> str:
    if isinstance(value, SecretValue):  # revealed here only; never kept in the cache of names
        text = value.reveal()
        return _literal(text, indent) if "\n" in text else _plain_or_quoted(text, remember=False)
    kind = type(value)
    if kind is str:
        if "\n" in value:
            return _literal(value, indent)
        return _plain_or_quoted(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if value is None:
        return "null"
    raise _Unsure


def _key(key: Any) -> str:
    if type(key) is not str or len(key) > _MAX_SIMPLE_KEY or not key:
        raise _Unsure
    text = _plain_or_quoted(key)
    if text[0] == "'":
        raise _Unsure
    return text


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
            out.append(f"{pad}{name}: {_scalar(value, indent + 2)}")


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
            out.append(f"{pad}- {_scalar(item, indent + 2)}")


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
