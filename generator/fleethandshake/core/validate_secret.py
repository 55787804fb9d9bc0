"""Validate a v1 Secret of the source: SOPS-encrypted data, metadata in clear text."""

from __future__ import annotations

import re
from typing import Any

from . import names
from .collector import Collector, kind_of
from .models import SourceSecret
from .yaml.reader import join

DATA_SECTIONS = ("data", "stringData")
# `kubectl apply` keeps the whole object here, a Secret's values in clear text: an export carries it.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
LAST_APPLIED_PATH = join(join("metadata", "annotations"), LAST_APPLIED)
CLEAR_TEXT = "is in clear text: this Secret is not SOPS-encrypted; encrypt it with sops before committing"


# sops' own test of an encrypted value (`encre` in its aes/cipher.go): `ENC[hunter2]`, or any
# other value that only starts with `ENC[`, is clear text that sops would not decrypt.
_SOPS_VALUE = re.compile(r"ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")


def is_encrypted_value(value: Any) -> bool:
    return isinstance(value, str) and _SOPS_VALUE.fullmatch(value) is not None


def looks_encrypted(value: Any) -> bool:
    """Meant to be encrypted (metadata that should stay clear), though not necessarily by sops."""
    return isinstance(value, str) and value.startswith("ENC[") and value.endswith("]")


def secret(c: Collector) -> SourceSecret | None:
    data = c.data
    meta = c.mapping(data.get("metadata"), "metadata")
    encrypted = c.encrypted
    for key in ("name", "namespace"):
        if looks_encrypted(meta.get(key)):
            c.add(
                f"metadata.{key}",
                "is encrypted; keep metadata in clear text and encrypt only "
                "data and stringData (encrypted_regex: ^(data|stringData)$)",
            )
    # Whatever is wrong with the metadata, the data is still checked: a clear-text Secret with a
    # broken metadata is a leak all the same (and check-secrets reports only the data's problems).
    meta_ok = not c.problems
    _last_applied(c, meta.get("annotations"))  # its value may be the Secret in clear text
    if not encrypted:
        # One problem per section that holds values, at that section's line: validate and
        # check-secrets report the same file:line for it.
        for section in DATA_SECTIONS:
            if data.get(section):
                c.add(section, CLEAR_TEXT)
        return None
    for section in DATA_SECTIONS:
        values = data.get(section)
        if values is None:
            continue
        if not isinstance(values, dict):
            c.add(section, f"must be a mapping, not {kind_of(values)}")
            continue
        for key, val in values.items():
            if not names.is_secret_key(key):
                c.add(
                    join(section, str(key)),
                    "is not a valid Secret key (letters, digits, '-', '_', '.'; not starting with '..')",
                )
            elif val not in ("", None) and not is_encrypted_value(val):  # sops leaves an empty value as it is
                c.add(
                    join(section, str(key)),
                    "is not encrypted although the file has SOPS metadata (check encrypted_regex / unencrypted_suffix)",
                )
    if not meta_ok:
        return None
    name = c.string(meta, "name", "metadata", rule=names.dns1123_subdomain_problem)
    namespace = c.string(meta, "namespace", "metadata", rule=names.dns1123_label_problem)
    if name is None or namespace is None:
        return None
    return SourceSecret(namespace=namespace, name=name, file=c.file, document=c.doc.index, item=c.item)


def _last_applied(c: Collector, annotations: Any) -> None:
    if (
        isinstance(annotations, dict)
        and LAST_APPLIED in annotations
        and not is_encrypted_value(annotations[LAST_APPLIED])
    ):
        c.add(LAST_APPLIED_PATH, "holds the Secret as `kubectl apply` last wrote it, values in clear text; remove it")
