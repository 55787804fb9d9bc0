"""Controller mode: one FleetHandshake object brought to its Bundles and its status.

The same core as `generate`: the handshake is validated as a source document is, the Secret is
turned into the deliverable one by `render.plain_secret`, the delivery mode renders the bundle
folders, and each folder becomes the Bundle Fleet would make of it (core/bundleobject.py). The
Bundles are applied (server-side apply) with the handshake as their owner, so Kubernetes deletes
them with it; Bundles of targets that were dropped are deleted, but only those this controller
made for this handshake (its labels and an owner reference to this handshake's uid). So are the
downstream copies in the workspace it no longer delivers (secretName changed, or the handshake
left downstream mode), after the new copy and the Bundles are applied and the dropped Bundles
deleted, so that no Bundle names a Secret that is gone. A copy that is a handshake's own Secret
(the user pointed this handshake or another at it) is released instead: its owner reference and
marks removed, it is the user's Secret from then on, which neither the garbage collector (when
the handshake is deleted) nor a later removal takes.

Missing and Error keep every Bundle as it is (nothing lost): only a rendered handshake changes
its Bundles. Messages name objects, keys and YAML paths, never a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..adapters import templates
from ..adapters.kubeclient import KubeError
from ..adapters.kubeobjects import BUNDLES, HANDSHAKES, SECRETS, KubeObjects
from ..core import render
from ..core.bundleobject import (
    CONTROLLER_SOURCE,
    bundle_objects,
    handshake_of,
    owned_by,
    owner_reference,
    problems_message,
    status_of,
)
from ..core.models import LABEL_HANDSHAKE, LABEL_MANAGED_BY, LABEL_SOURCE, LABEL_WORKSPACE, MANAGER, Handshake, Status
from ..modes import IN_CLUSTER, modes

MODES = IN_CLUSTER


@dataclass(frozen=True)
class Result:
    status: Status
    message: str
    retry: bool = False  # an API failure: try again after a backoff (invalid input waits for a change)


class Reconciler:
    def __init__(self, api: KubeObjects, default_mode: str = "plain",
                 is_read: Callable[[str, str], bool] = lambda namespace, name: False) -> None:  # fmt: skip
        """`is_read(namespace, name)`: some handshake names that Secret as its own."""
        self.api, self.default_mode, self.is_read = api, default_mode, is_read
        self.env = render.make_environment(templates.sources())

    def reconcile(self, obj: Mapping[str, Any]) -> Result:
        """Sync one handshake object and write its status (when it changed)."""
        result = self._sync(obj)
        meta = obj["metadata"]
        status = status_of(result.status, result.message, meta.get("generation"))
        if obj.get("status") != status:
            try:
                self.api.write_status(HANDSHAKES, meta["namespace"], meta["name"], status)
            except KubeError as e:
                return Result(Status.ERROR, str(e), retry=True)
        return result

    def _sync(self, obj: Mapping[str, Any]) -> Result:
        hs, problems = handshake_of(obj)
        if hs is None:
            return Result(Status.ERROR, problems_message(problems))
        mode_name = hs.mode or self.default_mode
        if mode_name not in MODES:
            return Result(Status.ERROR, f"delivery mode {mode_name} is not available in controller mode "
                                        f"(available: {', '.join(MODES)})")  # fmt: skip
        where = f"Secret {hs.secret_namespace}/{hs.secret_name}"
        try:
            secret = self.api.get(SECRETS, hs.secret_namespace, hs.secret_name)
            if secret is None:
                return Result(Status.MISSING, f"{where} not found; the handshake's Bundles are kept as they are")
            try:
                plain = render.plain_secret(secret, hs.secret_name)
            except render.RenderError as e:
                return Result(Status.ERROR, f"{where}: {e}")
            # The marker's revision in downstream mode: changes with the Secret, reveals nothing.
            revision = str((secret.get("metadata") or {}).get("resourceVersion") or "")
            del secret
            try:
                rendered = modes()[mode_name].render(self.env, hs, plain, None, revision, CONTROLLER_SOURCE)
            except render.RenderError as e:
                return Result(Status.ERROR, f"{where}: {e}")
            owner = owner_reference(obj)
            for manifest in rendered.management:
                problem = self._apply_management(hs, manifest, owner)
                if problem:
                    return Result(Status.ERROR, problem)
            bundles = bundle_objects(rendered.files)
            for bundle in bundles:
                bundle["metadata"]["ownerReferences"] = [owner]
                self.api.apply(BUNDLES, bundle)
            removed = self._remove_dropped(hs, owner["uid"], {b["metadata"]["name"] for b in bundles})
            copies = {(m["metadata"]["namespace"], m["metadata"]["name"]) for m in rendered.management}
            gone, released = self._remove_copies(hs, owner["uid"], copies)
            removed += [f"Secret {name}" for name in gone]
        except KubeError as e:
            return Result(Status.ERROR, str(e), retry=True)
        message = f"{len(bundles)} Bundle(s) applied ({mode_name} mode)"
        if removed:
            message += f"; removed {', '.join(removed)}"
        if released:
            message += "; released " + ", ".join(f"Secret {name}" for name in released)
            message += " (a handshake's own Secret: kept, no longer owned by this handshake)"
        return Result(Status.SYNCED, message)

    def _apply_management(self, hs: Handshake, manifest: Mapping[str, Any], owner: Mapping[str, Any]) -> str | None:
        """Downstream mode: the Secret Fleet copies, in the workspace under secretName. When the
        handshake's Secret is already that one, there is nothing to write; a Secret of that name
        that fleet-handshake did not write for this handshake is never overwritten."""
        meta = manifest["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        if (namespace, name) == (hs.secret_namespace, hs.secret_name):
            return None
        current = self.api.get(SECRETS, namespace, name, metadata_only=True)
        if current is not None and not _labelled(current, hs):
            return (f"downstream mode: Secret {namespace}/{name} exists and was not written by fleet-handshake "
                    "for this handshake; left untouched (rename the Secret or remove the other one)")  # fmt: skip
        self.api.apply(SECRETS, {**manifest, "metadata": {**meta, "ownerReferences": [dict(owner)]}})
        return None

    def _remove_dropped(self, hs: Handshake, uid: str, wanted: set[str]) -> list[str]:
        found, _ = self.api.list(BUNDLES, hs.workspace, _selector(hs))
        removed = []
        for bundle in found:
            meta = bundle.get("metadata") or {}
            dropped = meta.get("name") not in wanted and owned_by(bundle, uid)
            if dropped and self.api.delete(BUNDLES, hs.workspace, meta["name"], meta["uid"]):
                removed.append(str(meta["name"]))
        return sorted(removed)

    def _remove_copies(self, hs: Handshake, uid: str, wanted: set[tuple[str, str]]) -> tuple[list[str], list[str]]:
        """Of the workspace Secrets written for this handshake (its labels and an owner reference
        to its uid): release its own Secret, and those not `wanted` that another handshake names
        as its own; delete the other ones not `wanted`. Each only if it is unchanged since it was
        listed. Returns the deleted and the released."""
        found, _ = self.api.list(SECRETS, hs.workspace, _selector(hs))
        removed, released = [], []
        for secret in found:
            meta = secret.get("metadata") or {}
            where = (str(meta.get("namespace")), str(meta.get("name")))
            if not owned_by(secret, uid):
                continue
            if where == (hs.secret_namespace, hs.secret_name) or (where not in wanted and self.is_read(*where)):
                if self.api.patch_metadata(SECRETS, *where, _released(meta, uid)):
                    released.append("/".join(where))
            elif where not in wanted and self.api.delete(SECRETS, *where, meta["uid"], meta.get("resourceVersion")):
                removed.append("/".join(where))
        return sorted(removed), sorted(released)


def _mine(hs: Handshake) -> dict[str, str]:
    """The labels of what the controller writes for a handshake."""
    return {LABEL_MANAGED_BY: MANAGER, LABEL_WORKSPACE: hs.workspace, LABEL_HANDSHAKE: hs.name}


def _selector(hs: Handshake) -> str:
    return ",".join(f"{k}={v}" for k, v in _mine(hs).items())


def _released(meta: Mapping[str, Any], uid: str) -> dict[str, Any]:
    """The metadata patch that makes a copy a Secret of the user's: no owner reference to the
    handshake (the garbage collector would delete it with it), none of the marks of a copy;
    conditional on its resourceVersion."""
    owners = [ref for ref in meta.get("ownerReferences") or [] if ref.get("uid") != uid]
    marks = (LABEL_MANAGED_BY, LABEL_WORKSPACE, LABEL_HANDSHAKE, LABEL_SOURCE)
    labels = {key: None for key in marks if key in (meta.get("labels") or {})}
    return {"resourceVersion": meta.get("resourceVersion"), "ownerReferences": owners or None, "labels": labels}


def _labelled(obj: Mapping[str, Any], hs: Handshake) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in _mine(hs).items())
