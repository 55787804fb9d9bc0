"""core.blockyaml reads what PyYAML reads, or declines; core.yamlresolve is PyYAML's resolver table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fleethandshake.core.yaml import block as blockyaml
from fleethandshake.core.yaml import resolver as yamlresolve

REPO = Path(__file__).resolve().parents[2]


class Beyond(Exception):
    """Anchors, aliases, tags: nodes cannot say them, and blockyaml must decline."""


def pyyaml_nodes(text: str) -> list[blockyaml.Node]:
    """PyYAML's events as blockyaml nodes: the reference for both the values and `plain`."""
    events = list(yaml.parse(text, Loader=yaml.SafeLoader))
    pos = 1
    docs = []

    def node() -> blockyaml.Node:
        nonlocal pos
        event = events[pos]
        pos += 1
        if isinstance(event, yaml.AliasEvent) or event.anchor is not None or getattr(event, "tag", None):
            raise Beyond
        if isinstance(event, yaml.ScalarEvent):
            return blockyaml.Scalar(event.value, bool(event.implicit[0]))
        if isinstance(event, yaml.SequenceStartEvent):
            items = []
            while not isinstance(events[pos], yaml.SequenceEndEvent):
                items.append(node())
            pos += 1
            return blockyaml.Sequence(tuple(items))
        assert isinstance(event, yaml.MappingStartEvent), event
        pairs = []
        while not isinstance(events[pos], yaml.MappingEndEvent):
            key = node()
            if not isinstance(key, blockyaml.Scalar):
                raise Beyond
            pairs.append((key, node()))
        pos += 1
        return blockyaml.Mapping(tuple(pairs))

    while isinstance(events[pos], yaml.DocumentStartEvent):
        pos += 1
        docs.append(node())
        pos += 1
    return docs


def check(text: str) -> bool:
    """Compare with PyYAML; True when blockyaml accepted the text."""
    fast = blockyaml.parse(text)
    try:
        reference = pyyaml_nodes(text)
    except (yaml.YAMLError, Beyond):
        assert fast is None, text  # PyYAML refuses it (or it is beyond the subset): so must blockyaml
        return False
    if fast is None:
        return False
    assert fast == reference, text
    data = blockyaml.load(text)
    if data is not None:
        assert data == list(yaml.safe_load_all(text)), text
    return True


# ---------------------------------------------------------------- documents in the subset's shape

WORDS = ["a", "name", "yes", "No", "null", "~", "true", "on", "1", "0x1", "1.5", "2024-01-01", "3.11.0", "x.y",
         ".dockerconfigjson", "tls.crt", "a/b", "-x", "ENC[AES256_GCM,data:q+/=,iv:x,tag:y,type:str]", "a b",
         "it's", "a:b", "a#b", "<<", "=", "", "é", "a\tb", "[x]", "{}", "[]", "-", "?x", "@a", "%a", "*a", "&a",
         "!a", "|", ">", "'", '"', "a: b", "a #b", "x:", "..."]  # fmt: skip
KEYS = st.sampled_from(["a", "b", "name", "spec", "data", "yes", "1", "null", "x.y", ".k", "a/b", "k-1", "_k"])
SCALAR = st.one_of(st.sampled_from(WORDS), st.text(alphabet="ab1 :#-'\"\n.", max_size=8))
DATA = st.recursive(
    SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=10,
)


def scalar_text(value: str, style: int) -> str:
    if style == 1:
        return "'" + value.replace("'", "''") + "'"
    if style == 2:
        return '"' + value + '"'
    return value


@st.composite
def written(draw: st.DrawFn, data: Any, indent: int = 0, seq_at_key: bool = False) -> str:
    """`data` written as block YAML, choosing styles the way people (and sops) write them."""
    pad = " " * indent
    if isinstance(data, dict):
        if not data:
            return pad + "{}\n"
        out = []
        for key, value in data.items():
            comment = draw(st.sampled_from(["", "", "  # note"]))
            if isinstance(value, list) and value and all(isinstance(v, str) for v in value) and draw(st.booleans()):
                items = ", ".join(scalar_text(v, draw(st.integers(0, 2))) for v in value)
                out.append(f"{pad}{key}: [{items}]{comment}\n")
            elif (
                isinstance(value, dict)
                and value
                and all(isinstance(v, str) for v in value.values())
                and draw(st.booleans())
            ):
                items = ", ".join(f"{k}: {scalar_text(v, draw(st.integers(0, 2)))}" for k, v in value.items())
                out.append(f"{pad}{key}: {{{items}}}{comment}\n")
            elif isinstance(value, list | dict) and value:
                step = draw(st.sampled_from([2, 4]))
                inner_indent = indent if isinstance(value, list) and draw(st.booleans()) else indent + step
                out.append(f"{pad}{key}:{comment}\n" + draw(written(value, inner_indent)))
            else:
                out.append(f"{pad}{key}: " + draw(inline(value)) + "\n")
            if draw(st.integers(0, 5)) == 0:
                out.append(draw(st.sampled_from(["\n", "# c\n", f"{pad}  # c\n"])))
        return "".join(out)
    if isinstance(data, list):
        if not data:
            return pad + "[]\n"
        out = []
        for item in data:
            if isinstance(item, list | dict) and item and draw(st.booleans()):
                first, *rest = draw(written(item, indent + 2)).split("\n", 1)
                out.append(f"{pad}- {first.lstrip(' ')}\n" + "".join(rest))
            elif isinstance(item, list | dict) and item:
                out.append(f"{pad}-\n" + draw(written(item, indent + 2)))
            else:
                out.append(f"{pad}- " + draw(inline(item)) + "\n")
        return "".join(out)
    return pad + draw(inline(data)) + "\n"


@st.composite
def inline(draw: st.DrawFn, value: Any) -> str:
    if isinstance(value, list):
        return "[]"
    if isinstance(value, dict):
        return "{}"
    if "\n" in value:
        body = value.rstrip("\n") if draw(st.booleans()) else value
        lines = body.split("\n")
        header = "|" if body.endswith("\n") or draw(st.booleans()) else "|-"
        return header + "".join("\n      " + line if line else "\n" for line in lines)
    return scalar_text(value, draw(st.integers(0, 2)))


@st.composite
def streams(draw: st.DrawFn) -> str:
    docs = draw(st.lists(DATA, min_size=1, max_size=3))
    parts = [draw(written(d)) for d in docs]
    lead = draw(st.sampled_from(["", "---\n", "# head\n", "\n"]))
    tail = draw(st.sampled_from(["", "---\n", "\n", "# end\n"]))
    return lead + "---\n".join(parts) + tail


@settings(max_examples=1500, deadline=None)
@given(streams())
@example("a:\n- x\n- y: z\n  w: |\n    hi\n    there\n\n  v: 'it''s'\nb: \"q\"\n")
@example("- - a\n  - b\n-\n  c: d\n- |-\n  e\n")
@example("---\n---\na: 1\n")
def test_block_documents_read_as_pyyaml_reads_them(text: str) -> None:
    check(text)


# --------------------------------------------------------------- any text: accepted means identical

LINES = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "---",
                "...",
                "%YAML 1.1",
                "- ",
                "-",
                "a:",
                "a: b",
                "  b: c",
                "    - d",
                "  |",
                "# c",
                "",
                "  ",
                "a: |",
                "b: |-",
                "  x",
                "   y",
                "- a: b",
                "  - c",
                "k: 'x'",
                'k: "y"',
                "k: [a]",
                "k: {a: b}",
                "k: [a, 'b', \"c\"]",
                "k: {a: 'b', c: d}",
                "k: [a, [b]]",
                "k: [a,]",
                "k: &x a",
                "k: *x",
                "k: !t a",
                "? k",
                "k: >",
                "k: v # c",
                "k:  # c",
                "\tk: v",
                "k: a\\b",
                'k: "a\\"b"',
                "a: b: c",
                "k: yes",
                "k: 012",
            ]
        ),
        st.text(alphabet=" -:ab#|'\"[]{}\n", max_size=8),
    ),
    max_size=10,
).map("\n".join)


@settings(max_examples=3000, deadline=None)
@given(LINES)
@example("a: 1\nb:\n  - x\n  - y\n")
def test_any_text_it_accepts_reads_as_pyyaml_reads_it(text: str) -> None:
    check(text)


# ------------------------------------------------------------------------------- declines and files


@pytest.mark.parametrize(
    "text",
    ["a: 1\na: 2\n", "a: &x b\nc: *x\n", "a: !!str b\n", "%YAML 1.1\n---\na: b\n", "a: b\n...\n",
     "a: [b, [c]]\n", "a: {b: [c]}\n", "a: >\n  b\n", "a: |+\n  b\n", "a: \"b\\nc\"\n", "a: b\n  c\n",
     "\ta: b\n", "a: é\n", "a: 'b\n  c'\n",
     "<<: {}\n", "yes: a\n", "? a\n: b\n", "a: |\n\n  b\n",
     "a:\n" + "".join(" " * i + "- x\n" for i in range(0, 140, 2))],
)  # fmt: skip
def test_declines_what_is_outside_the_subset(text: str) -> None:
    assert blockyaml.parse(text) is None or blockyaml.load(text) is None


def test_numbers_are_left_to_pyyaml() -> None:
    one = blockyaml.Mapping(((blockyaml.Scalar("a", True), blockyaml.Scalar("1", True)),))
    assert blockyaml.parse("a: 1\n") == [one]
    assert blockyaml.load("a: 1\n") is None


def test_reads_the_repositorys_own_yaml_files_as_pyyaml_does() -> None:
    paths = [p for d in ("examples", "tests") for p in (REPO / d).rglob("*.yaml") if "hostile" not in p.parts]
    accepted = 0
    for path in paths:
        text = path.read_bytes()
        if blockyaml.parse(text) is None:
            continue
        accepted += check(text.decode())
    assert accepted > len(paths) // 3  # the subset is the common case, not a corner


# ------------------------------------------------------------------------------------- the resolver


def test_resolver_table_is_pyyamls() -> None:
    ours = {k: [(t, p.pattern, p.flags) for t, p in v] for k, v in yamlresolve.implicit_resolvers().items()}
    theirs = {
        k: [(t, p.pattern, p.flags) for t, p in v] for k, v in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
    }
    assert ours == theirs


RESOLVER_TEXT = st.one_of(
    st.text(alphabet="0123456789+-._:eExXbBoOaAfF ~<=!&*yYnNtTlsu\n\t", max_size=12),
    st.sampled_from(["yes", "No", "null", "~", "", "<<", "=", "!", "1:20", "1_0", "0b1", "0o7", "012", ".5e+3",
                     "2001-12-14t21:59:43.10-05:00", "2002-12-14", ".NaN", "-.inf", "yes\n", "1e3", "1.0e+3"]),
    st.text(max_size=5),
)  # fmt: skip


@settings(max_examples=2000, deadline=None)
@given(RESOLVER_TEXT)
def test_plain_tag_is_pyyamls(text: str) -> None:
    assert yamlresolve.plain_tag(text) == yaml.resolver.Resolver().resolve(yaml.ScalarNode, text, (True, False))


def test_blockyaml_does_not_import_pyyaml() -> None:
    source = (REPO / "generator/fleethandshake/core/yaml/block.py").read_text()
    source += (REPO / "generator/fleethandshake/core/yaml/resolver.py").read_text()
    assert not re.search(r"^\s*(import yaml|from yaml)", source, re.M)


def test_large_texts_are_left_to_libyaml() -> None:
    """Above 64 KiB (an inventory), libyaml in C is faster, and a late decline would be wasted."""
    line = "- v\n"
    small = line * (blockyaml.MAX_TEXT // len(line))
    assert blockyaml.parse(small) is not None
    assert blockyaml.parse(small + line) is None
