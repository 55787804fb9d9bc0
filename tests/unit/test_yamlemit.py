"""core/yaml/emitter.py writes exactly what PyYAML writes for render.to_yaml, or declines."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fleethandshake.core import render
from fleethandshake.core.models import SecretValue
from fleethandshake.core.yaml import emitter as yamlemit


def pyyaml(data: Any) -> str:
    """render.to_yaml's PyYAML path, the reference."""
    text: str = yaml.dump(
        data, Dumper=render.Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=render.WIDTH
    )
    return text.rstrip("\n")


# Characters chosen to reach every rule: indicators, quotes, whitespace, line breaks, digits,
# words YAML reads as booleans or null, non-ASCII and non-printable characters.
TRICKY_TEXT = (
    ["", "true", "no", "null", "~", "123", "0x1F", "1e3", "1.5", ".inf", "-", "---", "...x", "=", "<<", "2024-01-01",
     "a: b", "a:", "a #b", "#x", "- x", "-x", "x y", " x", "x ", "x  y", "'q'", '"q"', "@x", "%x", "&a", "*a", "!t",
     "|", ">", "[a]", "{a}", "a,b", "?", "?x", "a\tb", "é", "\x85", "\u2028", "\x00", "\ufeff", "x\n", "\nx", "x\n\n",
     "x \ny", "x\n y", "x\n\ny\n", "MTIz", "+/=", "a/b.c_d-e", "https://x.y:8443/z", "a" * 130, "on", "Off",
     "x:y", "x :y", "a  b", "a b ", "a=b", "=a", "/a", "+1", "..", ".x", "_", "a%", "a@b", "0o17", "1_000", "12:30"]
)  # fmt: skip
TRICKY = st.sampled_from(TRICKY_TEXT)
# Text the fast path takes, so that Hypothesis explores it and not only the declines.
FRIENDLY = st.text(alphabet=st.sampled_from("ab01 :._/+=@%-\n"), min_size=1, max_size=10)
TEXT = st.one_of(
    TRICKY,
    FRIENDLY,
    st.text(alphabet=st.sampled_from("ab01 -:#._/+=@%'\"\n\t"), max_size=12),
    st.text(max_size=6),
    st.lists(TRICKY, min_size=1, max_size=4).map("".join),
)
SCALARS = st.one_of(TEXT, TEXT.map(SecretValue), st.booleans(), st.integers(-(10**6), 10**6), st.none())
KEYS = st.one_of(TEXT, st.integers(0, 3))
DOCS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=1500, deadline=None)
@given(DOCS)
@example({"a": ["x\ny\n", {"b": "l1\n\nl3", "c": {"d": [1, True, None, "", "123", {}, []]}}], "e": {}, "f": []})
@example([{"a": {"b": [{"c": "d"}, "e\n"]}}])
def test_fast_path_is_byte_identical_or_declines(data: Any) -> None:
    fast = yamlemit.emit(data)
    if fast is not None:
        assert fast == pyyaml(data)
    assert render.to_yaml(data) == pyyaml(data)


def test_every_tricky_string_in_every_position() -> None:
    taken = 0
    for text in TRICKY_TEXT:
        for doc in ({"k": text}, {text: "v"}, ["x", text], {"k": [text]}, {"k": {"n": text + "\nsecond"}},
                    [{"k": text, "j": [text]}], {"k": f"first\n{text}\nlast\n"}):  # fmt: skip
            fast = yamlemit.emit(doc)
            if fast is not None:
                taken += 1
                assert fast == pyyaml(doc), doc
    assert taken > 200  # the fast path is exercised, not only declined


def test_the_documents_rendered_here_take_the_fast_path() -> None:
    """The shapes generate writes (fleet.yaml, Secrets with base64 data and certificates) are not declined."""
    fleet = {
        "name": "db-credentials-prod-1a2b3c4d",
        "labels": {"app.kubernetes.io/managed-by": "fleet-handshake"},
        "namespace": "payments",
        "overrideTargets": [
            {"clusterSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "eu"]}]}},
            {"clusterGroup": "edge", "clusterName": "c-m-abc"},
        ],
        "targetCustomizations": [{"clusterName": "local", "doNotDeploy": True}],
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "payments", "annotations": {"note": "rotated by the team"}},
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": SecretValue("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM="),
            "port": SecretValue("NTQzMg=="),
        },
        "immutable": True,
    }
    for doc in (fleet, secret):
        fast = yamlemit.emit(doc)
        assert fast is not None
        assert fast == pyyaml(doc)
    assert '"port": "NTQzMg=="' in str(yamlemit.emit(secret)) and '"immutable": true' in str(yamlemit.emit(secret))


def test_every_string_is_double_quoted_keys_too() -> None:
    """The one quoting rule, on both paths: no string is left for a reader to type."""
    for text in TRICKY_TEXT:
        for doc in ({"k": text}, {text: "v"}, ["x", text]):
            loaded = yaml.compose(render.to_yaml(doc))
            nodes = [loaded.value[0][0], loaded.value[0][1]] if isinstance(loaded, yaml.MappingNode) else loaded.value
            assert all(node.style == '"' for node in nodes), doc


def test_declines_what_it_does_not_handle() -> None:
    for doc in (
        {"k": "é"},
        {"k": 1.5},
        {"k": "a\tb"},
        {"k" * 129: 1},
        {1: "a"},
        {"k": "a\nb"},
        {"k": [["a"]]},
        "x",
        {},
    ):
        assert yamlemit.emit(doc) is None, doc
