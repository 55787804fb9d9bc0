"""The YAML side of in-process SOPS decryption, as the `sops` binary (Go, yaml.v3) sees it.

Two questions decide whether the in-process result equals `reader.load_all_as_kubernetes(<sops
decrypt>)`, the output as Kubernetes reads it:

- how yaml.v3 types a plain scalar of the encrypted file (keys, unencrypted values): that type
  feeds the MAC and the output;
- how yaml.v3 writes a decrypted value and how Kubernetes reads it back: `yes` stays a string
  because yaml.v3 quotes it, a float 3.0 comes back as the int 3, 1e6 as the number 1e+06 (a
  string to YAML 1.1).

Only the cases understood with certainty are answered; every other one raises NotHandled so the
binary decides: directives, tags, aliases and complex keys among them. The nodes are PyYAML's, as
core/yaml/reader.py composes them; an anchor without an alias changes nothing (sops ignores anchors).
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

import yaml

from ...core.yaml.goreader import GO_INT, INT64, NUMERIC, WORDS, format_go_float, read_plain
from ...core.yaml.reader import STR, ImplicitTag, PlainTag, YamlError, compose, plain_tag
from .outcome import NotHandled

GoValue = str | int | float | bool | None

# yaml.v3 encode.go quotes these YAML 1.1 booleans (isOldBool) and base-60 numbers (isBase60Float);
# resolve.go reads the booleans as strings.
_GO_OLD_BOOL = frozenset(
    {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO"} | {"on", "On", "ON", "off", "Off", "OFF"}
)
_GO_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_DIGITS = re.compile(r"[-+]?[0-9]+")
FLOAT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_GO_NUMERIC = re.compile(
    r"[-+]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)"
)
_HEX_OR_BIN = re.compile(r"[-+]?0x[0-9a-fA-F]{1,15}|-?0b[01]{1,62}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MAYBE_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?", re.DOTALL)
# Line breaks for PyYAML that yaml.v3 writes unescaped.
_UNSAFE_CHARS = re.compile("[\u2028\u2029]")


def parse_documents(data: bytes) -> tuple[yaml.Node, ...]:
    """The documents of a YAML stream; raises NotHandled for anything unusual."""
    if data.startswith(b"%") or b"\n%" in data:
        raise NotHandled("YAML directives")
    try:
        docs = compose(data)
    except YamlError:
        raise NotHandled("not YAML that PyYAML reads") from None
    seen: set[int] = set()
    pending = list(docs)
    while pending:
        node = pending.pop()
        if id(node) in seen:
            raise NotHandled("YAML aliases")
        seen.add(id(node))
        kind, tag = type(node), type(node.tag)
        # `! "1"` is typed as if plain by libyaml, a quoted string by yaml.v3 (`! 1` is plain to both).
        if tag is not ImplicitTag and (tag is not PlainTag or node.style):  # type: ignore[attr-defined]
            raise NotHandled("YAML tags")
        if kind is yaml.MappingNode:
            for key, value in node.value:
                if type(key) is not yaml.ScalarNode:
                    raise NotHandled("complex mapping keys")
                pending += (key, value)
        elif kind is yaml.SequenceNode:
            pending += node.value
    return docs


def go_value(scalar: yaml.Node) -> GoValue:
    """The Go value yaml.v3 decodes this scalar to (resolve.go), when certain: go-yaml v2's reading
    (core/yaml/goreader.py), except that the YAML 1.1 booleans are strings to yaml.v3."""
    text: str = scalar.value
    if type(scalar.tag) is not PlainTag or text in _GO_OLD_BOOL:
        return text
    value = read_plain(text)
    if type(value) is str:
        if text == "<<":
            raise NotHandled("special YAML scalar")
        if text[:1] in NUMERIC:
            if _MAYBE_TIMESTAMP.fullmatch(text):  # parseTimestamp: the four layouts yaml.v3 tries
                raise NotHandled("YAML timestamp")
            # resolve.go parses a "." first as it is, anything else after dropping underscores.
            if _GO_NUMERIC.fullmatch(text if text[0] == "." else text.replace("_", "")):
                raise NotHandled("YAML number")  # out of range for Go
        return value
    if type(value) is float and not math.isfinite(value):
        raise NotHandled("special YAML scalar")
    if type(value) is int and value not in INT64:
        raise NotHandled("an integer beyond int64")
    if type(value) is float and GO_INT.fullmatch(text.replace("_", "")):
        raise NotHandled("an integer beyond uint64")  # a float to yaml.v3
    return value


def go_key(scalar: yaml.ScalarNode) -> str:
    key = go_value(scalar)
    if not isinstance(key, str):
        raise NotHandled("a mapping key that is not a string")
    return key


def emitted(value: GoValue, *, as_json: bool = False) -> Any:
    """What Kubernetes reads back from sops' rendering of a Go value: `as_json`, its JSON output
    (encoding/json: exact), else yaml.v3's (encode.go), which is not exact for every string."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return json_number(value) if as_json else read_plain(go_float(value, "g"))
    return value if as_json else emitted_str(value)


def json_number(value: float) -> int | float:
    """What Python's json reads from encoding/json's float64: without a point or exponent (an
    integral value from 1e-6 up to 1e21, written 'f') it is an int."""
    go_float(value, "f")  # refuses infinities and NaN, as encoding/json does
    if value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def emitted_str(text: str) -> str:
    if _UNSAFE_CHARS.search(text):
        raise NotHandled("line separator characters")
    if "\n" in text:
        # yaml.v3 writes a literal block (double quotes when a block cannot hold it). A block that
        # needs an indentation indicator, or holds tabs, is not read back the same way by both
        # parsers (yaml.v3 may even fail to read its own output and write null instead).
        if text[0] in " \t\n" or "\t" in text:
            raise NotHandled("a multi-line string yaml.v3 may write differently")
        return text
    # "!", "&" and "*" alone are indicators: no emitter writes them plain.
    if plain_tag(text) in (STR, "tag:yaml.org,2002:yaml") or _go_quotes(text):
        return text
    raise NotHandled("a string PyYAML would read as another type")


def _go_quotes(text: str) -> bool:
    """True only when yaml.v3 certainly writes this string quoted (stringv: resolve, isOldBool, isBase60Float)."""
    if text in WORDS or _GO_BASE60.fullmatch(text):  # not "<<": written as `!!merge <<`
        return True
    # resolve.go parses numbers after dropping underscores when the text starts with a digit or sign.
    number = text.replace("_", "") if text[:1] in tuple("+-0123456789") else text
    if _HEX_OR_BIN.fullmatch(number) or (len(number) <= 18 and _DIGITS.fullmatch(number)):
        return True
    if len(number) <= 24 and FLOAT.fullmatch(number):
        return math.isfinite(float(number))
    if _DATE.fullmatch(text):
        try:
            datetime.date.fromisoformat(text)
        except ValueError:
            return False
        return True
    return False


def go_float(value: float, fmt: str) -> str:
    """strconv.FormatFloat(value, fmt, -1, 64) for fmt 'f' (the MAC) or 'g' (yaml.v3 output)."""
    if not math.isfinite(value):
        raise NotHandled("an infinite or NaN number")
    return format_go_float(value, fmt)
