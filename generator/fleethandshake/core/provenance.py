"""What a publish commit was generated from (its git trailers), and whether publishing would go
back in time: the rules are README.md's "Order: what publish guarantees". Git answers the
ancestry question (the adapter); this module only decides, and words the refusal.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from .models import LABEL_PREFIX

COMMIT_TRAILER = "Fleet-Handshake-Source-Commit"
DIGEST_TRAILER = "Fleet-Handshake-Source-Digest"
ALLOW_OPTION = "--allow-unordered"
# The same record on each management Secret publish applies in downstream mode (README, "Order").
COMMIT_ANNOTATION = f"{LABEL_PREFIX}/source-commit"
DIGEST_ANNOTATION = f"{LABEL_PREFIX}/source-digest"
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class Relation(StrEnum):
    """How this run's source commit stands to the one recorded on the output branch."""

    SAME = "same"
    NEWER = "newer"  # ours descends from the recorded one
    OLDER = "older"  # the recorded one descends from ours
    UNRELATED = "unrelated"  # neither descends from the other
    SHALLOW = "shallow"  # neither, but the source clone is shallow: it cannot tell
    MISSING = "missing"  # the recorded commit is not in the source repository


class Verdict(StrEnum):
    PUBLISH = "publish"
    STALE = "stale"  # the branch holds output from a newer source: always refused
    UNORDERED = "unordered"  # cannot tell which is newer: refused unless --allow-unordered


@dataclass(frozen=True)
class Provenance:
    digest: str
    commit: str | None = None


def source_digest(files: Iterable[tuple[str, str]]) -> str:
    """SHA-256 over the (path, SHA-256 of content) pairs of the source files as read, sorted.

    Encrypted files enter as ciphertext (fresh random IVs), handshakes hold no secret: the digest
    identifies the source without revealing a value."""
    h = hashlib.sha256()
    for path, digest in sorted(files):
        h.update(path.encode() + b"\0" + digest.encode() + b"\n")
    return "sha256:" + h.hexdigest()


def recorded(commit: str, digest: str) -> Provenance:
    """A commit's trailer values as read back. Anything but a full object name counts as no commit:
    the value later reaches `git fetch` as an argument."""
    values = commit.split()
    return Provenance(digest.strip(), values[-1] if values and _SHA.fullmatch(values[-1]) else None)


def as_annotations(p: Provenance) -> dict[str, str]:
    return {**({COMMIT_ANNOTATION: p.commit} if p.commit else {}), DIGEST_ANNOTATION: p.digest}


def from_annotations(found: Mapping[str, str]) -> Provenance | None:
    """What a management Secret's annotations record, or None (written before this, or by generate)."""
    digest = found.get(DIGEST_ANNOTATION)
    return recorded(found.get(COMMIT_ANNOTATION) or "", digest) if digest else None


def trailers(p: Provenance) -> str:
    lines = [f"{COMMIT_TRAILER}: {p.commit}"] if p.commit else []
    lines.append(f"{DIGEST_TRAILER}: {p.digest}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    message: str = ""


def decide(
    ours: Provenance,
    theirs: Provenance | None,
    relation: Relation | None,
    *,
    where: str,
    changed: tuple[str, ...] = (),
    base: str | None = None,
) -> Decision:
    """`relation` is git's answer for (ours.commit, theirs.commit) when both exist; `changed` lists
    the source files with uncommitted changes (then ours.commit is None, and `relation` is git's
    answer for `base`, the commit they were made on); `where` names the branch."""
    if changed:
        listed = ", ".join(changed[:5]) + (", ..." if len(changed) > 5 else "")
        if relation is Relation.OLDER and theirs is not None:  # its changes lack that newer commit's
            return Decision(Verdict.STALE, f"refusing to publish: {where} holds output generated from source commit "
                            f"{theirs.commit}, which descends from commit {base}, on which this run's source has "
                            f"uncommitted changes ({listed}); publishing would replace newer output with older output. "
                            "Nothing was pushed: the newer output stays")  # fmt: skip
        return Decision(Verdict.UNORDERED, f"the source has uncommitted changes to files publish reads ({listed}): "
                        "the output could not name the commit it came from, so nothing orders it; nothing was pushed. "
                        f"Commit them, or pass {ALLOW_OPTION} to publish them anyway")  # fmt: skip
    if theirs is None or ours.digest == theirs.digest:
        return Decision(Verdict.PUBLISH)  # nothing recorded yet, or the very same source files
    if ours.commit is None and theirs.commit is None:
        return Decision(Verdict.PUBLISH)  # neither source is in git: nothing to order by
    recorded = f"{where} holds output generated from source commit {theirs.commit}"
    if ours.commit is None:
        return _unordered(f"{recorded}, and this run's source is not a git work tree, so nothing says which "
                          "is newer")  # fmt: skip
    if theirs.commit is None:
        return _unordered(f"{where} holds output from a source that recorded no commit (not a git work tree, or "
                          f"uncommitted changes), so nothing says whether this run's source commit {ours.commit} "
                          "is newer")  # fmt: skip
    if relation in (Relation.SAME, Relation.NEWER):
        return Decision(Verdict.PUBLISH)
    if relation is Relation.OLDER:
        return Decision(Verdict.STALE, f"refusing to publish: {recorded}, which is newer than this run's source "
                        f"commit {ours.commit} (it descends from it); publishing would replace newer output with "
                        "older output. Nothing was pushed: the newer output stays")  # fmt: skip
    if relation is Relation.SHALLOW:
        return _unordered(f"{recorded}; the source clone is shallow and its history does not show whether this "
                          f"run's source commit {ours.commit} is newer. Fetch the full history (git fetch "
                          "--unshallow; in GitHub Actions, actions/checkout with fetch-depth: 0)")  # fmt: skip
    if relation is Relation.MISSING:
        return _unordered(f"{recorded}, a commit the source repository does not have and could not fetch, "
                          f"so nothing says whether this run's source commit {ours.commit} is newer")  # fmt: skip
    return _unordered(f"{recorded}; this run's source commit {ours.commit} neither descends from it nor precedes "
                      "it (unrelated or diverged histories)")  # fmt: skip


def _unordered(text: str) -> Decision:
    return Decision(Verdict.UNORDERED, f"cannot tell which source is newer: {text}; nothing was pushed. "
                    f"Pass {ALLOW_OPTION} to publish anyway")  # fmt: skip
