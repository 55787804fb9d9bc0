"""A reader for the plain block YAML that handshakes and SOPS files are nearly always written in.

It answers None for anything it is not sure about, and the caller then asks PyYAML, which is
the reference: non-ASCII text, tabs, flow collections other than one line of scalars, anchors,
aliases, tags, directives, quoted keys, escapes, folded or multi-line scalars, comments after a
quoted value, duplicate keys, nesting deeper than 64. What it does accept, it reads exactly as
PyYAML does (`tests/unit/test_blockyaml.py` compares the two on generated and random text).

Why: importing PyYAML costs about 10 ms, as much as the rest of `validate`'s start-up, and an
incremental run parses only the file that changed. Texts over 64 KiB (a Fleet inventory) go to
PyYAML directly: there libyaml's C parser is the faster one. The nodes keep whether a scalar was
plain, which the in-process SOPS path needs to type values as the `sops` binary does.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from .resolver import BOOL, NULL, STR, plain_tag

if TYPE_CHECKING:
    from typing import Any

MAX_DEPTH = 64


# The nodes are tuples (immutable, and made with one C call: a first run makes ~100,000 of them),
# equal only to nodes of the same kind.


class _Node(tuple):  # type: ignore[type-arg]
    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = tuple.__hash__

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)


class Scalar(_Node):
    """A scalar's text, and whether it was plain: unquoted and untagged, its type comes from the resolver."""

    __slots__ = ()

    def __new__(cls, text: str, plain: bool) -> Scalar:
        return tuple.__new__(cls, (text, plain))

    @property
    def text(self) -> str:
        value: str = self[0]
        return value

    @property
    def plain(self) -> bool:
        value: bool = self[1]
        return value

    def __repr__(self) -> str:
        return f"Scalar(text={self[0]!r}, plain={self[1]!r})"


class Mapping(_Node):
    __slots__ = ()

    def __new__(cls, items: tuple[tuple[Scalar, Node], ...]) -> Mapping:
        return tuple.__new__(cls, (items,))

    @property
    def items(self) -> tuple[tuple[Scalar, Node], ...]:
        value: tuple[tuple[Scalar, Node], ...] = self[0]
        return value

    def __repr__(self) -> str:
        return f"Mapping(items={self[0]!r})"


class Sequence(_Node):
    __slots__ = ()

    def __new__(cls, items: tuple[Node, ...]) -> Sequence:
        return tuple.__new__(cls, (items,))

    @property
    def items(self) -> tuple[Node, ...]:
        value: tuple[Node, ...] = self[0]
        return value

    def __repr__(self) -> str:
        return f"Sequence(items={self[0]!r})"


Node = Scalar | Mapping | Sequence
# The readers below make nodes with `_new(Scalar, (text, plain))`: the same tuple as `Scalar(text,
# plain)`, without a Python call to `__new__` (a first run makes ~100,000 nodes).
_new = tuple.__new__

_EMPTY = Scalar("", True)  # what PyYAML reads for a missing value: an empty plain scalar (null)
_ALLOWED = bytes(range(0x20, 0x7F)) + b"\n"  # printable ASCII and line feeds: all else declines
_STRING_KEYS: set[str] = set()  # plain keys seen to resolve to strings (keys repeat: a memo)
_KEY = re.compile(r"([A-Za-z0-9_.][A-Za-z0-9_./-]*):(?: +|$)")
# One-line flow collections of scalars, as in `values: [prod, staging]` or `{clusterName: c1}`.
_ITEM = r"""(?:[A-Za-z0-9_./][A-Za-z0-9_./+=@-]*|'[^'\n]*'|"[^"\\\n]*")"""
_FKEY = r"[A-Za-z0-9_.][A-Za-z0-9_./-]*"
_INDICATORS = frozenset("?:,[]{}#&*!|>'\"%@`")
_BOOLS = {"yes": True, "no": False, "true": True, "false": False, "on": True, "off": False}


class _Unsure(Exception):
    """Outside the subset: PyYAML's to read."""


MAX_TEXT = 64 * 1024  # larger texts (an inventory): libyaml, in C, is faster than this reader


def parse(text: str | bytes) -> list[Node] | None:
    """The documents of a YAML stream, or None when this reader is not sure of every detail."""
    if len(text) > MAX_TEXT:
        return None
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            return None
    docs = _parse(text)
    return None if docs is None else list(docs)


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> tuple[Node, ...] | None:
    """Memoised (the nodes are immutable): a run validates each encrypted file, then decrypts it,
    and both read the same text."""
    if not text.isascii() or text.encode("ascii").translate(None, _ALLOWED):
        return None  # one pass in C each; a regular expression took longer than the parse
    try:
        return tuple(_Reader(text.split("\n")).documents())
    except (_Unsure, RecursionError):
        return None


def load(text: str | bytes) -> list[Any] | None:
    """Like `yaml.safe_load_all`, for the subset whose plain scalars are strings, null or booleans."""
    docs = parse(text)
    return None if docs is None else load_nodes(docs)


def load_nodes(docs: list[Node]) -> list[Any] | None:
    """The data of parsed documents, or None when a plain scalar is a number or a timestamp."""
    try:
        return [to_data(d) for d in docs]
    except _Unsure:
        return None


def to_data(node: Node) -> Any:
    if isinstance(node, Scalar):
        if not node.plain:
            return node.text
        tag = plain_tag(node.text)
        if tag == STR:
            return node.text
        if tag == NULL:
            return None
        if tag == BOOL:
            return _BOOLS[node.text.lower()]
        raise _Unsure  # numbers and timestamps: PyYAML's constructors decide
    if isinstance(node, Mapping):
        return {k.text: to_data(v) for k, v in node.items}  # keys are unique strings (see _mapping)
    return [to_data(item) for item in node.items]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


class _Reader:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.pos = 0
        self.end = 0

    def documents(self) -> list[Node]:
        docs: list[Node] = []
        start, explicit = 0, False
        for i, line in enumerate(self.lines):
            if line.startswith(("---", "...", "%")):
                if line != "---":
                    raise _Unsure  # `...`, directives, content after `---`
                self._document(start, i, explicit, docs)
                start, explicit = i + 1, True
        self._document(start, len(self.lines), explicit, docs)
        return docs

    def _document(self, start: int, end: int, explicit: bool, docs: list[Node]) -> None:
        self.pos, self.end = start, end
        self._skip()
        if self.pos >= end:
            if explicit:
                docs.append(_EMPTY)  # `---` with nothing after it is a document holding null
            return
        line = self.lines[self.pos]
        docs.append(self._node_at(_indent(line), -1, 0))
        self._skip()
        if self.pos < end:
            raise _Unsure  # content after the document's node: an error, or YAML not understood here

    def _skip(self) -> None:
        """Past blank lines and comment lines."""
        lines, pos, end = self.lines, self.pos, self.end
        while pos < end:
            rest = lines[pos].lstrip(" ")
            if rest and rest[0] != "#":
                break
            pos += 1
        self.pos = pos

    def _block(self, parent: int, depth: int, seq_at_parent: bool) -> Node:
        """The node after `key:` or `-` alone on a line: on the next lines, indented deeper."""
        self._skip()
        if self.pos >= self.end:
            return _EMPTY
        line = self.lines[self.pos]
        n = _indent(line)
        if n < parent or (n == parent and not (seq_at_parent and _is_entry(line, n))):
            return _EMPTY
        return self._node_at(n, parent, depth)

    def _node_at(self, n: int, parent: int, depth: int) -> Node:
        """The node whose first line is the current one, starting at column n."""
        if depth > MAX_DEPTH:
            raise _Unsure
        line = self.lines[self.pos]
        if _is_entry(line, n):
            return self._sequence(n, depth)
        if _KEY.match(line, n):
            return self._mapping(n, depth)
        return self._inline(line[n:], parent)

    def _line_at(self, n: int) -> str | None:
        """The next line of a collection at column n, past blank and comment lines; None at the end
        of the document or of the collection (a line indented less). `_skip` and `_indent`, inline:
        this runs once per line."""
        lines, pos, end = self.lines, self.pos, self.end
        while pos < end:
            line = lines[pos]
            rest = line.lstrip(" ")
            if rest and rest[0] != "#":
                self.pos = pos
                k = len(line) - len(rest)
                if k > n:
                    raise _Unsure  # a continuation line, or an error: PyYAML's to read
                return line if k == n else None
            pos += 1
        self.pos = pos
        return None

    def _mapping(self, n: int, depth: int) -> Mapping:
        items: list[tuple[Scalar, Node]] = []
        seen: set[str] = set()
        while (line := self._line_at(n)) is not None:
            key = _KEY.match(line, n)
            if key is None:
                raise _Unsure
            text = key[1]
            if text in seen:
                raise _Unsure  # duplicate keys are PyYAML's to report
            if text not in _STRING_KEYS:
                if plain_tag(text) != STR:
                    raise _Unsure  # non-string keys are rare
                if len(_STRING_KEYS) < 4096:
                    _STRING_KEYS.add(text)
            seen.add(text)
            rest = line[key.end() :]
            if not rest or rest[0] == "#":
                self.pos += 1
                value = self._block(n, depth + 1, seq_at_parent=True)
            else:
                value = self._inline(rest, n)
            items.append((_new(Scalar, (text, True)), value))
        return _new(Mapping, (tuple(items),))

    def _sequence(self, n: int, depth: int) -> Sequence:
        items: list[Node] = []
        lines = self.lines
        while (line := self._line_at(n)) is not None:
            if not _is_entry(line, n):
                break  # the next key of the mapping this sequence is the value of (checked there)
            body = line[n + 1 :].lstrip(" ")
            if not body or body[0] == "#":
                self.pos += 1
                items.append(self._block(n, depth + 1, seq_at_parent=False))
                continue
            column = len(line) - len(body)
            if _is_entry(line, column) or _KEY.match(line, column):
                # `- key: value` or `- - item`: a collection that starts inside the entry.
                lines[self.pos] = " " * column + body
                items.append(self._node_at(column, n, depth + 1))
            else:
                items.append(self._inline(body, n))
        return _new(Sequence, (tuple(items),))

    def _inline(self, rest: str, parent: int) -> Node:
        """A scalar (or `[]`, `{}`) that starts on the current line."""
        first = rest[0]
        if first == "|":
            header = rest.rstrip(" ")
            if header not in ("|", "|-"):
                raise _Unsure  # keep, explicit indentation, comments
            self.pos += 1
            return Scalar(self._literal(parent, clip=header == "|"), False)
        tail = ""
        if first == '"':
            close = rest.find('"', 1)
            if close < 0 or "\\" in rest[:close]:
                raise _Unsure  # multi-line or escaped
            value, tail = _new(Scalar, (rest[1:close], False)), rest[close + 1 :]
        elif first == "'":
            value, tail = self._single_quoted(rest)
        else:
            text = rest.split(" #", 1)[0].rstrip(" ")  # a comment ends a plain scalar
            if first in "[{":
                self.pos += 1
                return _flow(text)
            if first in _INDICATORS or (first == "-" and (len(text) == 1 or text[1] == " ")):
                raise _Unsure
            if ": " in text or text.endswith(":"):
                raise _Unsure
            value = _new(Scalar, (text, True))
        if tail and not (tail.lstrip(" ") == "" or (tail[0] == " " and tail.lstrip(" ")[0] == "#")):
            raise _Unsure  # after a quoted scalar: only spaces, then perhaps a comment
        self.pos += 1
        return value

    @staticmethod
    def _single_quoted(rest: str) -> tuple[Scalar, str]:
        parts: list[str] = []
        i = 1
        while True:
            j = rest.find("'", i)
            if j < 0:
                raise _Unsure  # continues on the next line
            if rest[j + 1 : j + 2] == "'":
                parts.append(rest[i : j + 1])
                i = j + 2
                continue
            parts.append(rest[i:j])
            return Scalar("".join(parts), False), rest[j + 1 :]

    def _literal(self, parent: int, *, clip: bool) -> str:
        """The lines of a `|` or `|-` block scalar, which must be indented deeper than `parent`."""
        lines, pos, end = self.lines, self.pos, self.end
        least = max(parent + 1, 1)
        body: list[str] = []
        indent: int | None = None
        last = -1  # the line of the last text: the final line of a stream has no line break
        while pos < end:
            line = lines[pos]
            stripped = line.lstrip(" ")
            if not stripped:
                if indent is None or len(line) > indent:
                    raise _Unsure  # leading blank lines, or blank lines holding spaces of their own
                body.append("")
                pos += 1
                continue
            k = len(line) - len(stripped)
            if indent is None:
                if k < least:
                    break
                indent = k
            elif k < indent:
                if k >= least:
                    raise _Unsure
                break
            body.append(line[indent:])
            last = pos
            pos += 1
        self.pos = pos
        while body and not body[-1]:
            body.pop()
        text = "\n".join(body)
        return text + "\n" if clip and body and last < len(lines) - 1 else text


def _is_entry(line: str, n: int) -> bool:
    """A block sequence entry (`-` then a space or the end of the line) at column n."""
    return line[n : n + 1] == "-" and line[n + 1 : n + 2] in ("", " ")


@functools.cache
def _flow_patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """Compiled on first use: most files have no flow collection, and start-up time counts."""
    return (
        re.compile(rf"\[ *{_ITEM}(?: *, *{_ITEM})* *\]"),
        re.compile(rf"\{{ *{_FKEY}: +{_ITEM}(?: *, *{_FKEY}: +{_ITEM})* *\}}"),
        re.compile(_ITEM),
        re.compile(rf"({_FKEY}): +({_ITEM})"),
    )


def _flow(text: str) -> Node:
    if text in ("[]", "{}"):
        return Sequence(()) if text == "[]" else Mapping(())
    flow_seq, flow_map, items, pairs_re = _flow_patterns()
    if flow_seq.fullmatch(text):
        return Sequence(tuple(_flow_scalar(item) for item in items.findall(text, 1)))
    if flow_map.fullmatch(text):
        pairs = pairs_re.findall(text, 1)
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys) or any(plain_tag(key) != STR for key in keys):
            raise _Unsure
        return Mapping(tuple((Scalar(key, True), _flow_scalar(value)) for key, value in pairs))
    raise _Unsure  # nested, multi-line, or anything else in flow style


def _flow_scalar(item: str) -> Scalar:
    return Scalar(item[1:-1], False) if item[0] in "'\"" else Scalar(item, True)
