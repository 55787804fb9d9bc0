"""`fleet-handshake publish`: generate, commit, push; on a lost race, regenerate on top and retry."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..adapters import git as gitx
from ..adapters.fs.lock import output_lock
from ..adapters.fs.tree import read_tree
from ..adapters.sops import age
from ..core import giturl, output, plan, provenance, report
from ..core.models import Status
from ..core.ownership import Ownership
from ..core.render import STATE_DIR
from ..errors import EXIT_FAILED, EXIT_OK, StaleSource, UnorderedSource, UsageError, UserError
from . import downstream, generate, ordering, status
from . import source as source_loader
from .build import build

if TYPE_CHECKING:
    from ..adapters.fleetapi import FleetReader
    from ..core.status import Report as StatusReport

DEFAULT_IDENTITY = "fleet-handshake <fleet-handshake@users.noreply.github.com>"
DEFAULT_RETRIES = 5
MAX_LISTED = 50


@dataclass(frozen=True)
class PublishResult:
    commits: tuple[str, ...]  # commits this run created that reached the branch (or were kept locally)
    pushed: bool
    attempts: int
    composition: output.Composition | None
    head: str | None = None  # the branch's commit when publish finished: what Fleet should deploy
    left: tuple[str, ...] = ()  # management Secrets no longer wanted but kept: --no-push, or a newer source's

    def outcome(self) -> str:
        if not self.commits:
            return "nothing to commit: the published bundles are up to date"
        committed = f"committed {', '.join(c[:12] for c in self.commits)}"
        return committed + (" and pushed" if self.pushed else " (not pushed)")

    @property
    def exit_code(self) -> int:
        ok = self.composition is not None and all(c.status is Status.SYNCED for c in self.composition.changes)
        return EXIT_OK if ok else EXIT_FAILED


def commit_message(
    subject: str | None, old: Mapping[str, bytes], comp: output.Composition, source: provenance.Provenance
) -> str:
    """Names what changed, never a value; trailers name the source it was generated from."""
    diffs = [d for d in plan.make_plan(old, comp.tree, comp.changes).bundles if d.change != plan.UNCHANGED]
    handshakes = sorted({f"{d.workspace}/{d.handshake}" for d in diffs})
    title = subject or f"fleet-handshake: update {len(diffs)} bundle(s) of {len(handshakes)} handshake(s)"
    lines = [title, ""]
    lines += [f"{d.change}: {d.path} ({d.workspace}/{d.handshake})" for d in diffs[:MAX_LISTED]]
    if len(diffs) > MAX_LISTED:
        lines.append(f"... and {len(diffs) - MAX_LISTED} more")
    failing = [c for c in comp.changes if c.status is not Status.SYNCED]
    if failing:
        lines += ["", "Not Synced (previous bundles kept):"]
        lines += [f"{c.status.value}: {c.workspace}/{c.name}" for c in failing]
    return "\n".join(lines) + "\n\n" + provenance.trailers(source)


def _check_start(
    ws: gitx.Workspace,
    src: Path,
    loaded: source_loader.LoadedSource,
    sops_binary: str | None,
    mode: str | None,
    identities: age.AgeIdentities,
) -> None:
    outside = ws.dirty(inside=False)
    if outside:
        raise UserError(f"the work tree has uncommitted changes outside {ws.rel} ({', '.join(outside[:5])}); "
                        "commit or stash them first")  # fmt: skip
    dirty = ws.dirty(inside=True)
    if not dirty:
        return
    # Changes in OUT are fine only if they are exactly what generate would write now.
    current = read_tree(ws.out)
    comp = build(
        src, current, sops_binary=sops_binary, say=lambda _: None, loaded=loaded, mode=mode, identities=identities
    ).composition
    owner = Ownership(loaded.identity, frozenset((h.workspace, h.name) for h in loaded.source.handshakes))
    managed = set().union(*output.owned_bundles(current, owner).values(),
                          *output.owned_bundles(comp.tree, owner).values())  # fmt: skip

    def ours(path: str) -> bool:
        rel = path[len(ws.rel) + 1 :]
        in_managed = rel.startswith(STATE_DIR + "/") or output.bundle_dir(rel) in managed
        return in_managed and current.get(rel) == comp.tree.get(rel)

    foreign = [p for p in dirty if not ours(p)]
    if foreign:
        raise UserError(f"{ws.rel} has changes fleet-handshake did not write ({', '.join(foreign[:5])}); "
                        "commit or discard them first")  # fmt: skip


def publish(
    src: Path,
    out: Path,
    *,
    branch: str | None = None,
    remote: str | None = "origin",
    message: str | None = None,
    author: str | None = None,
    committer: str | None = None,
    retries: int = DEFAULT_RETRIES,
    sops_binary: str | None = None,
    say: Callable[[str], None] = print,
    before_push: Callable[[], None] | None = None,
    mode: str | None = None,
    context: str | None = None,
    kubeconfig: str | None = None,
    allow_removals: bool = False,
    allow_unordered: bool = False,
) -> PublishResult:
    """`author` and `committer` as 'NAME <EMAIL>'; `context` and `kubeconfig` for downstream mode."""
    author_id = gitx.Identity.parse(author or os.environ.get("FLEET_HANDSHAKE_AUTHOR", DEFAULT_IDENTITY))
    committer_id = gitx.Identity.parse(committer) if committer else author_id
    kube = downstream.KubeOptions(context=context, kubeconfig=kubeconfig)
    generate.check_paths(src, out)
    problem = None if branch is None else giturl.branch_problem(branch)
    if problem is not None:  # else git fails on it half-way (`checkout --orphan -f`), or fetches nothing
        raise UsageError(f"--branch {branch!r} {problem}: give the branch to publish to")
    with gitx.workspace(out, branch, remote) as ws:
        loaded = source_loader.load(src, ws.out)
        identities = age.load_identities(os.environ)  # once per run: a SOPS_AGE_KEY_CMD runs once
        _check_start(ws, src, loaded, sops_binary, mode, identities)
        guard = ordering.Guard(src, out, ws, loaded, allow_unordered=allow_unordered, say=say)
        pending: tuple[str, str | None] | None = None  # our commit not yet on the remote, and its parent
        comp: output.Composition | None = None
        sync: downstream.Sync | None = None  # the last attempt's: what it created is this run's
        for attempt in range(1, retries + 2):
            remote_head = ws.fetch()
            refusal = guard.check(remote_head)  # before committing, and again after every lost race
            if refusal is not None:
                if sync is not None:  # an earlier attempt's Secrets: no pushed output names them
                    _withdraw(sync, say)
                _drop(ws, pending, remote_head)
                raise refusal
            head = ws.head()
            if remote_head is not None and remote_head != head:
                if head is None or ws.is_ancestor(head, remote_head):
                    ws.move_to(remote_head)  # a fast-forward: nothing local is lost
                elif (
                    pending is not None
                    and head == pending[0]
                    and (pending[1] is None or ws.is_ancestor(pending[1], remote_head))
                ):
                    ws.move_to(remote_head)  # drop only our own commit, which never reached the remote
                else:
                    raise UserError(f"branch {ws.branch} has commits that {remote}/{ws.branch} does not have; "
                                    "push or drop them first (publish never rewrites history)")  # fmt: skip
                pending = None
                # The source may live in this work tree too: read it again at the new commit.
                loaded = source_loader.load(src, ws.out)
            with output_lock(ws.out):
                old = read_tree(ws.out)
                sync = downstream.Sync(old, kube, loaded, guard, sync.created if sync is not None else (), ws.branch)
                result = build(src, old, sops_binary=sops_binary, say=say, loaded=loaded, mode=mode,
                               reuse_downstream=False, claim=sync.claim, identities=identities)  # fmt: skip
                generate.guard_removals(old, result.composition, allow_removals)
                _check_committable(ws, result.composition, pending, remote_head)
                try:
                    sync.apply(result)  # Secrets first: the bundles that reference them are about to be pushed
                    _check_created(sync, guard, ws)
                except (StaleSource, UnorderedSource, downstream.OtherBranch):  # see Guard.check_secret, Sync.claim
                    _withdraw(sync, say)
                    _drop(ws, pending, remote_head)
                    raise
                comp = sync.plan_prune(result, old)  # the Secrets to delete, listed in status.json
                generate.write(ws.out, comp, old)
            parent = ws.head()
            committed = ws.commit(commit_message(message, old, comp, guard.record(loaded)), author_id, committer_id)
            if committed is not None:
                pending = (committed, parent)
            ours = (pending[0],) if pending else ()
            if ws.remote is None or ws.head() is None or ws.head() == remote_head:
                unpushed = ws.remote is None and ws.has_remotes()  # --no-push: Fleet reads what was pushed
                left = _leave_unpushed(sync, say) if unpushed else _prune(sync, say)
                return PublishResult(ours, False, attempt, comp, ws.head(), left)
            if before_push is not None:
                before_push()
            try:
                ws.push()
            except gitx.PushRejected:
                say(f"push rejected: {remote}/{ws.branch} moved on; regenerating on top (attempt {attempt})")
                continue
            left = _prune(sync, say)  # old Secrets go only once the bundles that no longer need them are published
            return PublishResult(ours, True, attempt, comp, ws.head(), left)
        raise UserError(f"gave up after {retries + 1} attempts: {remote}/{ws.branch} kept moving; "
                        "nothing was pushed, run publish again")  # fmt: skip


def _check_committable(ws: gitx.Workspace, comp: output.Composition, pending: tuple[str, str | None] | None,
                       remote_head: str | None) -> None:  # fmt: skip
    """Refuse, before anything is written, when git would leave out or transform a file of the
    output: Fleet would deploy its bundle without it (no secret.yaml: the Secret is removed from
    the clusters) while this run reported it Synced."""
    refused = ws.not_committed_as_written(comp.tree)
    if not refused:
        return
    _drop(ws, pending, remote_head)
    more = f" and {len(refused) - 5} more" if len(refused) > 5 else ""
    raise UserError(
        f"git would not commit these files of {ws.rel} as fleet-handshake writes them: {', '.join(refused[:5])}{more}. "
        "Fleet reads the commit, so their bundles would reach the clusters without them (a bundle without its "
        f"secret.yaml removes that Secret from its clusters). Nothing was written or pushed: stop ignoring or "
        f"filtering {ws.rel} (for example a line `!{ws.rel}/**` at the end of .gitignore) and publish again"
    )


def _check_created(sync: downstream.Sync, guard: ordering.Guard, ws: gitx.Workspace) -> None:
    """A Secret that did not exist has no record to check (Guard.check_secret): a newer source may
    have removed it since this run fetched, and that source's push precedes its removal. Fetch
    again and refuse (its own new Secrets withdrawn by the caller) if a newer source published."""
    if sync.created and ws.remote is not None:
        refusal = guard.check(ws.fetch())
        if refusal is not None:
            raise refusal


def _withdraw(sync: downstream.Sync, say: Callable[[str], None]) -> None:
    for name in sync.withdraw():
        say(f"deleted Secret {name} on the management cluster again: this run created it and is refused")


def _prune(sync: downstream.Sync, say: Callable[[str], None]) -> tuple[str, ...]:
    sync.prune()
    for line in sync.other_branches:
        say(line)
    for name in sync.kept:
        say(f"kept Secret {name} on the management cluster: it was written from a newer source (or one whose"
            " order cannot be told) since this run listed it; that source's publish deletes it if it is"
            " unwanted")  # fmt: skip
    return tuple(sync.kept)


def _leave_unpushed(sync: downstream.Sync, say: Callable[[str], None]) -> tuple[str, ...]:
    left = tuple(sync.doomed())
    for line in sync.other_branches:
        say(line)
    for name in left:
        say(f"left Secret {name} on the management cluster: the commit is not pushed (--no-push) and the pushed"
            " bundles may still name it; the first publish that finds it pushed deletes it")  # fmt: skip
    return left


def _drop(ws: gitx.Workspace, pending: tuple[str, str | None] | None, remote_head: str | None) -> None:
    """Before a refusal: our own commit never reached the remote, so it goes too."""
    back = (pending[1] or remote_head) if pending is not None else None
    if back is not None:
        ws.move_to(back)


def run(
    src: Path,
    out: Path,
    *,
    quiet: bool,
    wait: float | None = None,
    wait_interval: float = status.DEFAULT_INTERVAL,
    **options: Any,
) -> int:
    """The command: publish() with the command line's options, then what it did; with `wait`
    (seconds), then Fleet's status of the pushed commit once Ready everywhere or at the timeout."""

    def say(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr)

    fleet = None
    if wait is not None:
        if options.get("remote") is None:
            raise UsageError("--wait waits for Fleet to deploy the pushed commit: it cannot be used with --no-push")
        # A kubeconfig that cannot be loaded fails before the push.
        fleet = status.reader(options.get("context"), options.get("kubeconfig"))
    result = publish(src, out, say=say, **options)
    comp = result.composition
    if comp is not None:
        said = [r for r in comp.removed if not (r.kind == "Secret" and r.path in result.left)]
        summary = report.generate_summary(replace(comp, removed=tuple(said)), (), str(out)).rsplit("\n", 1)[0]
        generate.tell(comp, summary, quiet, say)
    say(result.outcome())
    waited = watch_pushed(fleet, result, wait, wait_interval)
    return result.exit_code if waited is None or wait is None else status.print_waited(waited, wait)


def watch_pushed(
    fleet: FleetReader | None, result: PublishResult, wait: float | None, interval: float
) -> StatusReport | None:
    """After the push: Fleet's status of the pushed commit, once Ready
    everywhere or at the `wait` timeout; None when there is nothing to wait for (no --wait, or
    publish did not get that far)."""
    comp = result.composition
    if fleet is None or wait is None or result.exit_code != EXIT_OK or comp is None:
        return None
    return status.watch(fleet, status.from_tree(comp.tree, result.head, comp.source), wait, interval)
