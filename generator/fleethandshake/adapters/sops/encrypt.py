"""Encrypt with the real `sops` binary, for sops mode. Plaintext goes through a pipe only.

The recipients are the configured age keys and nothing else. sops adds master keys from its
environment (`SOPS_PGP_FP`, `SOPS_KMS_ARN`, `SOPS_GCP_KMS_IDS`, `SOPS_AZURE_KEYVAULT_URLS`,
`SOPS_VAULT_URIS`, `SOPS_HUAWEICLOUD_KMS_IDS`, ...), hands the data key to key services
(`SOPS_KEYSERVICE`) and reads encryption rules from a config file (`SOPS_CONFIG`, or a
`.sops.yaml` in the working directory or above it). So the binary runs with an environment of
our own making, in "/", with `--config /dev/null`: a config without creation rules, which sops
reads as no config at all.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ...core.render import Sealed
from ..settings import sops_timeout

# What a sops binary chosen by the user may need to start (a wrapper script finds its interpreter
# on PATH). Age encryption needs nothing else: no key, no home folder, no cloud credentials.
_PASSED_ON = ("PATH",)


def encryption_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of the encrypting sops: no SOPS_* setting, no credential."""
    env = {name: environ[name] for name in _PASSED_ON if name in environ}
    env["SOPS_DISABLE_VERSION_CHECK"] = "1"
    return env


@dataclass(frozen=True)
class EncryptFailure:
    reason: str  # never sops's output: it could echo the input


class SopsEncryptor:
    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.timeout = sops_timeout()
        self.workers = os.cpu_count() or 1

    def encrypt(self, request: Sealed) -> bytes | EncryptFailure:
        env = encryption_env(os.environ)
        command = [
            self.binary, "--disable-version-check", "--config", "/dev/null", "encrypt",
            "--age", ",".join(request.recipients), "--encrypted-suffix", request.encrypted_suffix,
            "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin",
        ]  # fmt: skip
        try:
            # cwd "/": no .sops.yaml of the surrounding repository is even looked at.
            proc = subprocess.run(command, input=request.plaintext, capture_output=True, env=env, cwd="/",
                                  timeout=self.timeout, check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            return EncryptFailure(f"sops did not finish encrypting within {self.timeout:g} s")
        except OSError as e:
            return EncryptFailure(f"sops could not be run ({e.strerror})")
        if proc.returncode != 0:
            return EncryptFailure(f"sops failed to encrypt (exit code {proc.returncode}); check the age recipients")
        return proc.stdout

    def encrypt_all(self, requests: Sequence[Sealed]) -> list[bytes | EncryptFailure]:
        if len(requests) <= 1:
            return [self.encrypt(r) for r in requests]
        from concurrent.futures import ThreadPoolExecutor  # imports logging: only runs that need it

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(self.encrypt, requests))
