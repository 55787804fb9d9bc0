"""Age identities from the standard SOPS key environment (no key handling of our own)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_PREFIX = "AGE-SECRET-KEY-"


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith(_PREFIX)]


def identity_lines() -> list[str]:
    """Every age identity SOPS would try, from SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and the default file.

    SOPS_AGE_KEY_CMD and SSH keys are left to the sops binary.
    """
    found: list[str] = []
    if os.environ.get("SOPS_AGE_KEY"):
        found += _lines(os.environ["SOPS_AGE_KEY"])
    paths = []
    if os.environ.get("SOPS_AGE_KEY_FILE"):
        paths.append(Path(os.environ["SOPS_AGE_KEY_FILE"]))
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    paths.append(config / "sops" / "age" / "keys.txt")
    for path in paths:
        try:
            found += _lines(path.read_text())
        except (OSError, UnicodeDecodeError):
            continue
    return sorted(set(found))


def state_key() -> bytes | None:
    """A key only the holder of the decryption identities can derive; None without any."""
    lines = identity_lines()
    if not lines:
        return None
    return hashlib.sha256(b"fleet-handshake state key\0" + "\n".join(lines).encode()).digest()
