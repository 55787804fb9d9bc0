"""Which bundle folders and management-cluster Secrets belong to this source and this output: those
labelled LABEL_SOURCE with its identity, and unlabelled ones (written before the label existed)
of one of its handshakes. README.md, "Ownership: each source removes only its own".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import names
from .models import LABEL_HANDSHAKE, LABEL_MANAGED_BY, LABEL_PREFIX, LABEL_SOURCE, LABEL_WORKSPACE, MANAGER

_DIGEST_LEN = 10
# The source identity (LABEL_SOURCE) of what the controller writes: a generate run's removals
# never take the controller's objects for its own, nor the reverse; no source may take it.
CONTROLLER_SOURCE = "fleet-handshake-controller"
# The output branch a management Secret was written for (README, "Ownership"): the derived identity
# leaves the branch out, so two branches of one output repository share it; this tells them apart.
BRANCH_ANNOTATION = f"{LABEL_PREFIX}/output-branch"
_SCP_LIKE = re.compile(r"(?:[^@/]+@)?([^:/]+):(?!//)(.*)")  # git@host:path, as git reads it


def source_name_problem(value: str) -> str | None:
    """Why `value` cannot be a source identity (it is a label value, not the controller's), or None."""
    if value == CONTROLLER_SOURCE:
        return f"{value} is the identity of `fleet-handshake controller` (what it writes carries it): choose another"
    problem = "must not be empty" if not value else names.label_value_problem(value)
    return problem and f"{problem} (the source identity is written as a label value)"


def normalise_remote(url: str) -> str:
    """`host/path` of a git remote URL, without scheme, user, port or `.git`: the same for the
    https and ssh URLs of one repository. Credentials in the URL never reach the result."""
    text = url.strip()
    match = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/]*@)?([^/:]*)(?::\d*)?(/.*)?$", text)
    if match:
        host, path = match[1], match[2] or ""
    else:
        scp = _SCP_LIKE.fullmatch(text)
        host, path = (scp[1], scp[2]) if scp else ("", text)
    path = path.strip("/")
    path = path.removesuffix(".git").rstrip("/")
    return f"{host.lower()}/{path}" if host else path


def derived_identity(repository: str, path: str) -> str:
    """The default source identity for output folder `path` inside `repository` (a normalised
    remote URL, or a folder name when there is no remote): readable, and unique by its digest."""
    digest = hashlib.sha256(f"{repository}\0{path}".encode()).hexdigest()[:_DIGEST_LEN]
    words = [repository.rsplit("/", 1)[-1], "" if path == "." else path]
    readable = re.sub(r"[^a-z0-9]+", "-", "-".join(words).lower()).strip("-")
    readable = readable[: 63 - _DIGEST_LEN - 1].rstrip("-") or "out"
    return f"{readable}-{digest}"


@dataclass(frozen=True)
class Ownership:
    """This run's source identity, the handshakes of this source (for unlabelled objects), and the
    output branch it writes for (None: OUT is on no branch)."""

    source: str
    handshakes: frozenset[tuple[str, str]]
    branch: str | None = None

    def owns(self, labels: Mapping[str, Any]) -> bool:
        """Whether an object with these labels is this source's to rewrite or remove."""
        if labels.get(LABEL_MANAGED_BY) != MANAGER:
            return False
        source = labels.get(LABEL_SOURCE)
        if source is not None:
            return bool(self.source) and source == self.source
        return (labels.get(LABEL_WORKSPACE), labels.get(LABEL_HANDSHAKE)) in self.handshakes

    def other_branch(self, annotations: Mapping[str, str]) -> str | None:
        """The output branch a management Secret of this identity was written for, when that is not
        this run's; None when they match or either names none (written by an earlier version)."""
        theirs = annotations.get(BRANCH_ANNOTATION)
        return theirs if theirs and self.branch and theirs != self.branch else None


def owner_of(labels: Mapping[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """The labels an owned object must still carry (and must still lack) to be replaced or
    removed: a precondition, so that an object relabelled in between is left alone."""
    keys = (LABEL_MANAGED_BY, LABEL_WORKSPACE, LABEL_HANDSHAKE, LABEL_SOURCE)
    present = {k: labels[k] for k in keys if k in labels}
    return present, tuple(k for k in keys if k not in labels)


def claim_secret(
    existing: Mapping[str, str] | None,
    workspace: str,
    name: str,
    handshake: str,
    owned: Ownership,
    annotations: Mapping[str, str] | None = None,
) -> str | None:
    """Why handshake `workspace/handshake` may not write the management Secret `workspace/name`,
    whose current labels are `existing` (None: it does not exist) and annotations `annotations`;
    None when it may.

    It may when the Secret is absent or this source's: its own, or that of a handshake this source
    no longer has (a rename: the new handshake takes the Secret over), written for this output branch.
    """
    if existing is None:
        return None
    if owned.owns(existing):
        theirs = owned.other_branch(annotations or {})
        return None if theirs is None else other_branch_problem(workspace, name, theirs, owned)
    where = f"Secret {workspace}/{name} on the management cluster"
    if existing.get(LABEL_MANAGED_BY) != MANAGER:
        return (f"{where} exists and is not managed by fleet-handshake, so it was left untouched and this handshake"
                " is not delivered; rename the handshake's secret or remove that Secret")  # fmt: skip
    other = f"{existing.get(LABEL_WORKSPACE, '?')}/{existing.get(LABEL_HANDSHAKE, '?')}"
    source = existing.get(LABEL_SOURCE)
    if source == CONTROLLER_SOURCE:
        return (f"{where} is the copy controller mode writes for the FleetHandshake object {other}; to"
                f" deliver this handshake from git, delete that object (its copy and Bundles go with it): kubectl"
                f" delete fleethandshake -n {other.replace('/', ' ')}")  # fmt: skip
    if source is not None:
        return (f"{where} is delivered by handshake {other} of another source ({source}); one Secret name in one"
                " workspace can have one handshake only: rename the Secret of one of them")  # fmt: skip
    return (f"{where} belongs to handshake {other}, which is not in this source and was written by an earlier"
            " fleet-handshake that recorded no source; if it was this source's (renamed), label it as this"
            f" source's: kubectl label secret -n {workspace} {name} {LABEL_SOURCE}={owned.source}")  # fmt: skip


def other_branch_problem(workspace: str, name: str, theirs: str, owned: Ownership) -> str:
    return (f"Secret {workspace}/{name} on the management cluster was written for output branch {theirs}, and this"
            f" run writes for branch {owned.branch} of the same output repository (one source identity,"
            f" {owned.source}), so it was left untouched and this handshake is not delivered; two branches of one"
            " output repository publishing to one management cluster need their own `source:` in"
            " .fleet-handshake.yaml (each a distinct identity), or rename the Secret of one of them")  # fmt: skip
