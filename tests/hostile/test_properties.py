"""Mutated inputs: the tool either delivers the right values or fails cleanly, never wrong plaintext.

Each example lays one mutated file over the valid baseline source, starts from the baseline's
output tree and calls `generate` in-process. Allowed outcomes: a FleetHandshakeError (exit 1 or
2), or a result where every Synced handshake's Secret holds exactly the values of the Secret it
names in the baseline. Anything else (another exception, a wrong value, a value in an error
message or on stdout/stderr) fails. Mutated encrypted files are also decrypted by the sops
binary, the reference: the tool must accept exactly what the binary accepts.

FH_PROPERTY_EXAMPLES=600 runs a longer search locally (default 50 examples per property).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fhtest import SOPS
from fleethandshake.adapters.sops.decrypt import DecryptFailure, SopsDecryptor
from fleethandshake.app.generate import generate
from fleethandshake.errors import FleetHandshakeError, InvalidInputs
from hostile.corpus import CANARIES, CANARY_ALPHA, CANARY_BRAVO, CANARY_LOW, Baseline, b64, statuses
from hostile.leaks import find_leaks

PROPERTY = settings(
    max_examples=int(os.environ.get("FH_PROPERTY_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# What each baseline Secret holds in the source (as the sops binary decrypts it) ...
SOURCE = {
    "alpha-secret": {"stringData": {"password": CANARY_ALPHA, "pin": CANARY_LOW}},
    "bravo-secret": {"data": {"token": b64(CANARY_BRAVO)}},
}
# ... and as the rendered secret.yaml must show it: `data` only, stringData folded in as base64.
EXPECTED = {
    "alpha-secret": {"data": {"password": b64(CANARY_ALPHA), "pin": b64(CANARY_LOW)}},
    "bravo-secret": {"data": {"token": b64(CANARY_BRAVO)}},
}
SCALARS = st.one_of(
    st.text(max_size=12),
    st.integers(),
    st.sampled_from(
        ["null", "~", "true", "''", "[]", "{}", "*x", "&x a", "!!binary AAAA", "!!python/none", "0x1F", ".inf",
         "- a", "{a: b}", "[c1, c2]", "fleet-default", "Alpha", "../x", "a" * 70, "2001-12-14", "'", '"', "|", ">",
         "ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]", "alpha-secret", "bravo-secret", "default"]
    ),
)  # fmt: skip


@pytest.fixture(scope="module")
def keyed(baseline: Baseline) -> Iterator[Baseline]:
    """The key in this process's environment, as generate reads it."""
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("SOPS_")]:
            mp.delenv(name)
        mp.setenv("SOPS_AGE_KEY_FILE", str(baseline.key.key_file))
        mp.delenv("FLEET_HANDSHAKE_SOPS_INPROCESS", raising=False)
        yield baseline


@contextlib.contextmanager
def copy_of(base: Baseline) -> Iterator[tuple[Path, Path]]:
    tmp = Path(tempfile.mkdtemp(prefix="fh-prop-"))
    try:
        shutil.copytree(base.source, tmp / "source")
        shutil.copytree(base.out, tmp / "work" / "out")
        yield tmp / "source", tmp / "work" / "out"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_generate(source: Path, out: Path) -> tuple[FleetHandshakeError | None, str]:
    """generate in-process: the error it raised (if it is one of ours), and all it printed."""
    printed = io.StringIO()
    error: FleetHandshakeError | None = None
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        try:
            generate(source, out, say=lambda text: print(text))
        except FleetHandshakeError as e:
            error = e
    return error, printed.getvalue()


def check_error(error: FleetHandshakeError) -> None:
    assert error.exit_code in (1, 2)
    text = str(error) + "".join(f"\n{p}" for p in getattr(error, "problems", []))
    assert not find_leaks("error", text, CANARIES)


def delivered(out: Path) -> dict[str, list[dict[str, Any]]]:
    """The Secret documents each Synced handshake's bundles deliver."""
    doc = yaml.safe_load((out / ".fleet-handshake" / "status.json").read_text())
    found: dict[str, list[dict[str, Any]]] = {}
    for hs in doc["handshakes"]:
        if hs["status"] == "Synced":
            found[hs["name"]] = [yaml.safe_load((out / b / "secret.yaml").read_text()) for b in hs["bundles"]]
    return found


def assert_right_values(out: Path) -> None:
    for name, secrets in delivered(out).items():
        assert secrets, f"{name} is Synced without a bundle"
        for doc in secrets:
            expected = EXPECTED.get(doc["metadata"]["name"])
            assert expected is not None, f"{name} delivers a Secret that is not in the source"
            got = {k: doc[k] for k in ("data", "stringData") if k in doc}
            assert got == expected, f"{name}: wrong values delivered"


# --- mutated handshake YAML -------------------------------------------------------------------


@st.composite
def mutated_text(draw: st.DrawFn, text: str) -> bytes:
    data = bytearray(text.encode())
    for _ in range(draw(st.integers(1, 3))):
        lines = bytes(data).split(b"\n")
        kind = draw(st.sampled_from(["flip", "delete", "swap", "scalar"]))
        if kind == "flip":
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
            continue
        i = draw(st.integers(0, len(lines) - 1))
        if kind == "delete":
            del lines[i]
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            a, b = lines[i].partition(b":"), lines[j].partition(b":")
            if a[1] and b[1]:
                lines[i], lines[j] = b[0] + a[1] + a[2], a[0] + b[1] + b[2]
        else:
            key, colon, _ = lines[i].partition(b": ")
            if colon:
                lines[i] = key + b": " + str(draw(SCALARS)).encode("utf-8", "surrogatepass")
        data = bytearray(b"\n".join(lines))
    return bytes(data)


@PROPERTY
@given(data=st.data())
def test_mutated_handshakes_give_right_values_or_a_clean_error(keyed: Baseline, data: st.DataObject) -> None:
    original = (keyed.source / "handshakes.yaml").read_text()
    mutated = data.draw(mutated_text(original), label="handshakes.yaml")
    with copy_of(keyed) as (source, out):
        (source / "handshakes.yaml").write_bytes(mutated)
        bundles_before = {p: p.read_bytes() for p in out.rglob("*.yaml")}
        error, printed = run_generate(source, out)
        event(f"outcome: {type(error).__name__ if error else statuses(out)}")
        assert not find_leaks("printed", printed, CANARIES)
        if error is not None:
            check_error(error)
            if isinstance(error, InvalidInputs):  # nothing at all is written
                assert {p: p.read_bytes() for p in out.rglob("*.yaml")} == bundles_before
            return
        assert_right_values(out)


# --- mutated encrypted files ------------------------------------------------------------------

_ENC = re.compile(rb"ENC\[AES256_GCM,data:[^\]]*\]")
_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


@st.composite
def mutated_ciphertext(draw: st.DrawFn, raw: bytes) -> bytes:
    data = bytearray(raw)
    # Mostly changes that keep the file well-formed, so that decryption itself is exercised.
    where = draw(st.sampled_from(["enc-value", "enc-value", "sops-block", "sops-block", "anywhere", "truncate"]))
    if where == "truncate":
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    if where == "enc-value":
        start, end = draw(st.sampled_from([m.span() for m in _ENC.finditer(raw)]))
        pos = draw(st.integers(start + len(b"ENC[AES256_GCM,"), end - 2))
    elif where == "sops-block":
        pos = draw(st.integers(raw.index(b"\nsops:") + 1, len(data) - 1))
    else:
        pos = draw(st.integers(0, len(data) - 1))
    if draw(st.booleans()) and chr(data[pos]) in _BASE64:
        new = draw(st.sampled_from(_BASE64.encode()))
    else:
        new = draw(st.integers(0, 255))
    if data[pos] == new:
        new ^= 0x01
    data[pos] = new
    return bytes(data)


def binary_accepts(path: Path) -> list[Any] | None:
    result = SopsDecryptor(SOPS, inprocess=False).decrypt_all([path])[path]
    return None if isinstance(result, DecryptFailure) else result


@PROPERTY
@given(data=st.data())
def test_mutated_encrypted_files_give_right_values_or_a_clean_error(keyed: Baseline, data: st.DataObject) -> None:
    raw = (keyed.source / "secrets" / "alpha.yaml").read_bytes()
    mutated = data.draw(mutated_ciphertext(raw), label="secrets/alpha.yaml")
    with copy_of(keyed) as (source, out):
        path = source / "secrets" / "alpha.yaml"
        path.write_bytes(mutated)
        error, printed = run_generate(source, out)
        event(f"outcome: {type(error).__name__ if error else statuses(out).get('alpha')}")
        assert not find_leaks("printed", printed, CANARIES)
        if error is not None:
            check_error(error)
            return
        assert_right_values(out)
        alpha = statuses(out).get("alpha")
        reference = binary_accepts(path)
        # The binary is the reference: accept exactly what it accepts (Missing: the name changed).
        if alpha == "Synced":
            assert reference is not None, "the tool accepted a file the sops binary rejects"
        elif alpha == "Error" and reference is not None:
            docs = [d for d in reference if isinstance(d, dict) and d.get("kind") == "Secret"]
            values = {k: d[k] for d in docs for k in ("data", "stringData") if k in d}
            assert values != SOURCE["alpha-secret"], "the tool rejected a file the sops binary accepts"
