"""Which tag PyYAML gives a plain (unquoted) scalar, without importing PyYAML.

The implicit resolvers below are PyYAML's own (`yaml/resolver.py`, YAML 1.1): the same patterns,
flags and first characters, in the same order. `tests/unit/test_yamlresolve.py` compares this
table with PyYAML's, so the two cannot drift apart. Importing PyYAML costs about 10 ms, most of it
compiling a regular expression its reader needs; these six patterns compile in well under one.
"""

from __future__ import annotations

import functools
import re

STR = "tag:yaml.org,2002:str"
NULL = "tag:yaml.org,2002:null"
BOOL = "tag:yaml.org,2002:bool"

_BOOL_RE = r"""^(?:yes|Yes|YES|no|No|NO
                    |true|True|TRUE|false|False|FALSE
                    |on|On|ON|off|Off|OFF)$"""
_FLOAT_RE = r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
                    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
                    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$"""
_INT_RE = r"""^(?:[-+]?0b[0-1_]+
                    |[-+]?0[0-7_]+
                    |[-+]?(?:0|[1-9][0-9_]*)
                    |[-+]?0x[0-9a-fA-F_]+
                    |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$"""
_MERGE_RE = r"^(?:<<)$"
_NULL_RE = r"""^(?: ~
                    |null|Null|NULL
                    | )$"""
_TIMESTAMP_RE = r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
                    |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
                     (?:[Tt]|[ \t]+)[0-9][0-9]?
                     :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
                     (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$"""
_VALUE_RE = r"^(?:=)$"
_YAML_RE = r"^(?:!|&|\*)$"

Table = dict[str, list[tuple[str, "re.Pattern[str]"]]]


@functools.cache
def implicit_resolvers() -> Table:
    """PyYAML's `Resolver.yaml_implicit_resolvers`: first character -> [(tag, pattern)], in order."""
    table: Table = {}
    rules = [
        (BOOL, re.compile(_BOOL_RE, re.X), "yYnNtTfFoO"),
        ("tag:yaml.org,2002:float", re.compile(_FLOAT_RE, re.X), "-+0123456789."),
        ("tag:yaml.org,2002:int", re.compile(_INT_RE, re.X), "-+0123456789"),
        ("tag:yaml.org,2002:merge", re.compile(_MERGE_RE), "<"),
        (NULL, re.compile(_NULL_RE, re.X), ["~", "n", "N", ""]),
        ("tag:yaml.org,2002:timestamp", re.compile(_TIMESTAMP_RE, re.X), "0123456789"),
        ("tag:yaml.org,2002:value", re.compile(_VALUE_RE), "="),
        ("tag:yaml.org,2002:yaml", re.compile(_YAML_RE), "!&*"),
    ]
    for tag, pattern, firsts in rules:
        for first in firsts:
            table.setdefault(first, []).append((tag, pattern))
    return table


def plain_tag(text: str) -> str:
    """`Resolver().resolve(ScalarNode, text, (True, False))`: the tag of `text` written plain."""
    for tag, pattern in implicit_resolvers().get(text[:1], ()):
        if pattern.match(text):
            return tag
    return STR
