"""Controller mode: the marks that tell whose a Bundle or a downstream copy in the workspace is
(app/reconcile.py). The controller writes, owns and deletes only what carries its labels for the
handshake (LABEL_MANAGED_BY, LABEL_WORKSPACE, LABEL_HANDSHAKE, and LABEL_SOURCE =
CONTROLLER_SOURCE); what git delivers too (Fleet's REPO_LABEL, or generate's source identity)
is released, never written over; anything else is someone else's, never touched."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.models import (
    LABEL_COPY_OF,
    LABEL_HANDSHAKE,
    LABEL_MANAGED_BY,
    LABEL_SOURCE,
    LABEL_WORKSPACE,
    MANAGER,
    Handshake,
)
from ..core.ownership import CONTROLLER_SOURCE

# Fleet's label on every Bundle a GitRepo writes (rancher/fleet gitjob.go, `--label` of `fleet
# apply`); its prune deletes the Bundles with it that git no longer holds.
REPO_LABEL = "fleet.cattle.io/repo-name"


def mine(workspace: str, name: str) -> dict[str, str]:
    """The labels of what the controller writes for a handshake."""
    return {LABEL_MANAGED_BY: MANAGER, LABEL_WORKSPACE: workspace, LABEL_HANDSHAKE: name}


def selector(workspace: str, name: str) -> str:
    return ",".join(f"{k}={v}" for k, v in mine(workspace, name).items())


def labelled(obj: Mapping[str, Any], hs: Handshake) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in mine(hs.workspace, hs.name).items())


def git_source(meta: Mapping[str, Any]) -> str | None:
    """LABEL_SOURCE of a copy generate/publish wrote (the controller always sets it); None: the controller's."""
    source = (meta.get("labels") or {}).get(LABEL_SOURCE)
    return None if source == CONTROLLER_SOURCE else source or "not recorded"


def kept(meta: Mapping[str, Any]) -> bool:
    """A copy the controller applied for a reader: LABEL_COPY_OF instead of an owner reference."""
    return LABEL_COPY_OF in (meta.get("labels") or {}) and not meta.get("ownerReferences") and not git_source(meta)


def written_by_git(meta: Mapping[str, Any], workspace: str) -> str | None:
    """Of a Bundle labelled for the handshake: what writes it besides the controller, a GitRepo
    (REPO_LABEL) or generate's output applied some other way (its source identity); None: none."""
    labels = meta.get("labels") or {}
    if (repo := labels.get(REPO_LABEL)) is not None:
        return f"GitRepo {workspace}/{repo}"
    source = labels.get(LABEL_SOURCE)
    return None if source == CONTROLLER_SOURCE else f"source {source or 'not recorded'}"


def not_ours(bundle: Mapping[str, Any] | None, hs: Handshake, owner: Mapping[str, Any]) -> bool:
    """A Bundle the controller may not apply over for the handshake: it exists and lacks the
    controller's labels for it, or has an owner other than this handshake (an earlier object of
    its name included: `kubectl delete --cascade=orphan` and created again). Bundles git writes
    too (written_by_git) are the clash of app/reconcile.py instead."""
    if bundle is None:
        return False
    meta = bundle.get("metadata") or {}
    if not labelled(bundle, hs) or written_by_git(meta, hs.workspace) is not None:
        return True
    same = ("apiVersion", "kind", "name")
    return any(any(ref.get(k) != owner[k] for k in same) for ref in meta.get("ownerReferences") or [])
