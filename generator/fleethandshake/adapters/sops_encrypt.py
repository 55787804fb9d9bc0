"""Encrypt with the real `sops` binary, for sops mode. Plaintext goes through a pipe only."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..core.records import dataclass

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class EncryptRequest:
    plaintext: bytes
    recipients: tuple[str, ...]
    encrypted_suffix: str


@dataclass(frozen=True)
class EncryptFailure:
    reason: str  # never sops's output: it could echo the input


class SopsEncryptor:
    def __init__(self, binary: str, timeout: float | None = None, workers: int | None = None) -> None:
        from .settings import env_seconds
        from .sops import TIMEOUT_VARIABLE

        self.binary = binary
        self.timeout = timeout if timeout is not None else env_seconds(TIMEOUT_VARIABLE, DEFAULT_TIMEOUT)
        self.workers = workers or max(1, os.cpu_count() or 1)

    def encrypt(self, request: EncryptRequest) -> bytes | EncryptFailure:
        env = dict(os.environ, SOPS_DISABLE_VERSION_CHECK="1")
        command = [
            self.binary, "--disable-version-check", "encrypt",
            "--age", ",".join(request.recipients), "--encrypted-suffix", request.encrypted_suffix,
            "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin",
        ]  # fmt: skip
        import subprocess  # only when the binary runs

        try:
            # cwd "/" so that no .sops.yaml of the surrounding repository changes the recipients.
            proc = subprocess.run(command, input=request.plaintext, capture_output=True, env=env, cwd="/",
                                  timeout=self.timeout, check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            return EncryptFailure(f"sops did not finish encrypting within {self.timeout:g} s")
        except OSError as e:
            return EncryptFailure(f"sops could not be run ({e.strerror})")
        if proc.returncode != 0:
            return EncryptFailure(f"sops failed to encrypt (exit code {proc.returncode}); check the age recipients")
        return proc.stdout

    def encrypt_all(self, requests: Sequence[EncryptRequest]) -> list[bytes | EncryptFailure]:
        if len(requests) <= 1:
            return [self.encrypt(r) for r in requests]
        from concurrent.futures import ThreadPoolExecutor  # imports logging: only runs that need it

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(self.encrypt, requests))
