"""Seal what the modes render as `Sealed` (sops mode's SopsSecrets): encrypt it with the real
`sops` binary, keeping the old bytes of what did not change."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..adapters.sops.encrypt import EncryptFailure, SopsEncryptor
from ..core import output, state
from ..core.models import Status
from ..core.render import Sealed

if TYPE_CHECKING:
    from .build import _Work


def seal(
    work: Sequence[_Work],
    old: Mapping[str, bytes],
    previous: Mapping[tuple[str, str], state.Entry],
    key: bytes | None,
    binary: str,
) -> dict[str, str]:
    """Encrypt the sealed files. An unchanged secret for unchanged recipients keeps its old bytes,
    when they are the very bytes an earlier run sealed from it (checked with the state's digest).
    Returns the digest of every file sealed or kept, for the next run's state."""
    digests: dict[str, str] = {}
    requests: list[tuple[_Work, Sealed]] = []
    for item in work:
        assert item.rendered is not None and item.outcome is not None
        ref = (item.hs.workspace, item.hs.name)
        kept = dict(previous[ref].sealed) if ref in previous else {}
        for s in item.rendered.sealed:
            if key is not None and s.path in kept and s.path in old:
                digest = state.sealed_digest(key, s.plaintext, s.recipients, old[s.path])
                if hmac.compare_digest(kept[s.path], digest):
                    item.outcome.files[s.path] = old[s.path]
                    digests[s.path] = digest
                    continue
            requests.append((item, s))
    results = SopsEncryptor(binary).encrypt_all([s for _, s in requests])
    for (item, request), result in zip(requests, results, strict=True):
        path = request.path
        assert item.outcome is not None
        if isinstance(result, EncryptFailure):
            item.outcome = output.Outcome(item.hs, Status.ERROR, result.message(path, "check the age recipients"))
        elif item.outcome.status is Status.SYNCED:
            item.outcome.files[path] = result
            if key is not None:
                digests[path] = state.sealed_digest(key, request.plaintext, request.recipients, result)
    return digests
