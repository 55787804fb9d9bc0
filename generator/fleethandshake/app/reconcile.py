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

A copy that another handshake names as its own Secret is applied without the owner reference
(marked with LABEL_COPY_OF and this handshake's uid instead), so that deleting this handshake
does not let the garbage collector take the other's Secret; once the handshake is gone,
`clean_up` releases such copies (or deletes those that nobody reads any more).

A Bundle under a name the handshake renders that the controller did not write for it (app/marks.py)
is never applied over: the handshake is Error, nothing of it written.

What git delivers too is never applied over, owned nor deleted (README, "Moving from controller
mode to git"): a Bundle with REPO_LABEL (a GitRepo writes it; `fleet apply` keeps the owner
reference, so the garbage collector would take it with the handshake) and a downstream copy whose
LABEL_SOURCE is not CONTROLLER_SOURCE (generate/publish wrote it). The controller releases it (its
owner reference removed) and, when this handshake renders one, turns Error.

Missing and Error keep every Bundle as it is (nothing lost): only a rendered handshake changes
its Bundles. Messages name objects, keys and YAML paths, never a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..adapters import templates
from ..adapters.kubeclient import KubeError
from ..adapters.kubeobjects import BUNDLES, HANDSHAKES, SECRETS, KubeObjects, Resource
from ..core import output, render, secretupdate
from ..core.bundleobject import (
    bundle_files,
    bundle_objects,
    handshake_of,
    owned_by,
    owner_reference,
    problems_message,
    status_of,
)
from ..core.models import LABEL_COPY_OF, Handshake, Status
from ..core.ownership import CONTROLLER_SOURCE
from ..core.validate_secret import LAST_APPLIED
from ..modes import IN_CLUSTER, modes
from . import marks
from .releases import Dropped, SharedWithGit, disowned, once_git, released
from .rivals import refusal
from .workqueue import KeyLocks

MODES = IN_CLUSTER
REPLACED = "the object was deleted or replaced while it was reconciled: nothing written for it"
RECONCILED = "let the controller delete its Bundle"  # how the target's removal is delivered
DELETING = "being deleted: nothing written for it (its Bundles go with it, or stay with --cascade=orphan)"


@dataclass(frozen=True)
class Result:
    status: Status
    message: str
    retry: bool = False  # an API failure or a copy changed under us: try again after a backoff
    # (invalid input waits for a change)


class Reconciler:
    def __init__(self, api: KubeObjects, default_mode: str = "plain",
                 is_read: Callable[[str, str], bool] = lambda namespace, name: False) -> None:  # fmt: skip
        """`is_read(namespace, name)`: some handshake names that Secret as its own."""
        self.api, self.default_mode, self.is_read = api, default_mode, is_read
        self.env = render.make_environment(templates.sources())
        # The status last written per handshake (namespace, name) with its uid: the cached object
        # may not show it yet (its watch event still on the way), and may then show an older one
        # that equals the new status while the server holds another.
        self._written: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self.copies: KeyLocks[tuple[str, str]] = KeyLocks()  # downstream copies' (namespace, name)

    def reconcile(self, obj: Mapping[str, Any], others: Sequence[Mapping[str, Any]] = ()) -> Result:
        """Sync one handshake object and write its status (when it changed); `others`: app/rivals.py.

        Nothing is written for an object that is no longer the one of its name: deleted, or
        deleted and created again (`kubectl replace --force`) while the cache still held it. Its
        Bundles would carry an owner reference to a uid that is gone, and the garbage collector
        would delete them, and the Secret with them on every cluster, until the next resync.
        Nor for one being deleted (deletionTimestamp set, a finalizer holds it: `_gone`)."""
        meta = obj["metadata"]
        try:
            if (gone := self._gone(meta)) is not None:  # the cache holds it no more, or the new one
                return gone
            result = self._sync(obj, others)
            if (gone := self._gone(meta)) is not None:  # meanwhile: the new object's reconcile puts its own owner back
                return gone
        except KubeError as e:
            return Result(Status.ERROR, str(e), retry=True)
        status = status_of(result.status, result.message, meta.get("generation"))
        key, uid = (meta["namespace"], meta["name"]), meta.get("uid")
        uid_written, written = self._written.get(key, (None, None))
        if obj.get("status") != status or (uid_written == uid and written != status):
            self._written.pop(key, None)  # unknown, should the write fail
            try:
                self.api.write_status(HANDSHAKES, meta["namespace"], meta["name"], status)
            except KubeError as e:
                return Result(Status.ERROR, str(e), retry=True)
            self._written[key] = (uid, status)
        return result

    def _status(self, obj: Mapping[str, Any]) -> Any:
        """The status last written for the object: ours (for its uid) if we wrote one, its own
        otherwise (app/rivals.py: a twin created in the same second that we let deliver)."""
        meta = obj.get("metadata") or {}
        uid, written = self._written.get((str(meta.get("namespace")), str(meta.get("name"))), (None, None))
        return written if written is not None and uid == meta.get("uid") else obj.get("status")

    def _gone(self, meta: Mapping[str, Any]) -> Result | None:
        """Why nothing may be written for the object (None: it may). Replaced: the retry
        reconciles the new one. Being deleted (deletionTimestamp): with `--cascade=orphan` the
        garbage collector removes the owner reference from its Bundles, and applying them again
        would put it back, and the Bundles would go with the handshake; foreground deletion
        deletes them first, and would find them created again. Its deletion queues it anyway."""
        current = self.api.get(HANDSHAKES, meta["namespace"], meta["name"])
        now = (current or {}).get("metadata") or {}
        if current is None or now.get("uid") != meta.get("uid"):
            return Result(Status.ERROR, REPLACED, retry=True)
        if now.get("deletionTimestamp"):
            return Result(Status.PENDING, DELETING)
        return None

    def _sync(self, obj: Mapping[str, Any], others: Sequence[Mapping[str, Any]]) -> Result:
        hs, problems = handshake_of(obj)
        if hs is None:
            return Result(Status.ERROR, problems_message(problems))
        if (refused := refusal(obj, hs, others, self._status)) is not None:  # another delivers its Secret name there
            return Result(Status.ERROR, refused)
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
                plain = render.plain_secret(_without_last_applied(secret), hs.secret_name)
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
            bundles = bundle_objects(rendered.files)
            wanted = {b["metadata"]["name"] for b in bundles}
            found, _ = self.api.list(BUNDLES, hs.workspace, marks.selector(hs.workspace, hs.name))
            git = self._release_git(hs, owner["uid"], found, wanted)
            if git.clash:
                return Result(Status.ERROR, git.clash + git.message(), retry=bool(git.changed))
            if taken := self._taken(hs, owner, found, wanted):
                return Result(Status.ERROR, taken + git.message(), retry=bool(git.changed))
            applied = output.group_by_bundle({p: c for b in found for p, c in bundle_files(b).items()})
            if refused := secretupdate.refusal(hs, modes()[mode_name], applied, rendered.files, then=RECONCILED):
                return Result(Status.ERROR, refused + git.message(), retry=bool(git.changed))
            kept = []
            for manifest in rendered.management:  # another worker may want the name: one at a time
                with self.copies.held((manifest["metadata"]["namespace"], manifest["metadata"]["name"])):
                    problem, read = self._apply_management(hs, manifest, owner, git)
                if problem:
                    return Result(Status.ERROR, problem + git.message(), retry=bool(git.changed))
                kept += [f"Secret {manifest['metadata']['namespace']}/{manifest['metadata']['name']}"] if read else []
            for bundle in bundles:
                bundle["metadata"]["ownerReferences"] = [owner]
                self.api.apply(BUNDLES, bundle)
            removed = self._remove_dropped(hs, owner["uid"], wanted, found)
            copies = {(m["metadata"]["namespace"], m["metadata"]["name"]) for m in rendered.management}
            dropped = self._remove_copies(hs, owner["uid"], copies, git)
            removed += [f"Secret {name}" for name in sorted(dropped.removed)]
        except KubeError as e:
            return Result(Status.ERROR, str(e), retry=True)
        message = f"{len(bundles)} Bundle(s) applied ({mode_name} mode)"
        if rendered.undelivered:  # downstream: Fleet copies data and type only
            message += f"; its {', '.join(rendered.undelivered)} do not reach the clusters in {mode_name} mode"
        if kept:
            message += f"; {', '.join(kept)} read by another handshake: no owner reference, it outlives this one"
        if removed:
            message += f"; removed {', '.join(removed)}"
        changed = bool(dropped.retry or git.changed)
        return Result(Status.SYNCED, message + git.message() + dropped.message(), retry=changed)

    def clean_up(self, namespace: str, name: str) -> Result | None:
        """The handshake `namespace/name` is gone: of its copies kept without an owner reference
        (LABEL_COPY_OF; the garbage collector took the others), release those a handshake reads
        and delete the rest, each only if unchanged since listed. None: nothing to do, or a
        handshake of that name exists again (its reconcile takes over what is labelled for it)."""
        dropped = Dropped()
        self._written.pop((namespace, name), None)
        try:
            if self.api.get(HANDSHAKES, namespace, name) is not None:
                return None
            found, _ = self.api.list(SECRETS, namespace, f"{marks.selector(namespace, name)},{LABEL_COPY_OF}")
            for secret in found:
                meta = secret.get("metadata") or {}
                if marks.kept(meta):
                    self._drop(meta, "", dropped, release=False)
        except KubeError as e:
            return Result(Status.ERROR, str(e), retry=True)
        if not (dropped.removed or dropped.released or dropped.retry):
            return None
        removed = "; removed " + ", ".join(f"Secret {name}" for name in sorted(dropped.removed))
        message = (removed if dropped.removed else "") + dropped.message()
        return Result(Status.SYNCED, message.removeprefix("; "), retry=dropped.retry)

    def _apply_management(
        self, hs: Handshake, manifest: Mapping[str, Any], owner: Mapping[str, Any], git: SharedWithGit
    ) -> tuple[str | None, bool]:
        """Downstream mode: the Secret Fleet copies, in the workspace under secretName. When the
        handshake's Secret is already that one, there is nothing to write; a Secret of that name
        that the controller did not write for this handshake is never overwritten (one generate
        wrote for it is released into `git` if this handshake owns it). (problem,
        whether another handshake reads the copy: then it has no owner reference but
        LABEL_COPY_OF; server-side apply drops whichever of the two it no longer sends.)"""
        meta = manifest["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        if (namespace, name) == (hs.secret_namespace, hs.secret_name):
            return None, False
        current = self.api.get(SECRETS, namespace, name, metadata_only=True)
        if current is not None and not marks.labelled(current, hs):
            problem = f"downstream mode: Secret {namespace}/{name} exists and was not written by fleet-handshake"
            return problem + " for this handshake; left untouched (rename the Secret or remove the other one)", False
        if current is not None and (source := marks.git_source(current["metadata"])) is not None:
            where = f"Secret {namespace}/{name} (source {source})"
            self._release_shared(SECRETS, current, owner["uid"], where, git)
            return f"{where} written by generate or publish too: not applied. " + once_git(hs, "git's copy"), False
        mark: dict[str, Any]
        if read := self.is_read(namespace, name):
            mark = {"labels": {**meta.get("labels", {}), LABEL_COPY_OF: owner["uid"]}}
        else:
            mark = {"ownerReferences": [dict(owner)]}
        self.api.apply(SECRETS, {**manifest, "metadata": {**meta, **mark}})
        return None, read

    def _release_git(self, hs: Handshake, uid: str, found: list[dict[str, Any]], wanted: set[str]) -> SharedWithGit:
        """Of the handshake's Bundles `found`, those git writes too (a GitRepo, or generate's
        output applied otherwise: marks.written_by_git): each released (its owner reference to
        `uid` removed, if unchanged since listed); a clash when this handshake renders one of
        them (then nothing of it is applied)."""
        git = SharedWithGit()
        clashes = []
        for bundle in found:
            meta = bundle.get("metadata") or {}
            if (writer := marks.written_by_git(meta, hs.workspace)) is None:
                continue
            where = f"Bundle {hs.workspace}/{meta.get('name')} ({writer})"
            self._release_shared(BUNDLES, bundle, uid, where, git)
            if meta.get("name") in wanted:
                clashes.append(where)
        if clashes:
            by_repo = any("(GitRepo " in where for where in clashes)
            writer = "a Fleet GitRepo" if by_repo else "generate's or publish's output"
            git.clash = f"{', '.join(sorted(clashes))} written by {writer} too: not applied. "
            git.clash += once_git(hs, "the GitRepo's Bundle" if by_repo else "that Bundle")
        return git

    def _taken(self, hs: Handshake, owner: Mapping[str, Any], found: list[dict[str, Any]], wanted: set[str]) -> str:
        """The Bundles the handshake renders whose names another holds (marks.not_ours): never
        applied over; then nothing of the handshake is written. Those `found` (its labels) are
        known; each other name is read once, when the Bundle is first created."""
        listed = {b["metadata"]["name"]: b for b in found}
        taken = [f"Bundle {hs.workspace}/{name}" for name in sorted(wanted)
                 if marks.not_ours(listed[name] if name in listed else self.api.get(BUNDLES, hs.workspace, name),
                                   hs, owner)]  # fmt: skip
        if not taken:
            return ""
        return (f"{', '.join(taken)} exists and was not written by fleet-handshake's controller for this handshake:"
                " left untouched, nothing of the handshake applied (rename or remove that Bundle)")  # fmt: skip

    def _release_shared(self, res: Resource, obj: Mapping[str, Any], uid: str, where: str, git: SharedWithGit) -> None:
        """Disown `obj`, which git delivers too, if `uid` owns it and it is unchanged since read."""
        meta = obj.get("metadata") or {}
        if owned_by(obj, uid):
            done = self.api.patch_metadata(res, meta["namespace"], meta["name"], disowned(meta, uid))
            (git.released if done else git.changed).append(where)

    def _remove_dropped(self, hs: Handshake, uid: str, wanted: set[str], found: list[dict[str, Any]]) -> list[str]:
        """Delete the Bundles of `found` this handshake owns and no longer renders, except those a
        GitRepo writes too (released instead, by _release_git)."""
        removed = []
        for bundle in found:
            meta = bundle.get("metadata") or {}
            git = marks.written_by_git(meta, hs.workspace) is not None
            dropped = meta.get("name") not in wanted and owned_by(bundle, uid) and not git
            if dropped and self.api.delete(BUNDLES, hs.workspace, meta["name"], meta["uid"]):
                removed.append(str(meta["name"]))
        return sorted(removed)

    def _remove_copies(self, hs: Handshake, uid: str, wanted: set[tuple[str, str]], git: SharedWithGit) -> Dropped:
        """Of the workspace Secrets written for this handshake (its labels, and an owner reference
        to its uid or LABEL_COPY_OF: then it may be the copy of an earlier handshake of this name),
        release its own Secret; of those not `wanted`, release those another handshake reads and
        delete the others. Those generate wrote are only released into `git` (if owned)."""
        found, _ = self.api.list(SECRETS, hs.workspace, marks.selector(hs.workspace, hs.name))
        dropped = Dropped()
        for secret in found:
            meta = secret.get("metadata") or {}
            where = (str(meta.get("namespace")), str(meta.get("name")))
            if (source := marks.git_source(meta)) is not None:
                self._release_shared(SECRETS, secret, uid, f"Secret {'/'.join(where)} (source {source})", git)
                continue
            if not (owned_by(secret, uid) or marks.kept(meta)):
                continue
            own = where == (hs.secret_namespace, hs.secret_name)
            if own or where not in wanted:
                self._drop(meta, uid, dropped, release=own)
        return dropped

    def _drop(self, meta: Mapping[str, Any], uid: str, dropped: Dropped, *, release: bool) -> None:
        """A copy no longer delivered: released when `release` or a handshake reads it, else
        deleted; either only if it is unchanged since it was listed, else tried again from a new
        list (a copy its user took over, its marks removed, is then not found: left alone)."""
        where = (str(meta.get("namespace")), str(meta.get("name")))
        if release or self.is_read(*where):
            done = self.api.patch_metadata(SECRETS, *where, released(meta, uid))
            (dropped.released if done else dropped.changed).append("/".join(where))
        elif self.api.delete(SECRETS, *where, meta["uid"], meta.get("resourceVersion")):
            dropped.removed.append("/".join(where))
        else:
            dropped.unremoved.append("/".join(where))


def _without_last_applied(secret: Mapping[str, Any]) -> dict[str, Any]:
    """The Secret without `kubectl apply`'s record of it: its values in clear text, keys since
    removed too (generate refuses it in a source, import strips it)."""
    meta = dict(secret.get("metadata") or {})
    if isinstance(annotations := meta.get("annotations"), dict):
        meta["annotations"] = {key: value for key, value in annotations.items() if key != LAST_APPLIED}
    return {**secret, "metadata": meta}
