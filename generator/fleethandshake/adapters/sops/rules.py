"""Encrypt a new source file as the source's own `.sops.yaml` says (import).

The clear text goes into sops through a pipe and only the ciphertext comes back: never a file.
sops is told the path the file will have (`--filename-override`), so the creation rule whose
`path_regex` matches that path (relative to the folder of `.sops.yaml`) chooses the keys and
what is encrypted, exactly as if the user ran `sops encrypt` on the file there. The config is
named explicitly (`--config`), so a `.sops.yaml` above SOURCE or $SOPS_CONFIG is never used.

Key variables that would override the rules (`SOPS_AGE_RECIPIENTS`, `SOPS_PGP_FP`,
`SOPS_KMS_ARN`, ...) are left out of sops's environment; everything else is passed on, since
KMS, Vault or PGP keys may need their credentials and agents.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from ...errors import UsageError, UserError

SOPS_CONFIG_FILE = ".sops.yaml"
# Each would replace the creation rules' keys (sops reads them as the --age, --pgp, ... flags).
OVERRIDING = (
    "SOPS_AGE_RECIPIENTS",
    "SOPS_PGP_FP",
    "SOPS_KMS_ARN",
    "SOPS_GCP_KMS_IDS",
    "SOPS_AZURE_KEYVAULT_URLS",
    "SOPS_VAULT_URIS",
    "SOPS_HUAWEICLOUD_KMS_IDS",
    "SOPS_CONFIG",
)
_NO_RULE = b"no matching creation rules found"


def rules_env(environ: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if k not in OVERRIDING}
    env["SOPS_DISABLE_VERSION_CHECK"] = "1"
    return env


def encrypt_as(binary: str, config: Path, target: Path, plaintext: bytes, timeout: float) -> bytes:
    """The ciphertext sops writes for `plaintext` at `target` under `config`'s creation rules.

    Raises UsageError when no rule matches `target`, UserError when sops fails otherwise; a
    message never holds sops's output (it could echo the input)."""
    command = [
        binary, "--disable-version-check", "--config", str(config), "encrypt",
        "--filename-override", str(target), "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin",
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            command, input=plaintext, capture_output=True, env=rules_env(os.environ), cwd=config.parent,
            timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise UserError(f"sops did not finish encrypting {target} within {timeout:g} s; nothing was written") from None
    except OSError as e:
        raise UsageError(f"sops could not be run ({e.strerror})") from None
    if proc.returncode == 0 and proc.stdout:
        return proc.stdout
    if _NO_RULE in proc.stderr:  # read, never shown
        raise UsageError(
            f"no creation rule of {config} matches {target.relative_to(config.parent)}: add one whose path_regex"
            r" matches it, for example `path_regex: secrets/.*\.yaml$` with `encrypted_regex: ^(data|stringData)$`;"
            " nothing was written"
        )
    raise UserError(
        f"sops failed to encrypt {target.relative_to(config.parent)} (exit code {proc.returncode}): check the keys"
        f" of the matching creation rule in {config} and their credentials; nothing was written"
    )
