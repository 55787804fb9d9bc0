"""Encrypt with the real `sops` binary: `run_encrypt` for every caller (import's creation rules,
adapters/sops/rules.py; sops mode's recipients, `SopsEncryptor`). The clear text goes into sops
through a pipe and only the ciphertext comes back: never a file.

sops mode's recipients are the configured age keys and nothing else. sops adds master keys from
its environment (`SOPS_PGP_FP`, `SOPS_KMS_ARN`, `SOPS_GCP_KMS_IDS`, `SOPS_AZURE_KEYVAULT_URLS`,
`SOPS_VAULT_URIS`, `SOPS_HUAWEICLOUD_KMS_IDS`, ...), hands the data key to key services
(`SOPS_KEYSERVICE`) and reads encryption rules from a config file (`SOPS_CONFIG`, or a
`.sops.yaml` in the working directory or above it). So for sops mode the binary runs with an
environment of our own making, in "/", with `--config /dev/null`: a config without creation
rules, which sops reads as no config at all.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...core.render import Sealed
from ..settings import sops_timeout

# What a sops binary chosen by the user may need to start (a wrapper script finds its interpreter
# on PATH). Age encryption needs nothing else: no key, no home folder, no cloud credentials.
_PASSED_ON = ("PATH",)
_NO_RULE = b"no matching creation rules found"


def encryption_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of the encrypting sops: no SOPS_* setting, no credential."""
    env = {name: environ[name] for name in _PASSED_ON if name in environ}
    env["SOPS_DISABLE_VERSION_CHECK"] = "1"
    return env


@dataclass(frozen=True)
class EncryptFailure:
    """Why sops gave no ciphertext, in fixed words: never sops's output (it could echo the input)."""

    reason: str
    refused: bool = False  # sops ran and said no: the keys are the likely cause
    not_run: bool = False  # the binary could not be started
    no_rule: bool = False  # no creation rule of the config matches the file

    def message(self, path: str, hint: str) -> str:
        """The one shape of an encryption error: the file, why, and `hint` when sops refused."""
        return f"{path}: {self.reason}" + (f"; {hint}" if self.refused else "")


def run_encrypt(
    binary: str, config: str, options: Sequence[str], plaintext: bytes, *, env: Mapping[str, str], cwd: str | Path
) -> bytes | EncryptFailure:
    """The ciphertext `sops encrypt` writes for `plaintext` (YAML in, YAML out) under `config`
    with `options`, run in `cwd` with exactly `env`, within settings.sops_timeout()."""
    timeout = sops_timeout()
    command = [binary, "--disable-version-check", "--config", config, "encrypt", *options,
               "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin"]  # fmt: skip
    try:
        proc = subprocess.run(command, input=plaintext, capture_output=True, env=dict(env), cwd=cwd,
                              timeout=timeout, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return EncryptFailure(f"sops did not finish encrypting within {timeout:g} s")
    except OSError as e:
        return EncryptFailure(f"sops could not be run ({e.strerror})", not_run=True)
    if proc.returncode == 0:
        return proc.stdout or EncryptFailure("sops exited without writing a ciphertext (exit code 0)")
    if proc.returncode < 0:
        return EncryptFailure(f"sops was killed by signal {-proc.returncode}")
    if _NO_RULE in proc.stderr:  # read, never shown
        return EncryptFailure("no creation rule matches it", no_rule=True)
    return EncryptFailure(f"sops failed to encrypt (exit code {proc.returncode})", refused=True)


class SopsEncryptor:
    """sops mode: seals for the request's age recipients only."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.workers = os.cpu_count() or 1

    def encrypt(self, request: Sealed) -> bytes | EncryptFailure:
        options = ["--age", ",".join(request.recipients), "--encrypted-suffix", request.encrypted_suffix]
        # cwd "/": no .sops.yaml of the surrounding repository is even looked at.
        env = encryption_env(os.environ)
        return run_encrypt(self.binary, "/dev/null", options, request.plaintext, env=env, cwd="/")

    def encrypt_all(self, requests: Sequence[Sealed]) -> list[bytes | EncryptFailure]:
        if len(requests) <= 1:
            return [self.encrypt(r) for r in requests]
        from concurrent.futures import ThreadPoolExecutor  # imports logging: only runs that need it

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(self.encrypt, requests))
