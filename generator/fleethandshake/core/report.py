"""Human summaries. Names, counts and status words only: never a value."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..modes import modes
from .models import Status
from .output import Composition

PLAIN_WARNING = (
    "plain mode: the output holds Secrets in clear text (base64 is not encryption); "
    "commit it only to a private repository that only Fleet and its operators can read"
)


def plain_warning(tree: Iterable[str]) -> str | None:
    """The warning `generate` and `publish` print when the output holds a Secret in clear text."""
    clear = tuple("/" + m.file for m in modes().values() if m.clear_text)
    if any(path.endswith(clear) for path in tree):
        return f"warning: {PLAIN_WARNING}"
    return None


def undelivered_warning(undelivered: Sequence[tuple[str, str, tuple[str, ...]]], shown: int = 10) -> str | None:
    """The warning for Secrets written this run that their delivery mode delivers only in part:
    their data reaches the clusters, these parts of them do not."""
    if not undelivered:
        return None
    named = [f"{ref} ({mode}: {', '.join(parts)})" for ref, mode, parts in sorted(undelivered)]
    more = f" and {len(named) - shown} more" if len(named) > shown else ""
    return (
        f"warning: {len(named)} Secret(s) reach the clusters without part of what the source gives them:"
        f" {', '.join(named[:shown])}{more}. Downstream mode delivers a Secret's data and type only (Fleet"
        " copies nothing else), and the SopsSecret of sops mode has no `immutable`; use plain mode for"
        " these, or remove those parts from the Secret"
    )


def handshake_rows(comp: Composition, *, failed_only: bool = False) -> list[str]:
    """A line per handshake: its status and bundles, or why it is not Synced. `failed_only`: the
    handshakes that are not Synced, what `--quiet` still prints (they make the run exit 1)."""
    rows = [c for c in comp.changes if not failed_only or c.status is not Status.SYNCED]
    width = max((len(f"{c.workspace}/{c.name}") for c in rows), default=0)
    lines = []
    for c in rows:
        ref = f"{c.workspace}/{c.name}".ljust(width)
        if c.status is Status.SYNCED:
            count = len(c.bundles)
            detail = f"{count} bundle{'s' if count != 1 else ''}"
            detail += f", {len(c.changed)} changed" if c.changed else ", unchanged"
        else:
            detail = c.message + (f" (kept {len(c.bundles)} previous bundle(s))" if c.bundles else "")
        lines.append(f"  {c.status.value:<7}  {ref}  {detail}")
    return lines


def generate_summary(comp: Composition, changed_files: Sequence[str], out: str) -> str:
    lines = handshake_rows(comp)
    for r in comp.removed:
        if r.kind == "bundle":
            lines.append(f"  removed  {r.path}  (bundle of {r.handshake}: its handshake or target is gone)")
        else:
            lines.append(f"  deleted  Secret {r.path} on the management cluster  (of {r.handshake}: its handshake is"
                         " gone or no longer in downstream mode)")  # fmt: skip
    for path in comp.unclaimed:
        lines.append(f"  kept     {path}  (written by an earlier version for a handshake this source does not have;"
                     " delete it by hand if it was this source's)")  # fmt: skip
    counts = {s: sum(1 for c in comp.changes if c.status is s) for s in Status}
    total = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    lines.append(f"{len(comp.changes)} handshake(s): {total or 'none'}")
    failed = f", {comp.decrypt_failed} failed" if comp.decrypt_failed else ""
    lines.append(
        f"decrypted {comp.decrypted_files} file(s){failed}; "
        f"reused {comp.reused} unchanged handshake(s) without decrypting"
    )
    if changed_files:
        lines.append(f"wrote {len(changed_files)} changed file(s) to {out}")
    else:
        lines.append(f"no changes: {out} is up to date")
    return "\n".join(lines)
