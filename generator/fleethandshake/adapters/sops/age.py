"""Age identities from the usual SOPS environment, and a file's data key opened with them.

Identity loading follows sops' age/keysource.go `loadIdentities`: an SSH key
(SOPS_AGE_SSH_PRIVATE_KEY_FILE, else ~/.ssh/id_ed25519, else ~/.ssh/id_rsa), SOPS_AGE_KEY,
SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD and always the user config file
(`$XDG_CONFIG_HOME/sops/age/keys.txt`, else `~/.config/sops/age/keys.txt`). Where sops would fail
to load them, or would need a passphrase, a plugin or post-quantum keys, the identities are marked
not understood and every file goes to the binary. The data key follows `GetDataKeyWithKeyServices`
for one key group; files with several (Shamir's secret sharing) go to the binary.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyrage

from ..settings import sops_timeout
from .outcome import NO_KEY, NotHandled, Rejected

_X25519_IDENTITY = re.compile(r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}")
_LOCKED_SSH_KEY = "must be decrypted first"  # pyrage's IdentityError for an encrypted SSH key
_X25519_RECIPIENT = re.compile(r"age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}")
KEY_TYPES = frozenset({"age", "pgp", "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault"})
DATA_KEY_SIZE = 32


@dataclass(frozen=True)
class AgeIdentities:
    """Identities loaded once per run. `problem` set: nothing is decrypted in-process."""

    identities: tuple[Any, ...] = field(default=(), repr=False)  # never shown: key material
    # True when these are all the identities sops would try, so "none opens it" is sops' answer too.
    exhaustive: bool = True
    problem: str | None = None
    material: bytes = field(default=b"", repr=False)  # what the identities are made of, for `state_key` only

    def state_key(self) -> bytes | None:
        """A key only the holder of these identities can derive (it authenticates OUT's state file);
        None without any. The same identities sops would use, SOPS_AGE_KEY_CMD and SSH keys included."""
        if not self.identities:
            return None
        return hashlib.sha256(b"fleet-handshake state key\0" + self.material).digest()


@dataclass(frozen=True)
class KeyGroup:
    age_keys: tuple[str, ...]  # the armored age payloads (`enc`)
    only_x25519: bool  # every master key is a plain age X25519 recipient


def load_identities(env: Mapping[str, str], timeout: float | None = None) -> AgeIdentities:
    """The identities sops would use; a key command may take `timeout` (default: the sops timeout)."""
    try:
        return _load(env, sops_timeout() if timeout is None else timeout)
    except NotHandled as e:
        return AgeIdentities(problem=str(e))


def _load(env: Mapping[str, str], timeout: float) -> AgeIdentities:
    identities: list[Any] = []
    ssh_bytes = b""
    ssh_key = _ssh_key_path(env)
    locked_ssh = False  # a passphrase-protected SSH key: see below
    if ssh_key is not None:
        ssh_bytes = _read(ssh_key)
        try:
            identities.append(pyrage.ssh.Identity.from_buffer(ssh_bytes))
        except pyrage.IdentityError as e:
            if _LOCKED_SSH_KEY not in str(e):
                raise NotHandled("SSH key not understood") from None
            # sops loads it as an encrypted identity and asks for the passphrase only for a file
            # sealed for that SSH key (age matches the stanza first): the other identities still
            # count, and a file none of them opens goes to the binary (not exhaustive, below).
            locked_ssh, ssh_bytes = True, b""
    texts: list[str] = []
    if "SOPS_AGE_KEY" in env:
        texts.append(env["SOPS_AGE_KEY"])
    if "SOPS_AGE_KEY_FILE" in env:
        texts.append(_read(Path(env["SOPS_AGE_KEY_FILE"])).decode("utf-8", "replace"))
    if "SOPS_AGE_KEY_CMD" in env:
        texts.append(_run_key_command(env["SOPS_AGE_KEY_CMD"], timeout))
    try:
        default: Path | None = _user_config_dir(env) / "sops" / "age" / "keys.txt"
    except NotHandled:
        if not texts and not identities:
            raise
        default = None  # sops skips the default file when it has other sources
    if default is not None and default.exists():
        texts.append(_read(default).decode("utf-8", "replace"))
    elif not texts and not identities:
        raise NotHandled("no age identities configured")
    x25519 = [identity for text in texts for identity in _parse_identities(text)]
    if locked_ssh and not x25519:
        raise NotHandled("SSH key needs a passphrase")
    identities.extend(x25519)
    material = "\n".join(sorted({str(identity) for identity in x25519})).encode()
    if ssh_bytes:
        material += b"\0ssh\0" + ssh_bytes
    # sops may derive an age key from the SSH key, or ask remote key services: a miss here is not final.
    exhaustive = ssh_key is None and not env.get("SOPS_KEYSERVICE")
    return AgeIdentities(tuple(identities), exhaustive=exhaustive, material=material)


def _ssh_key_path(env: Mapping[str, str]) -> Path | None:
    if "SOPS_AGE_SSH_PRIVATE_KEY_FILE" in env:
        return Path(env["SOPS_AGE_SSH_PRIVATE_KEY_FILE"])
    home = env.get("HOME", "")
    for name in ("id_ed25519", "id_rsa"):
        if home and (candidate := Path(home, ".ssh", name)).exists():
            return candidate
    return None


def _user_config_dir(env: Mapping[str, str]) -> Path:
    """Go's os.UserConfigDir on Linux and macOS (sops honours XDG_CONFIG_HOME on both)."""
    xdg = env.get("XDG_CONFIG_HOME", "")
    if sys.platform == "linux" and xdg:
        if not os.path.isabs(xdg):
            raise NotHandled("XDG_CONFIG_HOME is not absolute")
        return Path(xdg)
    if sys.platform == "darwin" and xdg:
        return Path(xdg)
    home = env.get("HOME", "")
    if not home or sys.platform not in ("linux", "darwin"):
        raise NotHandled("user config directory unknown")
    return Path(home, "Library", "Application Support") if sys.platform == "darwin" else Path(home, ".config")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        raise NotHandled("a key file cannot be read") from None


def _run_key_command(command: str, timeout: float) -> str:
    try:
        args = shlex.split(command)
    except ValueError:
        raise NotHandled("SOPS_AGE_KEY_CMD cannot be parsed") from None
    if not args:
        raise NotHandled("SOPS_AGE_KEY_CMD is empty")
    try:
        proc = subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired):
        raise NotHandled("SOPS_AGE_KEY_CMD failed") from None
    if proc.returncode != 0:
        raise NotHandled("SOPS_AGE_KEY_CMD failed")
    return proc.stdout.decode("utf-8", "replace")


def _parse_identities(text: str) -> list[Any]:
    """age.ParseIdentities: one X25519 identity a line, `#` comments and blank lines skipped."""
    if text.startswith(("age-encryption", "-----BEGIN AGE")):
        raise NotHandled("passphrase-protected age identities")
    found = []
    for raw in text.split("\n"):
        line = raw.removesuffix("\r")
        if not line or line.startswith("#"):
            continue
        if not _X25519_IDENTITY.fullmatch(line):
            raise NotHandled("an age identity that is not a plain X25519 key")
        try:
            found.append(pyrage.x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise NotHandled("an age identity that does not parse") from None
    if not found:
        raise NotHandled("an identity source without identities")
    return found


def key_groups(meta: Mapping[str, Any]) -> list[KeyGroup]:
    """stores.Metadata.internalKeygroups: top-level keys form one group, else `key_groups`."""
    top = {k: meta.get(k) for k in KEY_TYPES}
    groups = meta.get("key_groups")
    if any(top.values()):
        if groups:
            raise NotHandled("both top-level keys and key_groups")
        return [_key_group(top)]
    if not groups or not isinstance(groups, list):
        raise NotHandled("no master keys")
    return [_key_group(g) for g in groups]


def _key_group(group: Any) -> KeyGroup:
    if not isinstance(group, dict) or not set(group) <= KEY_TYPES:
        raise NotHandled("an unknown kind of master key")
    payloads: list[str] = []
    only_x25519 = True
    for kind, keys in group.items():
        if keys is None:
            continue
        if not isinstance(keys, list):
            raise NotHandled("malformed master keys")
        if kind != "age":
            only_x25519 = only_x25519 and not keys
            continue
        for key in keys:
            if not isinstance(key, dict) or set(key) != {"recipient", "enc"}:
                raise NotHandled("malformed age master key")
            recipient, enc = key["recipient"], key["enc"]
            if not isinstance(recipient, str) or not isinstance(enc, str):
                raise NotHandled("malformed age master key")
            only_x25519 = only_x25519 and bool(_X25519_RECIPIENT.fullmatch(recipient))
            payloads.append(enc)
    return KeyGroup(tuple(payloads), only_x25519)


def data_key(groups: Sequence[KeyGroup], ids: AgeIdentities) -> bytes:
    """The data key, or Rejected(128) when sops would not find it either. Several key groups
    (Shamir's secret sharing, `shamir_threshold`) are left to the binary."""
    if len(groups) != 1:
        raise NotHandled("several key groups")
    key = _open_group(groups[0], ids)
    if key is None:
        certain = ids.exhaustive and groups[0].only_x25519  # else sops might open it with PGP, KMS, a plugin ...
        raise Rejected(NO_KEY) if certain else NotHandled("no age identity opens the data key")
    if len(key) != DATA_KEY_SIZE:
        raise NotHandled("unusual data key size")
    return key


def _open_group(group: KeyGroup, ids: AgeIdentities) -> bytes | None:
    for payload in group.age_keys:
        try:
            return bytes(pyrage.decrypt(payload.encode(), list(ids.identities)))
        except Exception:  # noqa: S112 - like sops, a key that fails is just a key that fails
            continue
    return None
