"""Refuse, before anything is sealed or written, the rendered handshakes whose bundles would
change their Secret in a way Kubernetes refuses on update (core/secretupdate.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..core import output, secretupdate, state
from ..core.models import Status

if TYPE_CHECKING:
    from .build import _Work


def refuse(
    work: Sequence[_Work],
    old: Mapping[str, bytes],
    old_by_dir: Mapping[str, Mapping[str, bytes]],
    previous: Mapping[tuple[str, str], state.Entry],
    key: bytes | None,
) -> None:
    """Each rendered handshake whose Secret would change that way turns Error (its previous
    bundles kept by `output.compose`), and is not sealed."""
    recorded: Mapping[tuple[str, str], state.Entry] | None = None
    for item in work:
        if item.rendered is None or item.outcome is None or item.outcome.status is not Status.SYNCED:
            continue
        digests = None
        if item.mode.seals and key is not None and item.meta:
            if recorded is None:  # written by another version of the tool: its digests still compare
                recorded = previous or state.parse_state(old.get(state.STATE_FILE), None, key)
            entry = recorded.get((item.hs.workspace, item.hs.name))
            files = {p: c for d in entry.bundles for p, c in old_by_dir.get(d, {}).items()} if entry else {}
            if entry is not None and entry.meta and state.output_mac(key, files) == entry.output:
                digests = (dict(entry.meta), dict(item.meta))  # the entry describes the output's bundles
        refused = secretupdate.refusal(item.hs, item.mode, old_by_dir, item.rendered.files, digests)
        if refused is not None:
            item.outcome = output.Outcome(item.hs, Status.ERROR, refused)
            item.rendered = None
