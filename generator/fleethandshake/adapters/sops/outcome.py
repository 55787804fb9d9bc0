"""How an in-process SOPS decryption can end short of a result.

Neither exception ever carries a decrypted value, a key or a ciphertext: only fixed text.
"""

from __future__ import annotations

# Exit codes of `sops decrypt` that the in-process path reproduces (cmd/sops/codes).
BAD_CIPHERTEXT = 25  # ErrorDecryptingTree: a value fails AES-GCM authentication
MAC_MISMATCH = 51  # MacMismatch: the MAC does not decrypt, or differs from the recomputed one
NO_KEY = 128  # CouldNotRetrieveKey: no identity opens enough key groups


class NotHandled(Exception):
    """The in-process path does not understand this file; the `sops` binary must decide."""


class Rejected(Exception):
    """The file is refused for the same reason, and with the same exit code, as `sops decrypt`."""

    def __init__(self, code: int) -> None:
        super().__init__(f"sops exit code {code}")
        self.code = code
