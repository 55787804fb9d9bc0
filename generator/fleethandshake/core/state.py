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
from dataclasses import dataclass
from typing import Any

from .models import Handshake, PlainSecret
from .render import STATE_DIR

STATE_FILE = f"{STATE_DIR}/state.json"


@dataclass(frozen=True)
class Entry:
    inputs: str
    output: str
    bundles: tuple[str, ...]
    sealed: tuple[tuple[str, str], ...] = ()  # sops mode: path -> sealed_digest of the file written
    keys: tuple[tuple[str, str], ...] = ()  # data key -> keyed digest of its value, so plans can name changed keys
    # "type", "labels", "annotations" -> keyed digest: so plans of modes whose bundles do not hold
    # the Secret readable (sops, downstream) see those change too
    meta: tuple[tuple[str, str], ...] = ()


_SORTED = json.JSONEncoder(sort_keys=True)


def input_digest(hs: Handshake, secret_file_sha256: str, document: int, context: str) -> str:
    """Everything a handshake's bundles are made from. Ciphertext only: safe to hash.
    `secret_file_sha256` is the hex SHA-256 of the encrypted file, as read."""
    spec = {
        "workspace": hs.workspace, "name": hs.name, "secretName": hs.secret_name,
        "secretNamespace": hs.secret_namespace, "targetNamespace": hs.target_namespace,
        "targets": [t.to_dict() for t in hs.targets], "document": document, "context": context,
        "secretFile": secret_file_sha256,
    }  # fmt: skip
    return hashlib.sha256(_SORTED.encode(spec).encode()).hexdigest()


def output_mac(key: bytes, files: Mapping[str, bytes]) -> str:
    parts: list[bytes] = []
    for path in sorted(files):
        content = files[path]
        parts += (f"{len(path)}:{path}:{len(content)}:".encode(), content)
    return hmac.digest(key, b"".join(parts), "sha256").hex()


def sealed_digest(key: bytes, plaintext: bytes, recipients: tuple[str, ...], sealed: bytes) -> str:
    """Binds a sealed file's bytes to the plaintext and recipients they were sealed from.

    A later run reuses the file only when all three still match: a file someone replaced or
    edited (a valid sops file for the same recipients with other content, say) is sealed again.
    Keyed, so it says nothing about the plaintext to anyone without the generator's key.
    """
    mac = hmac.new(key, digestmod=hashlib.sha256)
    head = ",".join(recipients).encode()
    for part in (b"sealed", head, plaintext):
        mac.update(f"{len(part)}:".encode() + part)
    mac.update(sealed)
    return mac.hexdigest()


def value_digests(key: bytes, secret: PlainSecret) -> tuple[tuple[str, str], ...]:
    """Per data key, a keyed digest of the bytes it delivers."""
    raw = ((name, base64.b64decode(value.reveal())) for name, value in secret.data)
    return tuple(sorted((name, hmac.new(key, b"value\0" + data, hashlib.sha256).hexdigest()) for name, data in raw))


def meta_digests(key: bytes, secret: PlainSecret) -> tuple[tuple[str, str], ...]:
    """Keyed digests of the Secret's type, labels and annotations (which the source may hold
    encrypted): so a plan can say which of them changed, never what they are."""
    fields = {"type": secret.type, "labels": dict(secret.labels), "annotations": dict(secret.annotations)}
    return tuple(
        (name, hmac.new(key, b"meta\0" + _SORTED.encode([name, value]).encode(), hashlib.sha256).hexdigest())
        for name, value in sorted(fields.items())
    )


def value_digests_by_handshake(content: bytes | None, field: str = "keys") -> dict[tuple[str, str], dict[str, str]]:
    """Per handshake, the keyed value digests (`field` "meta": the type, labels and annotations
    digests) of a state file, whatever its context; a handshake without them is left out.

    Plans compare two trees made with the same key; digests made with different keys simply
    differ, which reads as "changed": never as "unchanged" by mistake.
    """
    parts = _split(content) if content is not None else None
    if parts is None:
        return {}
    try:
        doc = _parsed(parts[1])  # read_views asks for "keys" and "meta" of the same file: parsed once
        return {(str(e["namespace"]), str(e["name"])): {str(k): str(d) for k, d in e.get(field, {}).items()}
                for e in doc["handshakes"] if field == "keys" or field in e}  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def digests_key_id(content: bytes | None) -> str:
    """The id of the key that made a state file's digests (unchecked: plans only compare by it)."""
    parts = _split(content) if content is not None else None
    doc = _parsed(parts[1]) if parts is not None else None
    return str(doc.get("key", "")) if isinstance(doc, dict) else ""


def key_id(key: bytes) -> str:
    """Which key made the MACs, without revealing it (a second, domain-separated HMAC)."""
    return hmac.new(key, b"fleet-handshake state key id", hashlib.sha256).hexdigest()[:16]


# The file: `{"format":"fleet-handshake-state/v2","mac":"<hex>","state":<body>}` and a newline,
# where mac = HMAC(key, "state\0" + body) over the exact bytes of <body>. One MAC over the raw
# bytes: checking it costs one pass, where a MAC per record meant serialising each one again.
FORMAT = "fleet-handshake-state/v2"
_HEAD = b'{"format":"' + FORMAT.encode() + b'","mac":"'
_MIDDLE = b'","state":'
_TAIL = b"}\n"
_MAC_LENGTH = 64


def _split(content: bytes) -> tuple[bytes, bytes] | None:
    """(mac, body) of a state file in this format, unchecked."""
    if not content.startswith(_HEAD) or not content.endswith(_TAIL):
        return None
    mac_end = len(_HEAD) + _MAC_LENGTH
    if content[mac_end : mac_end + len(_MIDDLE)] != _MIDDLE:
        return None
    return content[len(_HEAD) : mac_end], content[mac_end + len(_MIDDLE) : -len(_TAIL)]


def _state_mac(key: bytes, body: bytes) -> bytes:
    return hmac.digest(key, b"state\0" + body, "sha256").hex().encode()


@functools.lru_cache(maxsize=1)
def _parsed(body: bytes) -> Any:
    """One JSON parse per run: the parse cache and the entries read the same (large) file.
    Callers only read the result."""
    try:
        return json.loads(body)
    except ValueError:
        return None


@functools.lru_cache(maxsize=1)  # parse_sources and parse_state check the same file in one run
def _ours(content: bytes | None, context: str | None, key: bytes) -> Any:
    """The state document, if it is one this run may use: made with this key (its MAC checks),
    for the same tool and templates (`context`; None: any). Anything else, edited or foreign, is
    not used at all."""
    parts = _split(content) if content is not None else None
    if parts is None or not hmac.compare_digest(parts[0], _state_mac(key, parts[1])):
        return None
    doc = _parsed(parts[1])
    if not isinstance(doc, dict) or doc.get("key") != key_id(key) or context not in (None, doc.get("context")):
        return None
    return doc


def parse_state(content: bytes | None, context: str | None, key: bytes) -> dict[tuple[str, str], Entry]:
    """The usable entries, or none at all when anything about the file is off. `context` None:
    whatever version of the tool wrote them (their digests and MACs stay comparable)."""
    doc = _ours(content, context, key)
    if doc is None:
        return {}
    try:
        return {
            (str(e["namespace"]), str(e["name"])): Entry(
                str(e["inputs"]), str(e["output"]), tuple(str(b) for b in e["bundles"]),
                tuple((str(p), str(d)) for p, d in sorted(e.get("sealed", {}).items())),
                tuple((str(k), str(d)) for k, d in sorted(e.get("keys", {}).items())),
                tuple((str(k), str(d)) for k, d in sorted(e.get("meta", {}).items())),
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
        return {str(path): (str(digest), record) for path, (digest, record) in doc.get("sources", {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}  # a malformed state: parse everything


def state_json(
    entries: Mapping[tuple[str, str], Entry],
    context: str,
    key: bytes,
    sources: Mapping[str, tuple[str, Any]] | None = None,
) -> bytes:
    doc: dict[str, Any] = {
        "context": context,
        "key": key_id(key),
        "sources": {path: [digest, record] for path, (digest, record) in sorted((sources or {}).items())},
        "handshakes": [
            {"namespace": ws, "name": name, "inputs": e.inputs, "output": e.output, "bundles": list(e.bundles)}
            | ({"sealed": dict(e.sealed)} if e.sealed else {})
            | ({"keys": dict(e.keys)} if e.keys else {})
            | ({"meta": dict(e.meta)} if e.meta else {})
            for (ws, name), e in sorted(entries.items())
        ],
    }
    body = json.dumps(doc, separators=(",", ":")).encode()
    return _HEAD + _state_mac(key, body) + _MIDDLE + body + _TAIL
