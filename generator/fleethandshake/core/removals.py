"""The removal guard: a run refuses to remove bundles it cannot account for (README.md, "The
removal guard"): the source has no handshake at all while OUT has bundles, or the bundles of gone
handshakes are more than MAX_SHARE of OUT's bundles and more than HANDFUL of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .output import Composition, owned_bundles
from .ownership import Ownership

MAX_SHARE = 0.5  # more than half of OUT's bundles ...
HANDFUL = 5  # ... and more than this many: a small output may lose one of its two handshakes
ALLOW_OPTION = "--allow-removals"
SHOWN = 5  # bundles named in a refusal


@dataclass(frozen=True)
class Removals:
    gone: tuple[str, ...]  # bundle folders of handshakes no longer in the source, `ws/bundle`
    owned: int  # bundle folders of fleet-handshake's in OUT before the run
    refusal: str | None = None  # why the guard stops a run that would remove them
    allowed: bool = False  # ... unless the user allowed it

    @property
    def refused(self) -> bool:
        return self.refusal is not None and not self.allowed

    def describe(self) -> str:
        """How many, which (the first few), and why the guard stops them."""
        shown = ", ".join(self.gone[:SHOWN]) + (f" and {len(self.gone) - SHOWN} more" if len(self.gone) > SHOWN else "")
        return (
            f"{len(self.gone)} of the output's {self.owned} bundle(s) belong to handshakes gone from the source "
            f"({shown}): {self.refusal}"
        )

    def message(self) -> str:
        """The refusal of a run: what, why, and how to allow it."""
        return (
            f"refusing to remove bundles: {self.describe()}. Fleet would uninstall their Secrets from every "
            f"cluster they reach. Nothing was written. If the handshakes were removed on purpose, run again "
            f"with {ALLOW_OPTION}"
        )


def check(old: Mapping[str, bytes], comp: Composition, *, allow: bool = False) -> Removals:
    """The guard's decision for a run from OUT `old` to `comp`."""
    if not comp.pruned:
        return Removals((), 0)
    kept_handshakes_lost = {d for c in comp.changes for d in c.removed}  # targets gone from a handshake
    gone = tuple(d for d in comp.pruned if d not in kept_handshakes_lost)
    if not gone:
        return Removals((), 0)
    # The share is of this source's bundles: another source's folders in OUT are never removed here.
    mine = Ownership(comp.source, frozenset((c.workspace, c.name) for c in comp.changes))
    owned = len(set().union(*owned_bundles(old, mine).values()))
    refusal = None
    if not comp.changes:
        refusal = "the source has no FleetHandshake at all (a wrong folder? a misspelled kind? an unread file?)"
    elif len(gone) > HANDFUL and len(gone) > owned * MAX_SHARE:
        refusal = f"that is more than {MAX_SHARE:.0%} of them, and more than {HANDFUL}"
    return Removals(gone, owned, refusal, allow)
