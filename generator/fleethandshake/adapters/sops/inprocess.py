"""Decrypt a SOPS-encrypted YAML file in-process, exactly as `sops decrypt` would.

The `sops` binary is the reference. This module follows its source (sops.go `Tree.Decrypt`,
aes/cipher.go, stores/yaml/store.go, cmd/sops/common `DecryptTree`) for the files it fully
understands: YAML, age recipients, AES256_GCM values of type str, int, float or bool. The result
equals `reader.load_all_as_kubernetes(<output of sops decrypt>)`; a refusal carries sops' exit code. Anything
else raises NotHandled and the caller asks the binary.

Walk and MAC, as in `Tree.Decrypt`: every document in order, depth first, map keys in file order.
A value is encrypted unless the key-path rules (`unencrypted_suffix`, `encrypted_suffix`,
`unencrypted_regex`, `encrypted_regex`) exempt it; its additional data is the path of map keys
joined by ':' plus a trailing ':' (list indices are not part of it). The SHA-512 MAC covers the
decrypted value of every non-null leaf (only the encrypted ones with `mac_only_encrypted`, after a
fixed 32-byte prefix), and is stored encrypted with `lastmodified` as additional data.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from yaml import MappingNode, Node, ScalarNode, SequenceNode

from ...core.yaml.goreader import INT64
from .age import KEY_TYPES, AgeIdentities, data_key, key_groups
from .goyaml import FLOAT, GoValue, emitted, go_float, go_key, go_value, parse_documents
from .outcome import BAD_CIPHERTEXT, MAC_MISMATCH, NotHandled, Rejected

# Base64 as Go's StdEncoding writes it: the alphabet, then at most two `=`, in a length that is
# a multiple of 4 (checked in `_b64`).
_B64 = r"([A-Za-z0-9+/]*={0,2})"
_ENC = re.compile(rf"ENC\[AES256_GCM,data:{_B64},iv:{_B64},tag:{_B64},type:(str|int|float|bool)\]")
_IV_SIZE, _TAG_SIZE = 32, 16
_LASTMODIFIED = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_VERSION = re.compile(r"3\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)")  # semver: no leading zeros, as sops parses it
_ATOI = re.compile(r"[-+]?[0-9]+")
_PARSE_BOOL = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True} | {
    "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}  # fmt: skip
# Regular expressions that mean the same to Go's RE2 and Python's re (no flags, classes, braces).
_PORTABLE_REGEX = re.compile(r"(?:[A-Za-z0-9_^$|().*+?/:=,@ -]|\[(?!\^?\])|\]|\\[-.^$|()\[\]*+?/])*")
# sha256("sops"): sops.go MACOnlyEncryptedInitialization.
_MAC_ONLY_ENCRYPTED_INIT = hashlib.sha256(b"sops").digest()
_RULES = ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex")
_COMMENT_RULES = ("unencrypted_comment_regex", "encrypted_comment_regex")
_META_KEYS = frozenset(
    {*KEY_TYPES, "key_groups", "shamir_threshold", "lastmodified", "mac", "version", "mac_only_encrypted"}
    | {*_RULES, *_COMMENT_RULES}
)


@dataclass(frozen=True)
class _Rules:
    """Which leaves are encrypted: sops.go `Tree.shouldBeEncrypted`, in its order."""

    unencrypted_suffix: str
    encrypted_suffix: str
    unencrypted_regex: re.Pattern[str] | None
    encrypted_regex: re.Pattern[str] | None
    mac_only_encrypted: bool

    def encrypts(self, path: tuple[str, ...]) -> bool:
        encrypted = True
        if self.unencrypted_suffix and any(k.endswith(self.unencrypted_suffix) for k in path):
            encrypted = False
        if self.encrypted_suffix:
            encrypted = any(k.endswith(self.encrypted_suffix) for k in path)
        if self.unencrypted_regex or self.encrypted_regex:
            if any("\n" in k for k in path):
                raise NotHandled("a line break in a key matched by a regex")
            if self.unencrypted_regex and any(self.unencrypted_regex.search(k) for k in path):
                encrypted = False
            if self.encrypted_regex:
                encrypted = any(self.encrypted_regex.search(k) for k in path)
        return encrypted


def decrypt_yaml(data: bytes, identities: AgeIdentities) -> list[Any]:
    """The decrypted documents; raises Rejected (sops' exit code) or NotHandled."""
    if identities.problem is not None:
        raise NotHandled(identities.problem)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotHandled("not UTF-8") from None
    if text.startswith("\ufeff") or text.lstrip()[:1] in ("{", "["):
        raise NotHandled("byte order mark, or a JSON file")
    docs = parse_documents(data)
    if not docs or any(not isinstance(d, MappingNode) and not _is_null(d) for d in docs):
        raise NotHandled("a YAML document that is not a mapping")
    meta = _metadata_tree(docs[0])
    rules = _rules(meta)
    threshold = meta.get("shamir_threshold", 0)
    if not isinstance(threshold, int) or isinstance(threshold, bool):
        raise NotHandled("malformed shamir_threshold")  # sops reads it as an int, and fails to load the file
    lastmodified, mac = meta.get("lastmodified"), meta.get("mac")
    if not isinstance(lastmodified, str) or not _LASTMODIFIED.fullmatch(lastmodified) or not isinstance(mac, str):
        raise NotHandled("malformed lastmodified or mac")
    key = data_key(key_groups(meta), identities)
    # The binary writes a file of one document as JSON (exact), of several as YAML (decrypt.py).
    walker = _Walker(AESGCM(key), rules, as_json=len(docs) == 1)
    documents = [walker.document(d) for d in docs]
    walker.check_mac(mac, lastmodified)
    return documents


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and go_value(node) is None


def _metadata_tree(first: Node) -> dict[str, Any]:
    """The first document's `sops` mapping: yaml.Unmarshal reads the metadata from it alone."""
    if isinstance(first, MappingNode):
        for key, value in first.value:
            if go_key(key) == "sops":
                meta = _plain(value)
                if isinstance(meta, dict) and set(meta) <= _META_KEYS:
                    return meta
                raise NotHandled("unknown SOPS metadata")
    raise NotHandled("no SOPS metadata")


def _plain(node: Node) -> Any:
    if isinstance(node, ScalarNode):
        return go_value(node)
    if isinstance(node, SequenceNode):
        return [_plain(item) for item in node.value]
    out: dict[str, Any] = {}
    for key_node, value in node.value:
        key = go_key(key_node)
        if key in out:
            raise NotHandled("duplicate key in SOPS metadata")
        out[key] = _plain(value)
    return out


def _rules(meta: MappingABC[str, Any]) -> _Rules:
    version = meta.get("version")
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise NotHandled("unknown SOPS version")
    if any(meta.get(name) for name in _COMMENT_RULES):
        raise NotHandled("comment-based encryption rules")
    values = {name: meta.get(name) or "" for name in _RULES}
    if not all(isinstance(v, str) for v in values.values()) or sum(map(bool, values.values())) > 1:
        raise NotHandled("malformed encryption rules")
    if not any(values.values()):
        values["unencrypted_suffix"] = "_unencrypted"  # sops.DefaultUnencryptedSuffix
    mac_only = meta.get("mac_only_encrypted") or False
    if not isinstance(mac_only, bool):
        raise NotHandled("malformed mac_only_encrypted")
    return _Rules(
        values["unencrypted_suffix"],
        values["encrypted_suffix"],
        _regex(values["unencrypted_regex"]),
        _regex(values["encrypted_regex"]),
        mac_only,
    )


def _regex(pattern: str) -> re.Pattern[str] | None:
    if not pattern:
        return None
    if not _PORTABLE_REGEX.fullmatch(pattern) or "(?" in pattern:
        raise NotHandled("a regular expression that may differ between Go and Python")
    try:
        return re.compile(pattern)
    except re.error:
        raise NotHandled("a regular expression Python rejects") from None


class _Walker:
    """One pass over all documents: decrypts values and feeds the MAC in sops' order."""

    def __init__(self, aead: AESGCM, rules: _Rules, as_json: bool) -> None:
        self._aead = aead
        self._rules = rules
        self._as_json = as_json
        self._mac = hashlib.sha512()
        if rules.mac_only_encrypted:
            self._mac.update(_MAC_ONLY_ENCRYPTED_INIT)

    def document(self, node: Node) -> dict[str, Any]:
        return self._mapping(node, (), top=True) if isinstance(node, MappingNode) else {}

    def _mapping(self, node: MappingNode, path: tuple[str, ...], top: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        seen: set[str] = set()
        for key_node, child in node.value:
            key = go_key(key_node)
            if key in seen or "\n" in key:
                raise NotHandled("duplicate or multi-line key")
            seen.add(key)
            if top and key == "sops":
                continue  # store.go erases the metadata from every document before the walk
            out[emitted(key, as_json=self._as_json)] = self._value(child, (*path, key))
        return out

    def _value(self, node: Node, path: tuple[str, ...]) -> Any:
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self._value(item, path) for item in node.value]
        value = go_value(node)
        if value is None:
            return None  # walkValue passes nil by: neither decrypted nor hashed
        encrypted = self._rules.encrypts(path)
        if encrypted:
            if not isinstance(value, str):
                raise NotHandled("a clear non-string value where sops expects ciphertext")
            if value:  # cipher.Decrypt returns "" for "" without looking further
                value = self._decrypt(value, ":".join(path) + ":")
        if encrypted or not self._rules.mac_only_encrypted:
            self._mac.update(_mac_bytes(value))
        return emitted(value, as_json=self._as_json)

    def _open(self, value: str, additional_data: str) -> tuple[bytes, str]:
        match = _ENC.fullmatch(value)
        if match is None:
            raise NotHandled("a value that is not in sops' AES256_GCM format")
        data, iv, tag = _b64(match[1]), _b64(match[2]), _b64(match[3])
        if len(iv) != _IV_SIZE or len(tag) != _TAG_SIZE or not data:
            raise NotHandled("unusual IV or tag size")
        try:
            return self._aead.decrypt(iv, data + tag, additional_data.encode()), match[4]
        except InvalidTag:
            raise Rejected(BAD_CIPHERTEXT) from None

    def _decrypt(self, value: str, additional_data: str) -> GoValue:
        """aes/cipher.go Decrypt: AES-GCM open, then the Go type named by `type:`."""
        plain, kind = self._open(value, additional_data)
        try:
            text = plain.decode("utf-8")
        except UnicodeDecodeError:
            raise NotHandled("a value that is not UTF-8") from None
        if kind == "str":
            return text
        if kind == "int" and _ATOI.fullmatch(text) and int(text) in INT64:
            return int(text)
        if kind == "float" and FLOAT.fullmatch(text):
            return float(text)  # an overflow to infinity is refused by go_float when hashed
        if kind == "bool" and text in _PARSE_BOOL:
            return _PARSE_BOOL[text]
        raise NotHandled("a value sops' strconv parsing may treat differently")

    def check_mac(self, mac: str, lastmodified: str) -> None:
        """common.DecryptTree: a MAC that fails to decrypt or differs is exit code 51."""
        match = _ENC.fullmatch(mac)
        if match is None or match[4] != "str":
            raise NotHandled("a MAC that is not in sops' format")
        try:
            plain, _ = self._open(mac, lastmodified)
        except Rejected:
            raise Rejected(MAC_MISMATCH) from None
        if plain.decode("utf-8", "replace") != self._mac.hexdigest().upper():
            raise Rejected(MAC_MISMATCH)


def _b64(text: str) -> bytes:
    """Decode what `_B64` matched (the alphabet, then at most two `=`): whole groups of four only."""
    if len(text) % 4:
        raise NotHandled("malformed base64")
    try:
        return binascii.a2b_base64(text)
    except binascii.Error:
        raise NotHandled("malformed base64") from None


def _mac_bytes(value: GoValue) -> bytes:
    """sops.go ToBytes."""
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return go_float(value, "f").encode()
    assert isinstance(value, str)
    return value.encode()
