"""Kubernetes name rules and the bundle naming scheme."""

from __future__ import annotations

import hashlib
import re

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}")

MAX_BUNDLE_NAME = 53
DIGEST_LEN = 16  # hex characters: 64 bits, so two identities meet by chance only around 2**32 bundles


def dns1123_label_problem(value: str) -> str | None:
    """Why `value` is not a DNS-1123 label (namespaces, bundle names), or None."""
    if len(value) > 63:
        return f"must be at most 63 characters (has {len(value)})"
    if not _DNS1123_LABEL.fullmatch(value):
        return (
            "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit"
        )
    return None


def dns1123_subdomain_problem(value: str, max_len: int = 253) -> str | None:
    """Why `value` is not a DNS-1123 subdomain (object names), or None."""
    if len(value) > max_len:
        return f"must be at most {max_len} characters (has {len(value)})"
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        return (
            "must be a DNS-1123 name: lower-case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit"
        )
    return None


def label_key_problem(key: str) -> str | None:
    """Why `key` is not a valid label key (`[prefix/]name`), or None."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or dns1123_subdomain_problem(prefix) is not None):
        return "label key prefix must be a DNS-1123 subdomain"
    if not name or len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name):
        return (
            "label key must be at most 63 characters of letters, digits, '-', '_', '.', "
            "starting and ending with a letter or digit"
        )
    return None


def label_value_problem(value: str) -> str | None:
    """Why `value` is not a valid label value, or None."""
    if len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
        return (
            "label value must be at most 63 characters of letters, digits, '-', '_', '.', "
            "starting and ending with a letter or digit"
        )
    return None


def is_secret_key(key: object) -> bool:
    """A key the API server accepts in a Secret's data (apimachinery IsConfigMapKey): at most 253
    of letters, digits, '-', '_', '.', and neither `.` nor `..` nor any key starting with `..`
    (`..data` is the name the kubelet gives its own folder in a mounted volume)."""
    return isinstance(key, str) and _SECRET_KEY.fullmatch(key) is not None and not key.startswith("..") and key != "."


def _slug(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", text.lower())).strip("-")


def identity_digest(identity: str) -> str:
    """DIGEST_LEN hex characters of SHA-256 over a bundle's identity."""
    return hashlib.sha256(identity.encode()).hexdigest()[:DIGEST_LEN]


def bundle_name(handshake: str, target_label: str, identity: str) -> str:
    """A DNS-1123 label of at most 53 characters, stable for the same identity.

    `identity` is what makes the bundle what it is (see bundles.bundle_identity); the digest
    suffix keeps names unique even when the readable part is cut.
    """
    digest = identity_digest(identity)
    readable = _slug(f"{handshake}-{target_label}") if target_label else _slug(handshake)
    readable = readable[: MAX_BUNDLE_NAME - len(digest) - 1].rstrip("-") or "bundle"
    return f"{readable}-{digest}"
