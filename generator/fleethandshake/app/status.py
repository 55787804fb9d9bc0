"""`fleet-handshake status`: did each handshake's Secret reach each cluster? And `publish --wait`.

Reads OUT (as committed at its repository's HEAD) or the source, then Fleet's objects on the
management cluster, and joins them (core/status.py). Reads no Secret.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..core import status as core
from ..core import statusreport
from ..core.models import Status
from ..core.ownership import Ownership
from ..errors import EXIT_NOT_READY, EXIT_OK, UsageError, UserError

if TYPE_CHECKING:
    from ..adapters.fleetapi import FleetReader

DEFAULT_INTERVAL = 5.0


@dataclass(frozen=True)
class Wanted:
    """What Fleet should show: OUT's bundles, at OUT's commit (None: not compared)."""

    expected: tuple[core.Expected, ...]
    owner: Ownership
    workspaces: tuple[str, ...]
    commit: str | None
    not_synced: tuple[core.NotSynced, ...] = ()  # as OUT's status.json records them
    uncommitted: tuple[str, ...] = ()  # bundle folders of OUT's work tree that differ from its commit
    lost: tuple[str, ...] = ()  # bundle folders status.json lists for a Synced handshake that OUT lacks


def from_tree(tree: Mapping[str, bytes], commit: str | None, source: str | None = None) -> Wanted:
    """OUT's bundles as written in `tree`; `source`: the source identity (default: status.json's)."""
    from ..core.bundleview import read_views
    from ..core.output import STATUS_FILE, group_by_bundle, read_status, status_rows

    views = read_views(tree, light=frozenset(group_by_bundle(tree)))  # no Secret value is read
    expected = tuple(core.Expected.from_view(v) for v in views.values())
    recorded: Mapping[str, Any] = read_status(tree.get(STATUS_FILE)) or {}
    handshakes = {(e.workspace, e.handshake) for e in expected}
    not_synced: list[core.NotSynced] = []
    lost: list[str] = []
    present = {f"{e.workspace}/{e.name}" for e in expected}
    for row in status_rows(recorded.get("handshakes")):
        handshakes.add((str(row.get("namespace")), str(row.get("name"))))
        if row.get("status") == Status.SYNCED:  # a folder removed by hand: Fleet removes its Secret
            listed = row.get("bundles")
            lost += [b for b in listed if isinstance(b, str) and b not in present] if isinstance(listed, list) else []
        else:  # its previous bundles kept: not the source's Secret as it is now
            not_synced.append(core.NotSynced(str(row.get("namespace")), str(row.get("name")),
                                             str(row.get("status")), str(row.get("message") or "")))  # fmt: skip
    workspaces = {ws for ws, _ in handshakes}
    for row in status_rows(recorded.get("removed")):  # their Bundles may still be on the cluster
        workspaces.add(str(row.get("handshake", "")).split("/")[0])
    identity = source if source is not None else str(recorded.get("source") or "")
    owner = Ownership(identity, frozenset(handshakes))
    return Wanted(expected, owner, tuple(sorted(workspaces - {""})), commit, tuple(not_synced), lost=tuple(lost))


def from_out(out: Path) -> Wanted:
    """OUT as committed at HEAD of its repository (what a GitRepo can read), and that commit."""
    from ..adapters import git
    from ..adapters.fs.tree import read_tree

    if not out.is_dir():
        raise UserError(f"output folder not found: {out}")
    found = git.committed(out)
    if found is not None:
        wanted = from_tree(found[1], found[0])
        return replace(wanted, uncommitted=core.uncommitted(found[1], read_tree(out)))
    return from_tree(read_tree(out), None)  # not in git: no commit to compare with


def from_source(src: Path) -> Wanted:
    """The bundles generate writes for the source (no decryption); commits are not compared."""
    from ..core.bundles import bundles_for
    from ..modes import modes
    from . import source as source_loader

    loaded = source_loader.load(src, None, records=False)
    expected = []
    for hs in loaded.source.handshakes:
        for b in bundles_for(hs, modes()[hs.mode or loaded.config.mode].name):
            earlier = tuple(_without_skip(t.to_dict()) for t in hs.targets[: b.target_index])
            expected.append(core.Expected(hs.workspace, b.name, hs.name, _without_skip(b.target.to_dict()), earlier,
                                          hs.secret_name, hs.target_namespace))  # fmt: skip
    owned = [(hs.workspace, hs.name) for hs in loaded.source.handshakes]
    workspaces = tuple(sorted({ws for ws, _ in owned}))
    return Wanted(tuple(expected), Ownership(loaded.config.source or "", frozenset(owned)), workspaces, None)


def _without_skip(target: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in target.items() if k != "doNotDeploy"}


def observe(reader: FleetReader, wanted: Wanted) -> core.Report:
    """One look at Fleet: its objects now, joined with what is wanted."""
    from ..core.inventory import parse_inventory
    from .plan import resolver_for

    found = reader.read(wanted.workspaces, core.MANAGED_SELECTOR)
    inventory, _ = parse_inventory(found.clusters, "<Fleet clusters>")  # an object Fleet cannot use matches nothing
    resolve, display = resolver_for(inventory, Path("<Fleet clusters>"))
    live = core.Live(found.bundles, found.deployments, display, resolve)
    return core.report(wanted.expected, live, wanted.commit, wanted.owner, wanted.not_synced, wanted.uncommitted,
                       wanted.lost)  # fmt: skip


def passing(error: Exception) -> bool:
    """A failure that may pass by waiting: no answer (a connection reset, a timeout) or the API
    server failed or throttled (5xx, 429). Forbidden, not found, a bad kubeconfig do not."""
    from ..adapters.kubeclient import KubeConfigError, KubeError

    if not isinstance(error, KubeError) or isinstance(error, KubeConfigError):
        return False
    return error.status is None or error.status >= 500 or error.status == 429


def until_ready(
    look: Callable[[], core.Report],
    timeout: float,
    interval: float = DEFAULT_INTERVAL,
    *,
    progress: Callable[[core.Report, float], None] = lambda report, elapsed: None,
    failed: Callable[[Exception], None] = lambda error: None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> core.Report:
    """Look until everything is Ready at the commit, or `timeout` seconds have gone (at least one
    look); the last report either way. A look that fails in a way that may pass (`passing`) is
    told to `failed` and made again, until the timeout: a failure at the timeout is raised."""
    start = clock()
    while True:
        try:
            report: core.Report | None = look()
        except Exception as e:
            if not passing(e) or clock() - start >= timeout:
                raise
            failed(e)
            report = None
        elapsed = clock() - start
        if report is not None:
            progress(report, elapsed)
            if report.ready or elapsed >= timeout:
                return report
        sleep(max(0.0, min(interval, timeout - elapsed)))


def tell_failures(stream: TextIO) -> Callable[[Exception], None]:
    """A failed look, on `stream` (a line of its own, also on a terminal); the same failure again
    is not repeated."""
    said: list[str] = []

    def tell(error: Exception) -> None:
        if said[-1:] != [str(error)]:
            said.append(str(error))
            below = "\n" if stream.isatty() else ""  # below the progress line
            stream.write(f"{below}fleet-handshake: {error}; looking again until the timeout\n")
            stream.flush()

    return tell


def terminal_progress(stream: TextIO) -> Callable[[core.Report, float], None]:
    """One line, rewritten in place, on a terminal; nothing elsewhere (logs stay clean)."""

    def show(report: core.Report, elapsed: float) -> None:
        if not stream.isatty():
            return
        ready, total = report.counts()
        line = f"waiting for Fleet: {ready}/{total} Ready at {statusreport.short(report.commit)} ({elapsed:.0f} s)"
        stream.write(f"\r{line}\033[K" + ("\n" if report.ready else ""))
        stream.flush()

    return show


def timed_out(report: core.Report, timeout: float) -> str:
    clusters = ", ".join(report.not_ready()) or "none (see the bundles listed above)"
    return f"not Ready after {timeout:g} s at commit {statusreport.short(report.commit)}; not Ready: {clusters}"


def print_report(report: core.Report, fmt: str, stream: TextIO | None = None) -> int:
    (stream or sys.stdout).write(statusreport.RENDER[fmt](report))
    return EXIT_OK if report.ready else EXIT_NOT_READY


def reader(context: str | None, kubeconfig: str | None) -> FleetReader:
    from ..adapters.fleetapi import FleetReader

    return FleetReader(context=context, kubeconfig=kubeconfig)


def run(
    src: Path | None,
    out: Path | None,
    *,
    context: str | None,
    kubeconfig: str | None,
    fmt: str,
    wait: float | None = None,
    wait_interval: float = DEFAULT_INTERVAL,
) -> int:
    if src is not None and out is None:
        wanted = from_source(src)
    elif out is not None and src is None:
        wanted = from_out(out)
    else:
        raise UsageError("status takes SOURCE or --out OUT, one of them")
    fleet = reader(context, kubeconfig)
    if wait is not None and wanted.uncommitted:
        print(f"fleet-handshake: {len(wanted.uncommitted)} bundle folder(s) of OUT are not committed: Fleet cannot"
              " read them, and waiting cannot change that; looked once", file=sys.stderr)  # fmt: skip
        wait = None
    if wait is not None and wanted.lost:
        print(f"fleet-handshake: {len(wanted.lost)} bundle folder(s) its status.json lists are missing from OUT, and"
              " waiting cannot change that; looked once", file=sys.stderr)  # fmt: skip
        wait = None
    if wait is None:
        return print_report(observe(fleet, wanted), fmt)
    return print_waited(watch(fleet, wanted, wait, wait_interval), wait, fmt)


def watch(fleet: FleetReader, wanted: Wanted, timeout: float, interval: float) -> core.Report:
    """Look until Ready or the timeout, with progress on a terminal; the last report."""
    return until_ready(lambda: observe(fleet, wanted), timeout, interval, progress=terminal_progress(sys.stderr),
                       failed=tell_failures(sys.stderr))  # fmt: skip


def print_waited(report: core.Report, timeout: float, fmt: str = "text") -> int:
    """The status after a wait; at the timeout, the clusters not Ready (on stderr) too."""
    code = print_report(report, fmt)
    if code != EXIT_OK:
        print(f"fleet-handshake: {timed_out(report, timeout)}", file=sys.stderr)
    return code
