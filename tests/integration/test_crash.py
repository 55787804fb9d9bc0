"""Crashes and interrupts: OUT always holds the old tree or the new one, never a mix.

A large run (200 handshakes, 400 bundles) is killed with SIGKILL at many moments: spread over
the whole run, and inside the write phase (once the staging folder beside OUT appears). After
every kill OUT equals, byte for byte, the tree before the run or the tree after it, and the next
run completes. SIGTERM and SIGINT (Ctrl-C) end a run with exit 130 and leave no staging folder.
The two sources differ in every value, in 20 removed and 20 added handshakes, so old and new
trees differ almost everywhere and a mix would show.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from fhtest import AgeKey, SourceRepo, beside_out, handshake, read_tree, secret, without_removals

HANDSHAKES = 200
PER_FILE = 5  # Secrets per encrypted file: fewer sops calls to build the sources
STAGING = ".fh-staging-"


@dataclass(frozen=True)
class Sources:
    old: Path
    new: Path
    env: dict[str, str]
    old_tree: dict[str, bytes]
    new_tree: dict[str, bytes]
    seconds: float  # an unkilled run from the old tree to the new one
    write_seconds: float  # from the staging folder's appearance to the end of that run


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
    # Calibrate: time an unkilled run, and when its write phase starts.
    proc = subprocess.Popen(_command(new.root, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    start, staged = time.monotonic(), None
    while proc.poll() is None:
        if staged is None and _staging(out):
            staged = time.monotonic()
        time.sleep(0.0005)
    end = time.monotonic()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    new_tree = _read(out)
    assert _run(old.root, out, env).returncode == 0
    assert _read(out) == old_tree, "a run is not deterministic: old -> new -> old differs from old"
    assert staged is not None, "the staging folder was never seen"
    return Sources(old.root, new.root, env, old_tree, new_tree, end - start, end - staged)


def _kill_at(src: Path, out: Path, env: dict[str, str], when: Callable[[], None], sig: int) -> tuple[int, bool]:
    """Start a run, wait for `when`, send `sig`; its exit code and whether it was writing."""
    proc = subprocess.Popen(_command(src, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        when()
        writing = bool(_staging(out)) and proc.poll() is None
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, writing


def _after(seconds: float) -> Callable[[], None]:
    return lambda: time.sleep(seconds)


def _in_write_phase(out: Path, extra: float) -> Callable[[], None]:
    def wait() -> None:
        deadline = time.monotonic() + 60
        while not _staging(out) and time.monotonic() < deadline:
            time.sleep(0.0002)
        time.sleep(extra)

    return wait


def _at_the_swap(out: Path, extra: float) -> Callable[[], None]:
    """Until OUT starts to change: another folder swapped in, or entries of the old one going."""

    def probe() -> tuple[int, int]:
        try:
            return out.stat().st_ino, len(os.listdir(out / "fleet-default"))
        except FileNotFoundError:
            return -1, -1

    def wait() -> None:
        first = probe()
        deadline = time.monotonic() + 60
        while probe() == first and time.monotonic() < deadline:
            time.sleep(0.0001)
        time.sleep(extra)

    return wait


def _after_the_swap(out: Path) -> Callable[[], None]:
    """Until OUT is the new tree, while the staging folder (now the old tree) is put aside."""

    def wait() -> None:
        deadline = time.monotonic() + 60
        staging: int | None = None
        while time.monotonic() < deadline:
            try:
                if staging is None:
                    found = _staging(out)
                    staging = found[0].stat().st_ino if found else None
                elif out.stat().st_ino == staging:
                    return
            except FileNotFoundError:
                pass
            time.sleep(0.0002)
        pytest.fail("never saw the new tree swapped in")

    return wait


def _holding_the_lock(out: Path) -> Callable[[], None]:
    """Until the run holds OUT's lock: past start-up (its signal handlers are set), not yet writing.

    Read from /proc/locks, so that the test does not take the lock itself and disturb the run.
    """
    inode = out.parent.stat().st_ino

    def wait() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for line in Path("/proc/locks").read_text().splitlines():
                fields = line.split()
                if "FLOCK" in fields and any(f.endswith(f":{inode}") for f in fields):
                    return
            time.sleep(0.001)
        pytest.fail("the run never took the lock")

    return wait


def test_sigkill_at_any_moment_leaves_the_old_tree_or_the_new_one(sources: Sources, tmp_path: Path) -> None:
    rng = random.Random(20261129)
    out = tmp_path / "work" / "out"
    trees = {"old": sources.old_tree, "new": sources.new_tree}
    srcs = {"old": sources.old, "new": sources.new}
    # Kills anywhere in the run, inside its write phase (which is short), and at the very moment
    # OUT changes, where a swap that is not atomic would show a half-removed or missing tree.
    moments = [_after(sources.seconds * f) for f in (0.05, 0.3, 0.6, 0.9, 1.05)]
    moments += [_in_write_phase(out, sources.write_seconds * f) for f in (0.0, 0.3, 0.6)]
    moments += [_at_the_swap(out, extra) for extra in (0.0, 0.0, 0.002, 0.005)]
    rng.shuffle(moments)
    current: str | None = None  # OUT does not exist yet: the first kills interrupt its creation
    outcomes = []
    for moment in moments:
        target = "old" if current != "old" else "new"
        code, writing = _kill_at(srcs[target], out, sources.env, moment, signal.SIGKILL)
        tree = _read(out)
        before = {} if current is None else trees[current]
        old_or_new = tree in (before, trees[target])  # a bool: no dump of two whole trees on failure
        assert old_or_new, (
            f"after a kill ({'writing' if writing else 'not writing'}) OUT is neither the old tree nor the new one: "
            f"{len(set(tree) ^ set(trees[target]))} paths differ from the new tree"
        )
        current = target if tree == trees[target] else current
        outcomes.append((code, writing))
    print(f"run {sources.seconds:.2f} s, write phase {sources.write_seconds:.3f} s, kills {outcomes}")
    killed = [w for code, w in outcomes if code == -signal.SIGKILL]
    assert len(killed) >= 8, outcomes
    assert sum(killed) >= 3, f"too few kills landed in the write phase: {outcomes}"
    # The next run completes, and removes what the killed ones left beside OUT.
    final = "new" if current == "old" else "old"
    done = _run(srcs[final], out, sources.env)
    assert done.returncode == 0, done.stderr
    assert _read(out) == trees[final]
    assert _staging(out) == []
    assert beside_out(out) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("phase", ["before-writing", "writing", "after-the-swap"])
def test_sigterm_and_ctrl_c_exit_130_and_clean_up(sources: Sources, tmp_path: Path, sig: int, phase: str) -> None:
    out = tmp_path / "work" / "out"
    assert _run(sources.old, out, sources.env).returncode == 0
    moment = {
        "before-writing": _holding_the_lock(out),
        "writing": _in_write_phase(out, 0.0),
        "after-the-swap": _after_the_swap(out),
    }[phase]

    code, writing = _kill_at(sources.new, out, sources.env, moment, sig)

    # After the swap only the old tree is put aside as the spare (a few renames and unlinks):
    # a signal may come when the run has already finished, with the new tree in place.
    finished = phase == "after-the-swap" and code == 0 and _read(out) == sources.new_tree
    assert code == 130 or finished, code
    assert writing == (phase != "before-writing") or finished
    assert _read(out) in (sources.old_tree, sources.new_tree)
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
    swap.write_tree(out, {"ws/a/fleet.yaml": b"a: 1\n"}, {}, set())
    if spare:
        swap.write_tree(out, {"ws/a/fleet.yaml": b"a: 2\n"}, tree.read_tree(out), set())
    before = read_tree(out)
    made = swap._mkdtemp

    def signalled(parent: Path, prefix: str) -> Path:
        path = made(parent, prefix)
        os.kill(os.getpid(), signal.SIGTERM)  # its handler raises at the next instruction it can
        return path

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # what the CLI's SIGTERM handler does

    monkeypatch.setattr(swap, "_mkdtemp", signalled)
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            swap.write_tree(out, {"ws/b/fleet.yaml": b"b: 1\n"}, tree.read_tree(out), set())
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert read_tree(out) == before
    assert _staging(out) == []
    assert beside_out(out) == []
