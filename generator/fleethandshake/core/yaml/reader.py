"""Parse YAML into plain data while keeping where every value came from.

Pure: takes bytes, returns documents. Duplicate keys, aliases that expand too far and
over-deep nesting are reported as problems instead of being silently accepted.

A message never quotes the text it was parsed from: a Secret's value, its tag or anchor, or a
comment beside it may be the secret. Messages name the line and the YAML path only, and a path
stops at the Secret key (`stringData.password`): keys below it are part of the value.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from . import block, goreader
from .lazy import loader
from .resolver import implicit_resolvers

if TYPE_CHECKING:
    from typing import Any

    import yaml
else:
    from .lazy import yaml  # imported when first used


MAX_DEPTH = 64
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# Nodes reached through aliases: bounds a "billion laughs" without limiting large plain files
# (a 5,000-cluster inventory is ~300,000 nodes, none of them aliased).
MAX_ALIASED_NODES = 100_000
_STR = "tag:yaml.org,2002:str"
# Top-level fields whose scalars are not checked against Kubernetes' reading: a Secret's values
# (SOPS ciphertext, never named in a message) and SOPS's own metadata, which Kubernetes never reads.
UNCHECKED = frozenset({"data", "stringData", "sops"})
_YAML_TAG = "tag:yaml.org,2002:"
# The tags a message may name (as `!!int`): YAML's own, which PyYAML's safe loader knows. Any
# other tag is text from the file.
_KNOWN_TAGS = frozenset(
    f"{_YAML_TAG}{t}" for t in ("null", "bool", "int", "float", "binary", "timestamp", "omap", "pairs", "set", "str")
)
_SECRET_SECTIONS = ("data", "stringData")
# libyaml's messages are fixed words, with at most a quoted punctuation mark (`could not find
# expected ':'`); PyYAML's own parser, used where libyaml is missing, quotes the text it read
# (`found undefined alias 'x'`). Quoted text is dropped; a message with anything else is not used.
_QUOTED = re.compile(r"""\s?(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")
_PUNCTUATION = re.compile(r"'[^\w\s'\\]'")
_SAFE_WORDS = re.compile(r"[A-Za-z0-9 ,;()<>%-]*")


class YamlError(Exception):
    """The bytes are not YAML we accept. `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class Document:
    """One YAML document: its data, and the line of every YAML path in it (computed on demand:
    lines are only needed for messages, and most documents never have a problem)."""

    __slots__ = ("_lines", "_node", "_plain", "_text", "_tree", "data", "index")

    def __init__(
        self,
        index: int,
        data: Any,
        lines: dict[str, int] | None = None,
        node: yaml.Node | None = None,
        text: str | bytes | None = None,
        plain: list[tuple[str, str]] | None = None,
        tree: block.Node | None = None,
    ):
        self.index = index
        self.data = data
        self._lines = lines
        self._node = node
        self._text = text  # read by blockyaml: PyYAML finds the lines, only when a message needs them
        self._plain = plain  # found by the PyYAML builder, or from blockyaml's tree when first asked
        self._tree = tree

    @property
    def plain_problems(self) -> list[tuple[str, str]]:
        """(YAML path, message) of every plain scalar that Kubernetes (sigs.k8s.io/yaml) reads
        differently from fleet-handshake (PyYAML), outside the top-level fields in UNCHECKED."""
        if self._plain is None:
            self._plain = []
            if self._tree is not None:
                _fast_plain_problems(self._tree, None, self._plain)
        return self._plain

    @property
    def lines(self) -> dict[str, int]:
        if self._lines is None:
            self._lines = {}
            if self._node is None and self._text is not None:
                self._node = list(yaml.compose_all(self._text, Loader=loader()))[self.index]
            if self._node is not None:
                _collect_lines(self._node, "", self._lines, 0)
        return self._lines

    def line(self, path: str) -> int | None:
        """Line of `path`, or of the nearest enclosing path that has one."""
        lines = self.lines
        while True:
            if path in lines:
                return lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            if cut <= 0:
                return lines.get("")
            path = path[:cut]


def _collect_lines(node: yaml.Node, path: str, out: dict[str, int], depth: int) -> None:
    if depth > MAX_DEPTH or len(out) > MAX_ALIASED_NODES:
        return
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                _collect_lines(value_node, join(path, key_node.value), out, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _collect_lines(item, join(path, i), out, depth + 1)


def _fast_plain_problems(node: block.Node, where: tuple[Any, str | int] | None, out: list[tuple[str, str]]) -> None:
    """The plain scalars of blockyaml's tree that Kubernetes reads differently. Runs for every
    handshake and Secret: nodes are taken apart as the tuples they are, `goreader.may_differ` is
    inlined, and `where` is a path as (parent, part) links, made into text only for a message."""
    numeric, words = goreader.NUMERIC, goreader.WORDS
    kind = type(node)
    if kind is block.Mapping:
        for key, value in node[0]:
            key_text, key_plain = key
            if where is None and key_text in UNCHECKED:
                continue
            if key_plain and (key_text[:1] in numeric or key_text in words):
                _note_fast((where, key_text), goreader.problem(key_text, key_text, key=True), out)
            if type(value) is block.Scalar:
                text, plain = value
                if plain and (text[:1] in numeric or text in words):
                    _note_fast((where, key_text), goreader.problem(text, block.to_data(value)), out)
            else:
                _fast_plain_problems(value, (where, key_text), out)
    elif kind is block.Sequence:
        for i, item in enumerate(node[0]):
            _fast_plain_problems(item, (where, i), out)
    elif node[1] and goreader.may_differ(node[0]):
        _note_fast(where, goreader.problem(node[0], block.to_data(node)), out)


def _note_fast(where: tuple[Any, str | int] | None, message: str | None, out: list[tuple[str, str]]) -> None:
    if message is not None:
        parts: list[str | int] = []
        while where is not None:
            where, part = where
            parts.append(part)
        _note(tuple(reversed(parts)), message, out)


def _note(parts: tuple[str | int, ...], message: str | None, out: list[tuple[str, str]]) -> None:
    if message is not None:
        out.append((_path(parts), message))


def join(path: str, key: str | int) -> str:
    """YAML path in the form the messages use: `spec.targets[1].clusterSelector`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not _PLAIN_KEY.fullmatch(key):
        return f"{path}[{key!r}]"
    return f"{path}.{key}" if path else key


def parse_documents(text: str | bytes) -> list[Document]:
    """Parse every document of a YAML stream. Raises YamlError on anything off."""
    trees = block.parse(text)  # the plain block YAML most files are, without importing PyYAML
    fast = None if trees is None else block.load_nodes(trees)
    if trees is not None and fast is not None:
        return [Document(i, data, text=text, tree=tree) for i, (data, tree) in enumerate(zip(fast, trees, strict=True))]
    try:
        nodes = list(yaml.compose_all(text, Loader=_plain_marking_loader()))
    except yaml.MarkedYAMLError as e:
        raise syntax_error(e) from None
    except yaml.reader.ReaderError:
        raise YamlError("not UTF-8 text, or holds characters YAML does not allow") from None
    except yaml.YAMLError as e:
        raise YamlError(f"not valid YAML: {type(e).__name__}") from None
    except UnicodeDecodeError:
        raise YamlError("not UTF-8 text") from None
    docs = []
    for index, node in enumerate(nodes):
        if node is None:
            continue
        builder = _Builder()
        data = builder.build(node, (), 0)
        docs.append(Document(index=index, data=data, node=node, plain=builder.plain))
    return docs


class _PlainTag(str):
    """The tag of a plain (unquoted, untagged) scalar: the builder checks those against Go's reading."""

    __slots__ = ()


@functools.cache
def _plain_marking_loader() -> Any:
    """The fastest safe loader, whose resolver marks the tags it gives plain scalars (a node alone
    does not tell `!!str y` from `y`). The resolver is PyYAML's, with its table from yamlresolve
    (tested equal to PyYAML's): the loader's only one, as SafeLoader has no path resolvers."""
    table = {
        first: [(_PlainTag(tag), pattern) for tag, pattern in rules] for first, rules in implicit_resolvers().items()
    }
    plain_str = _PlainTag(_STR)
    scalar, sequence = yaml.ScalarNode, yaml.SequenceNode
    seq_tag, map_tag = "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"

    class PlainMarkingLoader(loader()):  # type: ignore[misc]
        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is scalar:
                if implicit[0]:
                    for tag, pattern in table.get(value[:1], ()):
                        if pattern.match(value):
                            return tag
                    return plain_str
                return _STR
            return seq_tag if kind is sequence else map_tag

    return PlainMarkingLoader


def syntax_error(e: yaml.MarkedYAMLError) -> YamlError:
    """The parser's complaint as a YamlError, without any text it quoted from the input."""
    line = e.problem_mark.line + 1 if e.problem_mark is not None else None
    message = f"not valid YAML: {_words(e.problem) or 'syntax error'}"
    context = _words(e.context)
    if context and e.context_mark is not None:
        message += f" ({context} that started on line {e.context_mark.line + 1})"
    return YamlError(message, line)


def _words(text: str | None) -> str | None:
    """`text` without quoted input; None when what is left may still hold some."""
    if not text:
        return None

    def keep(m: re.Match[str]) -> str:
        # `expected ':'` names YAML's syntax; `found 'x'`, `character '@'` repeat what was read.
        named = _PUNCTUATION.fullmatch(m[0].strip()) and not text[: m.start()].endswith(("found", "got", "character"))
        return m[0] if named else ""

    kept = _QUOTED.sub(keep, text)
    if not _SAFE_WORDS.fullmatch(_PUNCTUATION.sub("", kept)):
        return None  # unquoted input, or a quote left open: its text runs to the end
    return " ".join(kept.split()) or None


def _path(parts: tuple[str | int, ...]) -> str:
    """The YAML path for a message, cut at the key of a Secret's data: below it lies the value
    (a Secret of its own document, or item N of a List: `items[N].stringData.key`)."""
    if len(parts) > 2 and parts[0] in _SECRET_SECTIONS:
        parts = parts[:2]
    elif len(parts) > 4 and parts[0] == "items" and parts[2] in _SECRET_SECTIONS:
        parts = parts[:4]
    path = ""
    for part in parts:
        path = join(path, part)
    return path


def _tag_name(tag: str) -> str:
    if tag in _KNOWN_TAGS:
        return f"its tag !!{tag.removeprefix(_YAML_TAG)}"
    return "its tag"


class _Builder:
    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.aliased = 0
        self.in_alias = 0
        self._constructor = loader().__new__(loader())
        yaml.constructor.SafeConstructor.__init__(self._constructor)
        self.plain: list[tuple[str, str]] = []  # Document.plain_problems

    def build(self, node: yaml.Node, path: tuple[str | int, ...], depth: int, key: bool = False) -> Any:
        if depth > MAX_DEPTH:
            raise YamlError(f"nested deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
        repeat = id(node) in self.seen
        if repeat or self.in_alias:
            self.aliased += 1
            if self.aliased > MAX_ALIASED_NODES:
                raise YamlError("aliases expand to too many YAML nodes; refusing to expand", node.start_mark.line + 1)
        self.seen.add(id(node))
        self.in_alias += repeat
        try:
            if isinstance(node, yaml.MappingNode):
                return dict(self._mapping(node, path, depth))
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
            # A str tag is the common case: its value without the constructor's machinery.
            value = node.value if node.tag == _STR else self._scalar(node, path)
            if type(node.tag) is _PlainTag and goreader.may_differ(node.value) and not (path and path[0] in UNCHECKED):
                _note((*path, node.value) if key else path, goreader.problem(node.value, value, key=key), self.plain)
            return value
        finally:
            self.in_alias -= repeat

    def _scalar(self, node: yaml.Node, path: tuple[str | int, ...]) -> Any:
        try:
            return self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError, KeyError, AttributeError):
            # The library's own message quotes the scalar, which may be a secret: never pass it on.
            where = f"{_path(path)}: " if path else ""
            hint = "; if it is text, quote it" if type(node.tag) is _PlainTag else ""
            raise YamlError(
                f"{where}a value does not fit {_tag_name(node.tag)}{hint}", node.start_mark.line + 1
            ) from None

    def _mapping(self, node: yaml.MappingNode, path: tuple[str | int, ...], depth: int) -> Iterator[tuple[Any, Any]]:
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlError("merge keys (<<) are not supported", key_node.start_mark.line + 1)
            key = self.build(key_node, path, depth + 1, key=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise YamlError("mapping keys must be scalars", key_node.start_mark.line + 1)
            if key in seen:
                where = f"in {_path(path)}" if path else "at the top level"
                if _path((*path, str(key))) == _path(path):
                    raise YamlError(f"a key is given twice {where}", key_node.start_mark.line + 1)
                raise YamlError(f"duplicate key {key!r} {where}", key_node.start_mark.line + 1)
            seen.add(key)
            yield key, self.build(value_node, (*path, str(key)), depth + 1)
