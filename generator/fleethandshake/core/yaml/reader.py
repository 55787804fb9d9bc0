"""Parse YAML into plain data while keeping where every value came from.

Pure: takes bytes, returns documents. PyYAML's safe loader in C (libyaml) composes the nodes,
with their line marks; duplicate keys, aliases that expand too far and over-deep nesting are
reported as problems instead of being silently accepted.

A message never quotes the text it was parsed from: a Secret's value, its tag or anchor, or a
comment beside it may be the secret. Messages name the line and the YAML path only, and a path
stops at the Secret key (`stringData.password`): keys below it are part of the value.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import goreader

MAX_DEPTH = 64
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# Nodes reached through aliases: bounds a "billion laughs" without limiting large plain files
# (a 5,000-cluster inventory is ~300,000 nodes, none of them aliased).
MAX_ALIASED_NODES = 100_000
STR = "tag:yaml.org,2002:str"
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
# libyaml's messages are fixed words, at most with a quoted punctuation mark (`could not find
# expected ':'`). Should one quote the text it read, that is dropped; a message with anything else
# is not used.
_QUOTED = re.compile(r"""\s?(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")
_PUNCTUATION = re.compile(r"'[^\w\s'\\]'")
_SAFE_WORDS = re.compile(r"[A-Za-z0-9 ,;()<>%-]*")


class ImplicitTag(str):
    """A tag the resolver gave a node written without one."""

    __slots__ = ()


class PlainTag(ImplicitTag):
    """The tag of a plain (unquoted, untagged) scalar: Go's readers may type it otherwise."""

    __slots__ = ()


SEQ, MAP = "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
# PyYAML's resolver table (Resolver.yaml_implicit_resolvers), with its tags marked as implicit.
_PLAIN_RULES = {
    first: [(PlainTag(tag), regexp) for tag, regexp in rules]
    for first, rules in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}
_PLAIN_STR, _IMPLICIT = PlainTag(STR), {tag: ImplicitTag(tag) for tag in (STR, SEQ, MAP)}


class Loader(yaml.CSafeLoader):
    """PyYAML's safe loader in C, whose resolver (PyYAML's rules) marks the tags it gives: a node
    alone does not tell `y` from `!!str y`, nor `"1"` from `! "1"`.

    Two scalars PyYAML cannot construct are strings to Go's readers, which decide what the output
    means: a plain `=` (YAML 1.1's "value" key) and a `!!merge <<` value (how sops writes the
    string "<<"). They read as those strings here too; merge *keys* in mappings are refused.
    """

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not yaml.ScalarNode:
            tag = SEQ if kind is yaml.SequenceNode else MAP
            return _IMPLICIT[tag] if implicit else tag
        if implicit[0]:
            return plain_tag(value)
        return _IMPLICIT[STR] if implicit[1] else STR


def plain_tag(text: str) -> str:
    """The tag PyYAML's resolver gives `text` written plain (a PlainTag)."""
    for tag, regexp in _PLAIN_RULES.get(text[:1], ()):
        if regexp.match(text):
            return tag
    return _PLAIN_STR


for _tag in ("tag:yaml.org,2002:value", "tag:yaml.org,2002:merge"):
    Loader.add_constructor(_tag, yaml.constructor.SafeConstructor.construct_yaml_str)  # type: ignore[type-var]


def _or_go_string(construct: Any) -> Any:
    """PyYAML's constructor, except for a plain scalar that only looks like its type to YAML 1.1
    (`0b_`, `0x_`, the date `2001-02-30`): PyYAML cannot build it, Go's readers read the text. sops
    writes such a Secret key or metadata value plain whatever the user wrote, so refusing it would
    refuse a Secret that Kubernetes and sops accept."""

    def constructor(loader: Any, node: yaml.ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except ValueError:
            if type(node.tag) is PlainTag and goreader.read_plain(node.value) == node.value:
                return node.value
            raise

    return constructor


for _tag, _construct in (
    ("tag:yaml.org,2002:int", yaml.constructor.SafeConstructor.construct_yaml_int),
    ("tag:yaml.org,2002:timestamp", yaml.constructor.SafeConstructor.construct_yaml_timestamp),
):
    Loader.add_constructor(_tag, _or_go_string(_construct))


_GO_PLAIN = "tag:fleet-handshake,2026:go-plain"


class KubernetesLoader(Loader):
    """Reads every plain scalar as Kubernetes does (sigs.k8s.io/yaml, `goreader.read_plain`), for
    YAML that a Go program wrote for Kubernetes to read: `sops decrypt`'s output. yaml.v3 writes
    a value sops decrypted as a float in Go's form (`1e+06`), which is a number to Kubernetes
    and a string to YAML 1.1; Kubernetes' reading is the one that counts."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        tag = super().resolve(kind, value, implicit)
        return _GO_PLAIN if type(tag) is PlainTag and goreader.may_differ(value) else tag


KubernetesLoader.add_constructor(_GO_PLAIN, lambda _loader, node: goreader.read_plain(node.value))


def load_all_as_kubernetes(text: str | bytes) -> list[Any]:
    return list(yaml.load_all(text, Loader=KubernetesLoader))


def load(text: str | bytes) -> Any:
    """The one document of `text`, as PyYAML's safe loader reads it (and `=`, `!!merge <<` as strings)."""
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader


class YamlError(Exception):
    """The bytes are not YAML we accept. `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(repr=False, eq=False)  # `data` may be a clear-text Secret (check-secrets, import): never shown
class Document:
    """One YAML document: its data, the plain scalars Kubernetes reads otherwise, and the line of
    every YAML path in it (computed on demand: most documents never have a problem)."""

    index: int
    data: Any
    node: yaml.Node | None = None
    # (YAML path, message) of every plain scalar that Kubernetes (sigs.k8s.io/yaml) reads
    # differently from fleet-handshake (PyYAML), outside the top-level fields in UNCHECKED.
    plain_problems: list[tuple[str, str]] = field(default_factory=list)

    @functools.cached_property
    def lines(self) -> dict[str, int]:
        lines: dict[str, int] = {}
        if self.node is not None:
            _collect_lines(self.node, "", lines, 0)
        return lines

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


def join(path: str, key: str | int) -> str:
    """YAML path in the form the messages use: `spec.targets[1].clusterSelector`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not _PLAIN_KEY.fullmatch(key):
        return f"{path}[{key!r}]"
    return f"{path}.{key}" if path else key


@functools.lru_cache(maxsize=4096)
def compose(text: str | bytes) -> tuple[yaml.Node, ...]:
    """The node of every document of a YAML stream. Raises YamlError on anything off.

    Memoised (nothing changes a node): a run validates each encrypted file, then decrypts it, and
    both read the same nodes; a child forked to decrypt inherits them."""
    try:
        return tuple(yaml.compose_all(text, Loader=Loader))
    except yaml.MarkedYAMLError as e:
        raise syntax_error(e) from None
    except yaml.reader.ReaderError:
        raise YamlError("not UTF-8 text, or holds characters YAML does not allow") from None
    except yaml.YAMLError as e:
        raise YamlError(f"not valid YAML: {type(e).__name__}") from None
    except UnicodeDecodeError:
        raise YamlError("not UTF-8 text") from None


def parse_documents(text: str | bytes) -> list[Document]:
    """Parse every document of a YAML stream. Raises YamlError on anything off."""
    docs = []
    for index, node in enumerate(compose(text)):
        builder = _Builder(by_sops=written_by_sops(node))
        data = builder.build(node, (), 0)
        docs.append(Document(index, data, node, builder.plain))
    return docs


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


def written_by_sops(node: yaml.Node) -> bool:
    """A document with a top-level `sops` mapping: sops wrote it, dropping the user's quotes."""
    return isinstance(node, yaml.MappingNode) and any(k.value == "sops" and v.tag == MAP for k, v in node.value)


class _Builder:
    """In a document sops wrote, a plain scalar that Kubernetes reads as a string is that string,
    not refused as ambiguous: sops writes such a string plain whatever the user's quotes. One
    Kubernetes reads as another type is refused as in any file: sops keeps the quotes of that."""

    def __init__(self, by_sops: bool = False) -> None:
        self.by_sops = by_sops
        self.seen: set[int] = set()
        self.aliased = 0
        self._constructor = Loader.__new__(Loader)
        yaml.constructor.SafeConstructor.__init__(self._constructor)
        self.plain: list[tuple[str, str]] = []  # Document.plain_problems

    def build(self, node: yaml.Node, path: tuple[str | int, ...], depth: int, key: bool = False) -> Any:
        if depth > MAX_DEPTH:
            raise YamlError(f"nested deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
        if id(node) in self.seen:  # an alias, or a node of an alias's expansion (built with its anchor)
            self.aliased += 1
            if self.aliased > MAX_ALIASED_NODES:
                raise YamlError("aliases expand to too many YAML nodes; refusing to expand", node.start_mark.line + 1)
        else:
            self.seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        checked = type(node.tag) is PlainTag and goreader.may_differ(node.value) and not (path and path[0] in UNCHECKED)
        if checked and self.by_sops and type(goreader.read_plain(node.value)) is str:
            return node.value
        # A str tag is the common case: its value without the constructor's machinery.
        value = node.value if node.tag == STR else self._scalar(node, path)
        if checked:
            message = goreader.problem(node.value, value, key=key)
            if message is not None:
                self.plain.append((_path((*path, node.value) if key else path), message))
        return value

    def _scalar(self, node: yaml.Node, path: tuple[str | int, ...]) -> Any:
        try:
            return self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError, KeyError, AttributeError):
            # The library's own message quotes the scalar, which may be a secret: never pass it on.
            where = f"{_path(path)}: " if path else ""
            tag = f"its tag !!{node.tag.removeprefix(_YAML_TAG)}" if node.tag in _KNOWN_TAGS else "its tag"
            hint = "; if it is text, quote it" if type(node.tag) is PlainTag else ""
            raise YamlError(f"{where}a value does not fit {tag}{hint}", node.start_mark.line + 1) from None

    def _mapping(self, node: yaml.MappingNode, path: tuple[str | int, ...], depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlError("merge keys (<<) are not supported", key_node.start_mark.line + 1)
            key = self.build(key_node, path, depth + 1, key=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise YamlError("mapping keys must be scalars", key_node.start_mark.line + 1)
            if key in out:
                where = f"in {_path(path)}" if path else "at the top level"
                if _path((*path, str(key))) == _path(path):
                    raise YamlError(f"a key is given twice {where}", key_node.start_mark.line + 1)
                raise YamlError(f"duplicate key {key!r} {where}", key_node.start_mark.line + 1)
            out[key] = self.build(value_node, (*path, str(key)), depth + 1)
        return out
