"""The incremental-run state: an optimisation only, never a source of truth.

Per handshake it records a digest of the inputs (the handshake's spec and the *encrypted* Secret
file, never plaintext) and a keyed MAC of the bundle files they produced. A run may reuse a
handshake's previous bundles, without decrypting or rendering, only when both still match.
Deleting the state, or a corrupt or foreign one, just means a full run with the same output.
The MAC is keyed with material only the generator holds, so the state reveals nothing about a
value even where the bundle files hold plaintext.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from .models import Handshake, PlainSecret
from .records import dataclass
from .render import STATE_DIR

STATE_FILE = f"{STATE_DIR}/state.json"
FORMAT = "fleet-handshake-state/v1"


@dataclass(frozen=True)
class Entry:
    inputs: str
    output: str
    bundles: tuple[str, ...]
    sealed: tuple[tuple[str, str], ...] = ()  # sops mode: path -> keyed digest of plaintext and recipients
    keys: tuple[tuple[str, str], ...] = ()  # data key -> keyed digest of its value, so plans can name changed keys


def input_digest(hs: Handshake, secret_file: bytes, document: int, context: str) -> str:
    """Everything a handshake's bundles are made from. Ciphertext only: safe to hash."""
    spec = {
        "workspace": hs.workspace, "name": hs.name, "secretName": hs.secret_name,
        "secretNamespace": hs.secret_namespace, "targetNamespace": hs.target_namespace,
        "targets": [t.to_dict() for t in hs.targets], "document": document, "context": context,
        "secretFile": hashlib.sha256(secret_file).hexdigest(),
    }  # fmt: skip
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def output_mac(key: bytes, files: Mapping[str, bytes]) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for path in sorted(files):
        content = files[path]
        mac.update(f"{len(path)}:{path}:{len(content)}:".encode())
        mac.update(content)
    return mac.hexdigest()


def sealed_digest(key: bytes, plaintext: bytes, recipients: tuple[str, ...]) -> str:
    """Keyed, so it says nothing about the plaintext to anyone without the generator's key."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    mac.update(b"sealed\0" + ",".join(recipients).encode() + b"\0" + plaintext)
    return mac.hexdigest()


def value_digests(key: bytes, secret: PlainSecret) -> tuple[tuple[str, str], ...]:
    """Per data key, a keyed digest of the bytes it delivers (data and stringData alike)."""
    out = {}
    for name, value in secret.data:
        out[name] = _value_mac(key, base64.b64decode(value.reveal()))
    for name, value in secret.string_data:
        out[name] = _value_mac(key, value.reveal().encode())
    return tuple(sorted(out.items()))


def _value_mac(key: bytes, raw: bytes) -> str:
    return hmac.new(key, b"value\0" + raw, hashlib.sha256).hexdigest()


def value_digests_by_handshake(content: bytes | None) -> dict[tuple[str, str], dict[str, str]]:
    """Per handshake, the keyed value digests of a state file, whatever its context.

    Plans compare two trees made with the same key; digests made with different keys simply
    differ, which reads as "changed": never as "unchanged" by mistake.
    """
    if content is None:
        return {}
    try:
        doc = json.loads(content)
        return {(str(e["namespace"]), str(e["name"])): {str(k): str(d) for k, d in e.get("keys", {}).items()}
                for e in doc["handshakes"]}  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def key_id(key: bytes) -> str:
    """Which key made the MACs, without revealing it (a second, domain-separated HMAC)."""
    return hmac.new(key, b"fleet-handshake state key id", hashlib.sha256).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def _parsed(content: bytes) -> Any:
    """One JSON parse per run: the parse cache and the entries read the same (large) file.
    Callers only read the result."""
    try:
        return json.loads(content)
    except ValueError:
        return None


def _ours(content: bytes | None, context: str, key: bytes) -> Any:
    """The state document, if it is one this run may use (same format, tool, templates, key)."""
    if content is None:
        return None
    doc = _parsed(content)
    if not isinstance(doc, dict) or (doc.get("format"), doc.get("context"), doc.get("key")) != (
        FORMAT,
        context,
        key_id(key),
    ):
        return None
    return doc


def parse_state(content: bytes | None, context: str, key: bytes) -> dict[tuple[str, str], Entry]:
    """The usable entries, or none at all when anything about the file is off."""
    doc = _ours(content, context, key)
    if doc is None:
        return {}
    try:
        return {
            (str(e["namespace"]), str(e["name"])): Entry(
                str(e["inputs"]), str(e["output"]), tuple(str(b) for b in e["bundles"]),
                tuple((str(p), str(d)) for p, d in sorted(e.get("sealed", {}).items())),
                tuple((str(k), str(d)) for k, d in sorted(e.get("keys", {}).items())),
            )
            for e in doc["handshakes"]
        }  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def parse_sources(content: bytes | None, context: str, key: bytes) -> dict[str, tuple[str, Any]]:
    """The parse cache: source path -> (content digest, what the file defined)."""
    doc = _ours(content, context, key)
    if doc is None:
        return {}
    try:
        out = {}
        for path, (digest, record, mac) in doc.get("sources", {}).items():
            # Keyed: a forged or edited record (a widened target, say) must never reach the output.
            if hmac.compare_digest(str(mac), _record_mac(key, str(path), str(digest), record)):
                out[str(path)] = (str(digest), record)
                _verified[(key, str(path), str(digest))] = (record, str(mac))
        return out
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return {}  # a malformed state: parse everything


# MACs checked while reading the state, by (key, path, digest): writing the state again reuses
# them for the very same record objects instead of serialising and MACing each one twice.
_verified: dict[tuple[bytes, str, str], tuple[Any, str]] = {}


def _mac_for(key: bytes, path: str, digest: str, record: Any) -> str:
    known = _verified.get((key, path, digest))
    if known is not None and known[0] is record:
        return known[1]
    return _record_mac(key, path, digest, record)


def _record_mac(key: bytes, path: str, digest: str, record: Any) -> str:
    payload = json.dumps([path, digest, record], sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, b"source\0" + payload, hashlib.sha256).hexdigest()


def state_json(
    entries: Mapping[tuple[str, str], Entry],
    context: str,
    key: bytes,
    sources: Mapping[str, tuple[str, Any]] | None = None,
) -> bytes:
    doc: dict[str, Any] = {
        "format": FORMAT,
        "context": context,
        "key": key_id(key),
        "sources": {
            path: [digest, record, _mac_for(key, path, digest, record)]
            for path, (digest, record) in sorted((sources or {}).items())
        },
        "handshakes": [
            {"namespace": ws, "name": name, "inputs": e.inputs, "output": e.output, "bundles": list(e.bundles)}
            | ({"sealed": dict(e.sealed)} if e.sealed else {})
            | ({"keys": dict(e.keys)} if e.keys else {})
            for (ws, name), e in sorted(entries.items())
        ],
    }
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode()
