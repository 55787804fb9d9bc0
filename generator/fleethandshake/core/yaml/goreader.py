"""How Kubernetes reads a plain (unquoted) YAML scalar, and whether fleet-handshake reads it alike.

kubectl, the API server's clients and Fleet read YAML with `sigs.k8s.io/yaml`: its fork of
go-yaml v2 (`goyaml.v2/resolve.go`) types the scalar, then the result is turned into JSON
(`yaml.go`, `convertToJSONableObject`: mapping keys become strings). Where that differs from
PyYAML (YAML 1.1): README.md, "Read as Kubernetes reads it". `tests/integration/test_goyaml_kubectl.py`
checks this model against a real kubectl.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Unreadable:
    """A plain scalar that sigs.k8s.io/yaml cannot turn into JSON: kubectl refuses the file."""

    why: str


GoValue = str | int | float | bool | None

# resolve.go: resolveMap, and the first characters (resolveTable) that make Go look further.
_MAP: dict[str, GoValue] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
NUMERIC = frozenset("+-0123456789.")
WORDS = frozenset(_MAP)


def may_differ(text: str) -> bool:
    """False when both readers certainly read this plain scalar as this very string: most words
    and names. (PyYAML's implicit types start with these characters too, or are among WORDS.)"""
    return text[:1] in NUMERIC or text in WORDS


# strconv.ParseInt / ParseUint(s, 0, 64) syntax (resolve.go removed the underscores first).
GO_INT = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)")
_BASES = {"0x": 16, "0X": 16, "0b": 2, "0B": 2, "0o": 8, "0O": 8}
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?")  # what strconv.ParseFloat takes after a "."
_BINARY = re.compile(r"([-+]?)([01]+)")
INT64 = range(-(2**63), 2**63)
_UINT64 = range(2**64)


def read_plain(text: str) -> GoValue:
    """The Go value go-yaml v2 gives a plain scalar (resolve.go, decoding into interface{}).

    Timestamps are strings here: v2 keeps a timestamp decoded into interface{} as its text. Ints
    from 2**63 to 2**64 - 1 are Go's uint64; floats may be infinite or NaN.
    """
    if text in _MAP:
        return _MAP[text]
    first = text[:1]
    if first not in NUMERIC:
        return text
    if first == ".":
        if _DOT_FLOAT.fullmatch(text) and not math.isinf(float(text)):  # strconv.ParseFloat: out of range is an error
            return float(text)
        return text
    # A timestamp (four digits, then "-") stays its text; none of them parses as a number below.
    plain = text.replace("_", "")
    number = GO_INT.fullmatch(plain)
    if number:
        value = _int(number[1], number[2])
        if value in INT64 or (not number[1] and value in _UINT64):
            return value
    if _YAML_STYLE_FLOAT.fullmatch(plain):
        value_f = float(plain)
        if not math.isinf(value_f):  # strconv.ParseFloat: out of range is an error
            return value_f
    if plain.startswith(("0b", "-0b")):
        # A second try at binary, on the text after "0b" (which may carry a sign of its own).
        negative = plain[0] == "-"
        binary = _BINARY.fullmatch(plain[3:] if negative else plain[2:])
        if binary and not (negative and binary[1]):
            value = int(binary[2], 2) * (-1 if negative or binary[1] == "-" else 1)
            if value in INT64 or (not negative and not binary[1] and value in _UINT64):
                return value
    # Newer releases of the fork read a number beyond uint64 as a big.Int; kubectl 1.37's keeps the text.
    return text


def _int(sign: str, digits: str) -> int:
    base = _BASES.get(digits[:2])
    # Without a prefix, a leading 0 means octal, as in Go source.
    value = int(digits[2:], base) if base is not None else int(digits, 8 if digits[0] == "0" else 10)
    return -value if sign == "-" else value


def json_value(text: str) -> GoValue | Unreadable:
    """What sigs.k8s.io/yaml makes of a plain scalar in value position, in JSON terms."""
    value = read_plain(text)
    if isinstance(value, float) and not math.isfinite(value):
        return Unreadable("NaN" if math.isnan(value) else "an infinite number")  # json.Marshal refuses both
    return value


def json_key(text: str) -> str | Unreadable:
    """The string sigs.k8s.io/yaml makes of a plain mapping key (convertToJSONableObject)."""
    if text == "<<":
        return Unreadable("a merge key")
    value = read_plain(text)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return Unreadable("null")
    if isinstance(value, int):
        # Only Go's int keys are converted; uint64 keys are refused.
        return str(value) if value in INT64 else Unreadable("a number beyond 64 bits")
    return _float32_key(value)


def _float32_key(value: float) -> str:
    """strconv.FormatFloat(value, 'g', -1, 32), with go-yaml's names for the infinities and NaN."""
    if math.isnan(value):
        return ".nan"
    try:
        (single,) = struct.unpack("f", struct.pack("f", value))
    except OverflowError:
        single = math.copysign(math.inf, value)
    if math.isinf(single):
        return ".inf" if single > 0 else "-.inf"
    for digits in range(1, 10):  # the shortest decimal that reads back as the same float32
        text = f"{single:.{digits - 1}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            break
    return format_go_float(float(text), "g")


def format_go_float(value: float, fmt: str) -> str:
    """strconv.FormatFloat(value, fmt, -1, 64) for fmt 'f' or 'g', for a finite value."""
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0"
    from decimal import Decimal  # not at the top: every validate imports this module, few need it

    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    assert isinstance(exponent, int)
    point = len(digits) + exponent  # value = 0.<digits> * 10**point
    if fmt == "g" and not -4 <= point - 1 < 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        exp = point - 1
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def problem(text: str, read: Any, *, key: bool = False) -> str | None:
    """Why a plain scalar must be quoted, or None when Kubernetes and fleet-handshake read it alike.

    `read` is what fleet-handshake (PyYAML) made of it. Two readings are alike when both are the
    same string, null, the same boolean, or numbers of equal value (JSON has one number type).
    """
    if not may_differ(text) and type(read) is str and read == text:
        return None  # the common case, a word or a name: a string to both
    go: GoValue | Unreadable = json_key(text) if key else json_value(text)
    if _alike(go, read):
        return None
    what = "key" if key else "value"
    quoted = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(go, Unreadable):
        seen = f"Kubernetes cannot read the plain {what} {text} ({go.why} has no place in JSON)"
    else:
        seen = f"Kubernetes reads the plain {what} {text} as {describe(go)}"
    if not (type(read) is str and read == text):
        seen += f", fleet-handshake (YAML 1.1) reads it as {describe(read)}"
    return f"{seen}; write it quoted: {quoted}"


def _alike(go: GoValue | Unreadable, read: Any) -> bool:
    if isinstance(go, Unreadable):
        return False
    if go is None or read is None:
        return go is read
    if isinstance(go, bool) or isinstance(read, bool) or isinstance(go, str) or isinstance(read, str):
        return type(go) is type(read) and go == read
    if not isinstance(read, int | float):
        return False
    if isinstance(go, int) and isinstance(read, int):
        return go == read
    try:
        return float(go) == float(read)  # JSON numbers, as float64 where either is one
    except OverflowError:
        return False


def describe(value: Any) -> str:
    """A value as a message names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, str):
        return 'the string "' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, int):
        return f"the number {value}"
    if isinstance(value, float):
        if math.isfinite(value):
            return f"the number {format_go_float(value, 'g')}"
        return "NaN" if math.isnan(value) else f"{'minus ' if value < 0 else ''}infinity"
    return f"a {type(value).__name__}"  # date, datetime
