"""Downstream mode's other half: the Secrets on the management cluster that Fleet copies, applied
before the bundles that reference them are written (or pushed), and removed only after (README.md,
"downstream mode"). Those of Missing or Error handshakes stay, like their bundles; those this
source does not own (core/ownership.py) are never touched.

A handshake whose Secret name is taken by something that is not this source's turns Error
alone (`claim`, asked by build before the output is composed); the others go on.

Every output outside git has the one identity `local` (app/source.py): for the management
cluster, which such outputs may share, a Secret labelled `local` is this output's only when its
own bundles name it (`downstreamResources`), or when it is taken over by the very handshake it is
labelled with; another output's is never pruned or overwritten.

The identity leaves out the output branch: each Secret records the branch it was written for
(ownership.BRANCH_ANNOTATION), and one written for another branch is neither overwritten (its
handshake turns Error) nor pruned (kept, and said).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from ..core import output
from ..core.models import LABEL_HANDSHAKE, LABEL_MANAGED_BY, LABEL_WORKSPACE, MANAGER, Handshake, Status
from ..core.names import dns1123_label_problem
from ..core.ownership import BRANCH_ANNOTATION, Ownership, claim_secret, other_branch_problem, owner_of
from ..errors import UserError
from ..modes import modes
from .build import Build
from .source import LOCAL_IDENTITY, LoadedSource

if TYPE_CHECKING:
    from .ordering import Guard

OWNED_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGER}"
Created = tuple[str, str, dict[str, str], tuple[str, str]]  # namespace, name, owner labels, (uid, resourceVersion)


@dataclass(frozen=True)
class KubeOptions:
    context: str | None = None
    kubeconfig: str | None = None


class Sync:
    """The management Secrets of this source's identity and handshakes."""

    def __init__(self, old: Mapping[str, bytes], options: KubeOptions | None, loaded: LoadedSource,
                 guard: Guard | None = None, created: Iterable[Created] = (),
                 branch: str | None = None) -> None:  # fmt: skip
        """`guard`: publish's order of sources. Each Secret then records the source it came from,
        and one recorded by a newer source is never written over (StaleSource, UnorderedSource).
        `created`: what an earlier attempt of the same run created (`withdraw` deletes it too).
        `branch`: the output branch this run writes for, recorded on each Secret (None: none)."""
        self.options = options or KubeOptions()
        self.loaded, self.guard = loaded, guard
        handshakes = frozenset((h.workspace, h.name) for h in loaded.source.handshakes)
        self.owner = Ownership(loaded.identity, handshakes, branch)
        markers = tuple("/" + m.file for m in modes().values() if m.elsewhere)
        had_downstream = {p.split("/", 1)[0] for p in old if p.endswith(markers)}
        owned = output.owned_bundles(old, self.owner) if had_downstream else {}  # only then worth reading
        had_downstream &= {ws for (ws, _name), dirs in owned.items() if dirs}
        self._had_downstream = had_downstream
        # and where the run that wrote OUT deleted Secrets: a delete that failed after its bundles
        # were written (OUT may hold no downstream bundle any more) is tried again
        self._retried = _removed_secret_workspaces(old) - had_downstream
        # (workspace, Secret) pairs this output's bundles name; None: the identity is this output's own
        self._named = _named_secrets(old, owned) if loaded.identity == LOCAL_IDENTITY else None
        self._existing: dict[tuple[str, str], dict[str, str]] = {}  # labels of Secrets found by claim
        self._doomed: list[tuple[str, str, dict[str, str]]] = []  # what prune deletes
        self.created: list[Created] = list(created)
        self.kept: list[str] = []  # Secrets prune left: written from a newer source (or one not ordered)
        self.other_branches: list[str] = []  # what prune leaves to another output branch, as said
        self._store: Any = None

    def _client(self) -> Any:
        if self._store is None:
            from ..adapters.kube import SecretStore  # loads the kubernetes client: only when used

            self._store = SecretStore(context=self.options.context, kubeconfig=self.options.kubeconfig)
        return self._store

    def claim(self, wanted: list[tuple[Handshake, dict[str, Any]]]) -> dict[tuple[str, str], str]:
        """Refusals, by handshake, of management Secrets whose name is taken by what this source
        does not own (one list of each workspace's Secrets, metadata only)."""
        found: dict[str, dict[str, Any]] = {}
        refused: dict[tuple[str, str], str] = {}
        for hs, doc in wanted:
            ws, name = doc["metadata"]["namespace"], doc["metadata"]["name"]
            if ws not in found:
                found[ws] = {s.name: s for s in self._client().list_names(ws)}
            secret = found[ws].get(name)
            existing = dict(secret.labels) if secret is not None else None
            problem = claim_secret(existing, ws, name, hs.name, self.owner, secret and secret.annotations)
            if problem is None and existing is not None and not self._ours(ws, name, existing, hs.name):
                problem = _another_local_output(ws, name, existing)
            if problem is not None:
                refused[(hs.workspace, hs.name)] = problem
            elif existing is not None:
                self._existing[(ws, name)] = existing
        return refused

    def apply(self, result: Build) -> None:
        # owner_labels: a same-named Secret that this source does not own is refused, not overwritten.
        record: dict[str, str] = {BRANCH_ANNOTATION: self.owner.branch} if self.owner.branch else {}
        if self.guard is not None:
            from ..core import provenance

            record.update(provenance.as_annotations(self.guard.record(self.loaded)))
        for manifest in result.management:
            meta = manifest["metadata"]
            existing = self._existing.get((meta["namespace"], meta["name"]))
            replaces = owner_of(existing) if existing is not None else None
            if record:
                annotations = {**(meta.get("annotations") or {}), **record}
                manifest = {**manifest, "metadata": {**meta, "annotations": annotations}}
            labels = owner_of(meta["labels"])[0]
            ws, name = meta["namespace"], meta["name"]
            written = self._client().apply(manifest, owner_labels=labels, replaces=replaces,
                                           check=self._check_order(ws, name))  # fmt: skip
            ours = [c for c in self.created if c[:2] == (ws, name) and c[3][0] == written.uid]
            if written.created or ours:  # created by this run, maybe by an earlier attempt: at its new version
                self.created = [c for c in self.created if c[:2] != (ws, name)]
                self.created.append((ws, name, labels, (written.uid, written.version)))

    def withdraw(self) -> list[str]:
        """Delete the Secrets `apply` created, each only if unchanged since: what a run refused as
        stale (publish) created is referenced by no output, and may be what a newer run removed."""
        removed = [f"{ws}/{name}" for ws, name, labels, version in self.created
                   if self._client().delete_owned(ws, name, labels, unchanged=version)]  # fmt: skip
        self.created = []
        return removed

    def _check_order(self, namespace: str, name: str) -> Callable[[Mapping[str, Any]], None] | None:
        """What a Secret must pass, as it is just before it is written or deleted: written for this
        output branch (OtherBranch), and (publish) from no newer source."""
        guard, owner = self.guard, self.owner
        if guard is None and owner.branch is None:
            return None

        def check(metadata: Mapping[str, Any]) -> None:
            annotations = metadata.get("annotations") or {}
            theirs = owner.other_branch(annotations)
            if theirs is not None:
                raise OtherBranch(other_branch_problem(namespace, name, theirs, owner), theirs)
            refusal = guard.check_secret(namespace, name, annotations) if guard is not None else None
            if refusal is not None:
                raise refusal

        return check

    def plan_prune(self, result: Build, old: Mapping[str, bytes]) -> output.Composition:
        """Find the owned Secrets that are no longer wanted (deleted by `prune`, once the bundles are
        written), and return the composition with them among its removals and in status.json."""
        comp = result.composition
        delivered = {ws for ws, _ in result.downstream} | self._had_downstream
        workspaces = sorted(delivered | self._retried)
        if not workspaces:
            return comp
        wanted = {(m["metadata"]["namespace"], m["metadata"]["name"]) for m in result.management}
        not_synced = {(c.workspace, c.name) for c in comp.changes if c.status is not Status.SYNCED}
        kept = not_synced  # its kept bundles may still name its Secret, whatever its mode is now
        self._doomed, self.other_branches = [], []
        for ws in workspaces:
            for found in self._owned_in(ws, only_retried=ws not in delivered):
                handshake = found.labels.get(LABEL_HANDSHAKE, "")
                if (
                    (ws, found.name) in wanted
                    or (ws, handshake) in kept
                    or not self._ours(ws, found.name, found.labels)
                ):
                    continue
                if found.labels.get(LABEL_WORKSPACE) != ws:
                    continue  # labelled for another workspace: not what this run wrote here
                theirs = self.owner.other_branch(found.annotations)
                if theirs is not None:
                    self.other_branches.append(_kept_for_branch(f"{ws}/{found.name}", theirs, self.owner))
                    continue
                self._doomed.append((ws, found.name, dict(found.labels)))
        removals = tuple(output.Removal("Secret", f"{ws}/{name}", f"{ws}/{labels.get(LABEL_HANDSHAKE, '')}")
                         for ws, name, labels in self._doomed)  # fmt: skip
        if not removals:
            return comp
        return output.with_status(replace(comp, removed=comp.removed + removals), old)

    def _owned_in(self, ws: str, *, only_retried: bool) -> list[Any]:
        """This identity's Secrets in `ws`; none when `ws` is only looked at again for an earlier
        run's deletes and may no longer be listed there (its Role removed with downstream mode)."""
        from ..adapters.kubeclient import KubeError

        try:
            return list(self._client().list_owned(ws, OWNED_SELECTOR))
        except KubeError as e:
            if only_retried and e.status == HTTPStatus.FORBIDDEN:
                return []
            raise

    def _ours(self, ws: str, name: str, labels: Mapping[str, str], handshake: str | None = None) -> bool:
        """Whether the management Secret `ws/name` with these labels is this output's to write over
        (`handshake`: the handshake that would) or, without `handshake`, to delete."""
        if not self.owner.owns(labels):
            return False
        if self._named is None or (ws, name) in self._named:
            return True
        return handshake is not None and (labels.get(LABEL_WORKSPACE), labels.get(LABEL_HANDSHAKE)) == (ws, handshake)

    def doomed(self) -> list[str]:
        """The Secrets `prune` would delete, as `namespace/name`."""
        return [f"{ws}/{name}" for ws, name, _labels in self._doomed]

    def prune(self) -> list[str]:
        """Delete the Secrets `plan_prune` found, each only if it still carries the labels it had
        and (publish) was not written from a newer source since: `kept` says which were left."""
        from ..errors import StaleSource, UnorderedSource

        removed = []
        for ws, name, labels in self._doomed:
            present, absent = owner_of(labels)
            try:
                if self._client().delete_owned(ws, name, present, absent=absent, check=self._check_order(ws, name)):
                    removed.append(f"{ws}/{name}")
            except (StaleSource, UnorderedSource):
                self.kept.append(f"{ws}/{name}")
            except OtherBranch as e:  # written for another branch since plan_prune listed it
                self.other_branches.append(_kept_for_branch(f"{ws}/{name}", e.branch, self.owner))
        self._doomed = []
        return removed


class OtherBranch(UserError):
    """A management Secret of this identity written for another output branch: left as it is."""

    def __init__(self, message: str, branch: str) -> None:
        super().__init__(message)
        self.branch = branch


def _kept_for_branch(secret: str, theirs: str, owner: Ownership) -> str:
    return (f"kept Secret {secret} on the management cluster: it was written for output branch {theirs}, not"
            f" {owner.branch}, whose bundles may still name it (both branches have the source identity"
            f" {owner.source}); give each branch its own `source:` in .fleet-handshake.yaml")  # fmt: skip


def _removed_secret_workspaces(old: Mapping[str, bytes]) -> set[str]:
    """The workspaces of the management Secrets OUT's status.json lists as removed."""
    removed = (output.read_status(old.get(output.STATUS_FILE)) or {}).get("removed")
    namespaces = (row.get("namespace") for row in output.status_rows(removed) if row.get("kind") == "Secret")
    return {ns for ns in namespaces if isinstance(ns, str) and dns1123_label_problem(ns) is None}


def _named_secrets(old: Mapping[str, bytes], owned: Mapping[tuple[str, str], set[str]]) -> frozenset[tuple[str, str]]:
    """(workspace, Secret name) of every Secret the bundle folders `owned` have Fleet copy."""
    import yaml

    from ..core.yaml import reader
    from ..modes.downstream import copied_secrets

    named: set[tuple[str, str]] = set()
    for (ws, _name), dirs in owned.items():
        for directory in dirs:
            try:
                fleet = reader.load(old.get(f"{directory}/fleet.yaml", b""))
            except yaml.YAMLError:  # an unreadable fleet.yaml names nothing
                continue
            if isinstance(fleet, dict):
                named.update((ws, name) for name in copied_secrets(fleet))
    return frozenset(named)


def _another_local_output(ws: str, name: str, labels: Mapping[str, str]) -> str:
    other = f"{labels.get(LABEL_WORKSPACE, '?')}/{labels.get(LABEL_HANDSHAKE, '?')}"
    return (f"Secret {ws}/{name} on the management cluster is delivered by handshake {other} of an output outside"
            f" git (source identity {LOCAL_IDENTITY}) that is not this one, so it was left untouched and this"
            " handshake is not delivered; outputs outside git share that identity: set `source:` in"
            " .fleet-handshake.yaml, or rename the Secret of one of them")  # fmt: skip
