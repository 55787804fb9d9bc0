"""adapters.background: a result computed in a forked child is the result computed inline."""

from __future__ import annotations

import os
import select
import threading
from pathlib import Path

import pytest

from fleethandshake.adapters.background import Background
from fleethandshake.errors import InvalidInputs, Problem


def child_pid() -> int:
    return os.getpid()


def square(x: int) -> int:
    return x * x


def invalid(name: str) -> None:
    raise InvalidInputs([Problem(name, 3, "items[0]", "is not a Cluster", 7)])


def unpicklable() -> object:
    return lambda: 1  # a lambda cannot be pickled: the parent computes it


def test_the_work_runs_in_another_process_and_returns_its_result() -> None:
    with Background(child_pid) as job:
        assert job.result() != os.getpid()
    with Background(square, 12) as job:
        assert job.result() == 144


def test_an_exception_in_the_child_is_raised_in_the_parent_with_its_problems() -> None:
    with Background(invalid, "inv.yaml") as job, pytest.raises(InvalidInputs) as raised:
        job.result()
    [problem] = raised.value.problems
    assert (problem.file, problem.message, problem.line) == ("inv.yaml", "is not a Cluster", 7)


def large(size: int) -> tuple[int, bytes]:
    return os.getpid(), bytes(range(256)) * (size // 256)


def test_a_result_larger_than_the_pipe_holds_crosses_whole() -> None:
    with Background(large, 8 << 20) as job:
        pid, data = job.result()
    assert pid != os.getpid()  # from the child, not computed again here
    assert data == large(8 << 20)[1]


def test_a_result_that_cannot_cross_the_pipe_is_computed_here() -> None:
    with Background(unpicklable) as job:
        assert job.result()() == 1


def test_with_other_threads_running_it_runs_inline() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        with Background(child_pid) as job:
            assert job.result() == os.getpid()
    finally:
        stop.set()
        thread.join()


def test_close_stops_a_child_that_is_still_working(tmp_path: Path) -> None:
    marker = tmp_path / "finished"
    read, write = os.pipe()
    try:
        job = Background(_wait_then_touch, read, str(marker))
        pid = job._pid
        assert pid is not None
        job.close()
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped: stopped, no zombie left behind
        assert not marker.exists()
    finally:
        os.close(read)
        os.close(write)


def _wait_then_touch(fd: int, path: str) -> None:
    select.select([fd], [], [], 60)  # nothing is ever written: only being stopped ends this early
    Path(path).touch()


def test_stop_all_reaps_a_child_that_was_never_entered() -> None:
    """An interrupt can come between starting a child and its `with` block: stop_all still ends it."""
    import time

    from fleethandshake.adapters import background

    child = background.Background(time.sleep, 30)
    pid = child._pid
    if pid is None:
        pytest.skip("no fork here (threads running, or one CPU)")
    assert pid in background._LIVE
    background.stop_all()
    assert pid not in background._LIVE
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped
