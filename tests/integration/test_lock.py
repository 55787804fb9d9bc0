"""One writer per output folder: a second run waits for the lock, and gives up clearly.

The test holds the lock itself (adapters/fs/lock.py `output_lock`, the same function the commands
use) in a thread, starts the real command line in a child process, and checks that the child
writes nothing while the lock is held and completes once it is released.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from fhtest import GIT_ENV, SourceRepo, delivered, handshake, read_tree, run_cli, secret
from fleethandshake.adapters.fs.lock import output_lock
from fleethandshake.errors import UserError

# Seconds the test goes on holding the lock once the run is waiting for it: a run that did not
# wait would have written by then (an unlocked run takes about 0.2 s). A correct run passes
# however long this is.
HELD = 1.5


@contextmanager
def lock_held_in_a_thread(out: Path) -> Iterator[threading.Event]:
    """Hold OUT's lock until the yielded event is set (or the block ends)."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with output_lock(out, timeout=5):
            taken.set()
            release.wait(timeout=60)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert taken.wait(timeout=10), "the test could not take the lock"
        yield release
    finally:
        release.set()
        thread.join(timeout=10)


def two_secrets(repo: SourceRepo, value: str) -> None:
    repo.handshakes(
        "handshakes.yaml",
        handshake("alpha", "alpha-secret", [{"clusterName": "c1"}]),
        handshake("bravo", "bravo-secret", [{"clusterGroup": "edge"}]),
    )
    repo.encrypted("secrets/alpha.yaml", secret("alpha-secret", stringData={"password": value}))
    repo.encrypted("secrets/bravo.yaml", secret("bravo-secret", stringData={"token": value}))


def start(*args: str | Path, env: dict[str, str]) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")} | env
    return subprocess.Popen(
        [sys.executable, "-m", "fleethandshake", *map(str, args)],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def waiting_for_the_lock(proc: subprocess.Popen[str], out: Path) -> bool:
    """Until the run has the folder that holds OUT open (where it takes the lock): True, or False
    if it ends first. What it waits for stays true while the run waits, so it cannot be missed."""
    folder = str(out.parent.resolve())
    while proc.poll() is None:
        with contextlib.suppress(FileNotFoundError):
            for fd in os.listdir(f"/proc/{proc.pid}/fd"):
                with contextlib.suppress(FileNotFoundError):
                    if os.readlink(f"/proc/{proc.pid}/fd/{fd}") == folder:
                        return True
        time.sleep(0.01)
    return False


def staging(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if ".fh-staging-" in p.name)


def test_generate_waits_while_another_run_holds_the_lock(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    out = tmp_path / "work" / "out"
    two_secrets(repo, "lock-old-value")
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    old = read_tree(out)
    two_secrets(repo, "lock-new-value")

    with lock_held_in_a_thread(out) as release:
        proc = start("generate", repo.root, "--out", out, env=key_env)
        assert waiting_for_the_lock(proc, out), proc.communicate()
        time.sleep(HELD)
        waiting = proc.poll() is None
        tree_while_held, staging_while_held = read_tree(out), staging(out)
        release.set()
        _, stderr = proc.communicate(timeout=60)

    assert waiting, f"generate did not wait for the lock: exit {proc.returncode}\n{stderr}"
    assert tree_while_held == old
    assert staging_while_held == []
    assert proc.returncode == 0, stderr
    assert read_tree(out) != old
    assert {"token": "lock-new-value"} in [
        delivered(v.decode()) for p, v in read_tree(out).items() if p.endswith("secret.yaml")
    ]


def test_publish_takes_the_same_lock_as_generate(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]) -> None:
    def git(*args: str) -> str:
        env = dict(os.environ, **GIT_ENV)
        return subprocess.run(["git", *args], cwd=work, env=env, capture_output=True, text=True, check=True).stdout

    work = tmp_path / "output-repo"
    work.mkdir()
    git("init", "--quiet", "--initial-branch=main")
    (work / "README.md").write_text("bundles\n")
    git("add", "README.md")
    git("commit", "--quiet", "-m", "init")
    out = work / "bundles"
    two_secrets(repo, "publish-lock-value")
    env = {**key_env, **GIT_ENV}

    with lock_held_in_a_thread(out) as release:
        proc = start("publish", repo.root, "--out", out, "--no-push", env=env)
        assert waiting_for_the_lock(proc, out), proc.communicate()
        time.sleep(HELD)
        waiting = proc.poll() is None
        commits_while_held, out_while_held = git("rev-list", "--count", "HEAD").strip(), out.exists()
        release.set()
        _, stderr = proc.communicate(timeout=60)

    assert waiting, f"publish did not wait for the lock: exit {proc.returncode}\n{stderr}"
    assert (commits_while_held, out_while_held) == ("1", False)
    assert proc.returncode == 0, stderr
    assert git("rev-list", "--count", "HEAD").strip() == "2"


def test_waiting_for_the_lock_gives_up_clearly_after_its_timeout(tmp_path: Path) -> None:
    """There is no command-line option for the lock timeout (600 s): checked in-process."""
    out = tmp_path / "work" / "out"
    gave_up = r"another fleet-handshake run is writing in .*; gave up after 0\.5 s"
    with output_lock(out):
        start_time = time.monotonic()
        with pytest.raises(UserError, match=gave_up), output_lock(out, timeout=0.5):
            pytest.fail("took a lock that is held")
        waited = time.monotonic() - start_time
    assert 0.5 <= waited < 30  # it gives up at its timeout, not at the default 600 s
    with output_lock(out, timeout=0.5):  # released: free again
        pass


def test_two_concurrent_runs_both_complete_one_after_the_other(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    out = tmp_path / "work" / "out"
    two_secrets(repo, "concurrent-value")
    procs = [start("generate", repo.root, "--out", out, env=key_env) for _ in range(3)]
    results = [p.communicate(timeout=120) for p in procs]

    assert [p.returncode for p in procs] == [0, 0, 0], [e for _, e in results]
    reference = tmp_path / "reference" / "out"
    assert run_cli("generate", repo.root, "--out", reference, env=key_env).code == 0
    assert read_tree(out) == read_tree(reference)
    assert staging(out) == []


def test_an_output_set_aside_by_a_killed_swap_is_put_back_not_removed(tmp_path: Path) -> None:
    """Where the atomic exchange is missing, a swap renames OUT aside, then the new tree in: a run
    killed between the two leaves OUT only as `.OUT.fh-staging-<random>-old`. The next run's
    clean-up of staging folders must put that back, not delete the only copy of the bundles."""
    out = tmp_path / "out"
    aside = tmp_path / ".out.fh-staging-k1ll3d-old"
    (aside / "fleet-default" / "db-0123").mkdir(parents=True)
    (aside / "fleet-default" / "db-0123" / "fleet.yaml").write_text("kept\n")
    unfinished = tmp_path / ".out.fh-staging-k1ll3d"
    unfinished.mkdir()
    with output_lock(out, timeout=1):
        pass
    assert (out / "fleet-default" / "db-0123" / "fleet.yaml").read_text() == "kept\n"
    assert not aside.exists() and not unfinished.exists()


def test_the_clean_up_takes_the_output_name_literally_not_as_a_pattern(tmp_path: Path) -> None:
    """OUT `o[ut]`: its staging folders are found by its own name. As a glob pattern the name also
    matched the staging folders of a neighbour `ou` (and took `ou`'s tree, set aside by a killed
    swap, for its own) and missed its own, leaving a killed run's files beside it."""
    out = tmp_path / "o[ut]"
    own = tmp_path / ".o[ut].fh-staging-k1ll3d"
    (own / "fleet-default").mkdir(parents=True)
    neighbour = tmp_path / ".ou.fh-staging-k1ll3d-old"  # `ou`, set aside by a swap killed halfway
    (neighbour / "fleet-default").mkdir(parents=True)
    with output_lock(out, timeout=1):
        pass
    assert not own.exists()
    assert neighbour.is_dir() and not out.exists()


def test_an_interrupt_during_the_two_rename_swap_waits_until_out_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the atomic exchange is missing, a Ctrl-C arriving between the two renames must not
    end the run with no OUT (a `git add -A` would commit it as deleted): it waits for both."""
    import ctypes
    import signal
    import types

    from fleethandshake.adapters.fs import swap

    out, staging = tmp_path / "out", tmp_path / ".out.fh-staging-abc"
    (out / "old").mkdir(parents=True)
    (staging / "new").mkdir(parents=True)
    monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: types.SimpleNamespace())  # no renameat2
    real_rename = os.rename

    def rename_then_interrupt(src: Any, dst: Any) -> None:
        real_rename(src, dst)
        if Path(src) == out:  # OUT just went aside
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(os, "rename", rename_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        swap._exchange(staging, out)
    assert (out / "new").is_dir()
    assert (staging / "old").is_dir()
