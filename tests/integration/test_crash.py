"""Crashes and interrupts: OUT always holds the old tree or the new one, never a mix.

A large run (200 handshakes, 400 bundles) is killed with SIGKILL at moments spread over the whole
run, and at named points of its write: before it, while files are written, just before the swap
and just after it (the run stops itself there, see `_PAUSING_ENTRY`, so the signal lands exactly
there however loaded the machine is). After every kill OUT equals, byte for byte, the tree before
the run or the tree after it, and the next run completes. SIGTERM and SIGINT (Ctrl-C) at those
points end a run with exit 130 and leave no staging folder. The two sources differ in every
value, in 20 removed and 20 added handshakes, so old and new trees differ almost everywhere and a
mix would show.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fhtest import AgeKey, SourceRepo, beside_out, handshake, read_tree, secret, signal_stopped, without_removals

HANDSHAKES = 200
PER_FILE = 5  # Secrets per encrypted file: fewer sops calls to build the sources
STAGING = ".fh-staging-"
# The command line, with one function of adapters/fs/swap.py wrapped so that the run stops itself
# (SIGSTOP) before or after its n-th call in the main process; `name:before|after:n` comes first.
_PAUSING_ENTRY = """
import os, signal, sys
from fleethandshake import cli
from fleethandshake.adapters.fs import swap as fs

name, when, nth = sys.argv.pop(1).split(":")
function, calls, me = getattr(fs, name), [0], os.getpid()

def paused(*args, **kwargs):
    calls[0] += os.getpid() == me
    stop = os.getpid() == me and calls[0] == int(nth)
    if stop and when == "before":
        os.kill(me, signal.SIGSTOP)
    result = function(*args, **kwargs)
    if stop and when == "after":
        os.kill(me, signal.SIGSTOP)
    return result

setattr(fs, name, paused)
cli.entry()
"""
BEFORE_WRITING = "write_tree:before:1"  # holding the lock, everything rendered, nothing written
WRITING = "_place:before:100"  # the staging folder half filled
SWAPPING = "_exchange:before:1"  # the new tree complete beside OUT
AFTER_THE_SWAP = "_exchange:after:1"  # OUT is the new tree; the old one is still beside it


@dataclass(frozen=True)
class Sources:
    old: Path
    new: Path
    env: dict[str, str]
    old_tree: dict[str, bytes]
    new_tree: dict[str, bytes]
    seconds: float  # an unkilled run from the old tree to the new one


def _build_source(repo: SourceRepo, variant: str, indices: range) -> None:
    repo.handshakes(
        "handshakes.yaml",
        *(
            handshake(
                f"hs-{i:03d}",
                f"s-{i:03d}",
                [{"clusterName": f"c{i}"}, {"clusterSelector": {"matchLabels": {"env": "prod", "shard": str(i % 7)}}}],
            )
            for i in indices
        ),
    )
    files: dict[str, list[int]] = {}
    for i in indices:
        files.setdefault(f"secrets/part-{i // PER_FILE:03d}.yaml", []).append(i)

    def encrypt(item: tuple[str, list[int]]) -> None:
        rel, members = item
        docs = [secret(f"s-{i:03d}", stringData={"value": f"crash-{variant}-{i}-Qm7", "n": str(i)}) for i in members]
        repo.encrypted(rel, *docs)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(encrypt, sorted(files.items())))


def _read(out: Path) -> dict[str, bytes]:
    return without_removals(read_tree(out))


def _command(src: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "fleethandshake", "generate", str(src), "--out", str(out), "--quiet"]


def _staging(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}{STAGING}*"))


def _run(src: Path, out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_command(src, out), env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory, age_key: AgeKey) -> Sources:
    root = tmp_path_factory.mktemp("crash")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPS_", "FLEET_HANDSHAKE_"))}
    env["SOPS_AGE_KEY_FILE"] = str(age_key.key_file)
    old, new = SourceRepo(root / "old", age_key), SourceRepo(root / "new", age_key)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda a: _build_source(*a), [(old, "old", range(HANDSHAKES)), (new, "new", range(20, 220))]))
    out = root / "work" / "out"
    assert _run(old.root, out, env).returncode == 0
    old_tree = _read(out)
    start = time.monotonic()  # where the kills spread over a run land; no outcome depends on it
    done = _run(new.root, out, env)
    seconds = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    new_tree = _read(out)
    assert _run(old.root, out, env).returncode == 0
    assert _read(out) == old_tree, "a run is not deterministic: old -> new -> old differs from old"
    return Sources(old.root, new.root, env, old_tree, new_tree, seconds)


def _kill_after(src: Path, out: Path, env: dict[str, str], seconds: float) -> tuple[int, bool]:
    """Start a run, SIGKILL it after `seconds`; its exit code and whether it was writing."""
    proc = subprocess.Popen(_command(src, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(seconds)
        writing = bool(_staging(out)) and proc.poll() is None
        proc.kill()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, writing


def _signal_at(point: str, src: Path, out: Path, env: dict[str, str], sig: int) -> tuple[int, bool, str]:
    """Start a run that stops itself at `point`, send `sig` and let it go on: its exit code,
    whether it was writing (a staging folder beside OUT) when stopped, and its stderr."""
    argv = [sys.executable, "-c", _PAUSING_ENTRY, point, *_command(src, out)[3:]]
    return signal_stopped(argv, env, sig, point, lambda: bool(_staging(out)))


def test_sigkill_at_any_moment_leaves_the_old_tree_or_the_new_one(sources: Sources, tmp_path: Path) -> None:
    out = tmp_path / "work" / "out"
    trees = {"old": sources.old_tree, "new": sources.new_tree}
    srcs = {"old": sources.old, "new": sources.new}
    current: str | None = None  # OUT does not exist yet: the first kills interrupt its creation
    outcomes = []
    for fraction in (0.05, 0.3, 0.6, 0.9, 1.05):  # wherever they land: no assertion counts them
        target = "old" if current != "old" else "new"
        code, writing = _kill_after(srcs[target], out, sources.env, sources.seconds * fraction)
        tree = _read(out)
        before = {} if current is None else trees[current]
        old_or_new = tree in (before, trees[target])  # a bool: no dump of two whole trees on failure
        assert old_or_new, (
            f"after a kill ({'writing' if writing else 'not writing'}) OUT is neither the old tree nor the new one: "
            f"{len(set(tree) ^ set(trees[target]))} paths differ from the new tree"
        )
        current = target if tree == trees[target] else current
        outcomes.append((code, writing))
    print(f"run {sources.seconds:.2f} s, kills {outcomes}")
    if current is None:
        current = "old"
        assert _run(srcs[current], out, sources.env).returncode == 0
    # At the points where a swap that is not atomic would show a half-written, half-removed or
    # missing tree: before the swap OUT is exactly the old tree, after it exactly the new one.
    for point, swapped in ((BEFORE_WRITING, False), (WRITING, False), (SWAPPING, False), (AFTER_THE_SWAP, True)):
        target = "old" if current != "old" else "new"
        code, writing, stderr = _signal_at(point, srcs[target], out, sources.env, signal.SIGKILL)
        assert code == -signal.SIGKILL, stderr
        assert writing == (point != BEFORE_WRITING)
        expected = target if swapped else current
        as_expected = _read(out) == trees[expected]  # a bool: no dump of two whole trees on failure
        assert as_expected, f"after a kill at {point} OUT is not the {expected} tree"
        current = expected
    # The next run completes, and removes what the killed ones left beside OUT.
    final = "new" if current == "old" else "old"
    done = _run(srcs[final], out, sources.env)
    assert done.returncode == 0, done.stderr
    assert _read(out) == trees[final]
    assert _staging(out) == []
    assert beside_out(out) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize(
    ("phase", "point"),
    [("before-writing", BEFORE_WRITING), ("writing", WRITING), ("after-the-swap", AFTER_THE_SWAP)],
    ids=["before-writing", "writing", "after-the-swap"],
)
def test_sigterm_and_ctrl_c_exit_130_and_clean_up(
    sources: Sources, tmp_path: Path, sig: int, phase: str, point: str
) -> None:
    out = tmp_path / "work" / "out"
    assert _run(sources.old, out, sources.env).returncode == 0

    code, writing, stderr = _signal_at(point, sources.new, out, sources.env, sig)

    assert code == 130, stderr
    assert writing == (phase != "before-writing")
    # After the swap only the old tree is left to put aside as the spare: the new tree stays.
    as_expected = _read(out) == (sources.new_tree if phase == "after-the-swap" else sources.old_tree)
    assert as_expected, f"OUT is not the {'new' if phase == 'after-the-swap' else 'old'} tree"
    assert _staging(out) == []
    assert beside_out(out) == []  # the spare tree, if any, holds only OUT's own files


@pytest.mark.parametrize("spare", [False, True], ids=["first-write", "with-spare"])
def test_a_signal_the_moment_the_staging_folder_exists_leaves_none_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spare: bool
) -> None:
    """SIGTERM delivered right as the staging folder is made (the earliest moment the test above
    can hit while writing) is raised only inside the block that removes that folder again."""
    from fleethandshake.adapters.fs import swap, tree

    out = tmp_path / "out"
    swap.write_tree(out, {"ws/a/fleet.yaml": b"a: 1\n"}, tree.read_tree(out), set())
    if spare:
        swap.write_tree(out, {"ws/a/fleet.yaml": b"a: 2\n"}, tree.read_tree(out), set())
    before = read_tree(out)
    made = tempfile.mkdtemp

    def signalled(*args: Any, **kwargs: Any) -> str:
        path = made(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)  # its handler raises at the next instruction it can
        return path

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # what the CLI's SIGTERM handler does

    monkeypatch.setattr(swap.tempfile, "mkdtemp", signalled)
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            swap.write_tree(out, {"ws/b/fleet.yaml": b"b: 1\n"}, tree.read_tree(out), set())
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert read_tree(out) == before
    assert _staging(out) == []
    assert beside_out(out) == []
