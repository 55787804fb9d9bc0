"""Encrypt a new source file as the source's own `.sops.yaml` says (import), through
encrypt.run_encrypt: clear text in through a pipe, ciphertext out, never a file.

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
from collections.abc import Mapping
from pathlib import Path

from ...errors import UsageError, UserError
from .encrypt import run_encrypt

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


def rules_env(environ: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if k not in OVERRIDING}
    env["SOPS_DISABLE_VERSION_CHECK"] = "1"
    return env


def encrypt_as(binary: str, config: Path, target: Path, plaintext: bytes) -> bytes:
    """The ciphertext sops writes for `plaintext` at `target` under `config`'s creation rules.

    Raises UsageError when no rule matches `target` or sops cannot be run, UserError when sops
    fails otherwise; a message never holds sops's output (it could echo the input)."""
    options = ["--filename-override", str(target)]
    result = run_encrypt(binary, str(config), options, plaintext, env=rules_env(os.environ), cwd=config.parent)
    if isinstance(result, bytes):
        return result
    if result.not_run:
        raise UsageError(result.reason)
    where = target.relative_to(config.parent)
    if result.no_rule:
        raise UsageError(
            f"no creation rule of {config} matches {where}: add one whose path_regex matches it, for example"
            r" `path_regex: secrets/.*\.yaml$` with `encrypted_regex: ^(data|stringData)$`; nothing was written"
        )
    hint = f"check the keys of the matching creation rule in {config} and their credentials"
    raise UserError(f"{result.message(str(where), hint)}; nothing was written")
