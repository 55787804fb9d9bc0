"""What the controller released, left or could not release yet of a handshake's objects, and
what its status message says about them (app/reconcile.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.models import LABEL_COPY_OF, LABEL_HANDSHAKE, LABEL_MANAGED_BY, LABEL_SOURCE, LABEL_WORKSPACE, Handshake


@dataclass
class Dropped:
    """What became of the copies a handshake no longer delivers: deleted, released (a handshake
    reads them), or changed (or gone) between the list and the release (`changed`) or the delete
    (`unremoved`): to try again, from a new list (a copy its user unmarked is then not found)."""

    removed: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unremoved: list[str] = field(default_factory=list)

    @property
    def retry(self) -> bool:
        return bool(self.changed or self.unremoved)

    def message(self) -> str:
        text = ""
        if self.released:
            text += "; released " + ", ".join(f"Secret {name}" for name in sorted(self.released))
            text += " (a handshake's own Secret: kept, no longer owned by this handshake)"
        for names, what in ((self.changed, "released"), (self.unremoved, "removed")):
            if names:
                text += f"; not {what} yet, changed since it was listed: "
                text += ", ".join(f"Secret {name}" for name in sorted(names)) + " (trying again)"
        return text


@dataclass
class SharedWithGit:
    """What git delivers too (Bundles a GitRepo writes, copies generate wrote): released (no owner
    reference to the handshake any more), changed since listed (to try again), and the clash, when
    the handshake renders one of them."""

    released: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    clash: str = ""

    def message(self) -> str:
        text = ""
        if self.released:
            text += f"; released {', '.join(sorted(self.released))}: kept, no longer owned by this handshake"
        if self.changed:
            text += f"; not released yet, changed since it was listed: {', '.join(sorted(self.changed))} (trying again)"
        return text


def once_git(hs: Handshake, theirs: str) -> str:
    """What to do when git delivers `hs` too; `theirs`: git's object, which Fleet delivers meanwhile."""
    what = f"delete the FleetHandshake object {hs.workspace}/{hs.name} (or rename it)"
    return f"Once git delivers this handshake, {what}; until then {theirs} is what Fleet delivers"


def disowned(meta: Mapping[str, Any], uid: str) -> dict[str, Any]:
    """The metadata patch that removes the owner reference to the handshake `uid` (the garbage
    collector would delete the object with it), conditional on its resourceVersion."""
    owners = [ref for ref in meta.get("ownerReferences") or [] if ref.get("uid") != uid]
    return {"resourceVersion": meta.get("resourceVersion"), "ownerReferences": owners or None}


def released(meta: Mapping[str, Any], uid: str) -> dict[str, Any]:
    """The metadata patch that makes a copy a Secret of the user's: disowned, and none of the
    marks of a copy."""
    marks = (LABEL_MANAGED_BY, LABEL_WORKSPACE, LABEL_HANDSHAKE, LABEL_SOURCE, LABEL_COPY_OF)
    labels = {key: None for key in marks if key in (meta.get("labels") or {})}
    return {**disowned(meta, uid), "labels": labels}
