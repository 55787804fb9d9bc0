"""Controller mode: one FleetHandshake object brought to its Bundles and its status.

The same core as `generate`: the handshake is validated as a source document is, the Secret is
turned into the deliverable one by `render.plain_secret`, the delivery mode renders the bundle
folders, and each folder becomes the Bundle Fleet would make of it (core/bundleobject.py). The
Bundles are applied (server-side apply) with the handshake as their owner, so Kubernetes deletes
them with it; Bundles of targets that were dropped are deleted, but only those this controller
made for this handshake (its labels and an owner reference to this handshake's uid). So are the
downstream copies in the workspace it no longer delivers (secretName changed, or the handshake
left downstream mode), after the new copy and the Bundles are applied and the dropped Bundles
deleted, so that no Bundle names a Secret that is gone; never the handshake's own Secret.

Missing and Error keep every Bundle as it is (nothing lost): only a rendered handshake changes
its Bundles. Messages name objects, keys and YAML paths, never a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..adapters import templates
from ..adapters.kube import _revealed
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
from ..core.models import LABEL_HANDSHAKE, LABEL_MANAGED_BY, LABEL_WORKSPACE, MANAGER, Handshake, Status
from ..modes import IN_CLUSTER, modes

MODES = IN_CLUSTER


@dataclass(frozen=True)
class Result:
    status: Status
    message: str
    retry: bool = False  # an API failure: try again after a backoff (invalid input waits for a change)


class Reconciler:
    def __init__(self, api: KubeObjects, default_mode: str = "plain") -> None:
        self.api, self.default_mode = api, default_mode
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
            removed += [f"Secret {name}" for name in self._remove_copies(hs, owner["uid"], copies)]
        except KubeError as e:
            return Result(Status.ERROR, str(e), retry=True)
        message = f"{len(bundles)} Bundle(s) applied ({mode_name} mode)"
        return Result(Status.SYNCED, message + (f"; removed {', '.join(removed)}" if removed else ""))

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
        body = _revealed(manifest)  # values revealed here, only into the request
        body["metadata"]["ownerReferences"] = [dict(owner)]
        self.api.apply(SECRETS, body)
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

    def _remove_copies(self, hs: Handshake, uid: str, wanted: set[tuple[str, str]]) -> list[str]:
        """Delete the workspace Secrets written for this handshake (its labels and an owner
        reference to its uid) that are not `wanted` and not its own Secret; each only if it is
        unchanged since it was listed."""
        found, _ = self.api.list(SECRETS, hs.workspace, _selector(hs))
        keep = wanted | {(hs.secret_namespace, hs.secret_name)}
        removed = []
        for secret in found:
            meta = secret.get("metadata") or {}
            where = (str(meta.get("namespace")), str(meta.get("name")))
            if where in keep or not owned_by(secret, uid):
                continue
            if self.api.delete(SECRETS, *where, meta["uid"], meta.get("resourceVersion")):
                removed.append("/".join(where))
        return sorted(removed)


def _mine(hs: Handshake) -> dict[str, str]:
    """The labels of what the controller writes for a handshake."""
    return {LABEL_MANAGED_BY: MANAGER, LABEL_WORKSPACE: hs.workspace, LABEL_HANDSHAKE: hs.name}


def _selector(hs: Handshake) -> str:
    return ",".join(f"{k}={v}" for k, v in _mine(hs).items())


def _labelled(obj: Mapping[str, Any], hs: Handshake) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in _mine(hs).items())
