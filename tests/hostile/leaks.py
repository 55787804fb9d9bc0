"""Find secret values in text or files: in clear text, base64, hex, and as common hashes.

Base64 depends on where a value starts within the encoded bytes, so each value is looked for
at all three alignments, keeping only the characters that depend on the value alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path


def _b64_cores(raw: bytes) -> list[str]:
    cores = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        first = -(-8 * offset // 6)  # first character made only of value bits
        last = 8 * (offset + len(raw)) // 6  # one past the last such character
        cores.append(encoded[first:last])
    return cores


def leak_forms(value: str) -> dict[str, str]:
    """Every form of `value` that must not appear where secrets do not belong."""
    raw = value.encode()
    forms = {"clear": value, "hex": raw.hex(), "HEX": raw.hex().upper(), "base64": base64.b64encode(raw).decode()}
    for i, core in enumerate(_b64_cores(raw)):
        forms[f"base64@{i}"] = core
        forms[f"base64url@{i}"] = core.replace("+", "-").replace("/", "_")
    forms["base32"] = base64.b32encode(raw).decode().rstrip("=")
    for name in ("md5", "sha1", "sha256", "sha512"):
        forms[name] = hashlib.new(name, raw).hexdigest()
    forms["crc32"] = format(binascii.crc32(raw), "08x")
    return forms


def find_leaks(where: str, content: str | bytes, values: Iterable[str]) -> list[str]:
    """`where: form of value` for every value found in `content`."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    found = []
    for value in values:
        for form, needle in leak_forms(value).items():
            if len(needle) >= 6 and needle in text:
                found.append(f"{where}: {form} of {value!r}")
    return found


def scan_tree(root: Path, values: Iterable[str], allowed: Callable[[Path], bool] = lambda _: False) -> list[str]:
    """Leaks in every file below `root` (symbolic links not followed), except the allowed ones."""
    values = list(values)
    found = []
    if root.is_file():
        return find_leaks(str(root), root.read_bytes(), values)
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file() or allowed(path):
            continue
        found += find_leaks(str(path), path.read_bytes(), values)
    return found
