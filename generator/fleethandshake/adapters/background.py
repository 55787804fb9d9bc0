"""Run one pure function in a forked child while the parent goes on: a second core for work that
holds the GIL, such as parsing a large Fleet inventory while the source is decrypted and rendered.

The child computes, pickles the result (or the exception) and leaves with `os._exit`, so it runs
no exit handlers and flushes no parent buffers. It never prints. The pickle goes back through a
pipe (no file, no name). If anything about the child goes wrong (no fork, the result cannot be
pickled, the child dies), the parent computes the result itself: the answer never depends on
the child.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
_LIVE: set[int] = set()  # children started and not yet reaped


class Background(Generic[T]):
    """`fn(*args)`, started now in a child process; `result()` waits for it. Use as a context manager."""

    def __init__(self, fn: Callable[..., T], *args: object) -> None:
        self._fn, self._args = fn, args
        self._pid: int | None = None
        self._fd: int | None = None
        # fork copies only the calling thread: with other threads running, a lock one of them
        # holds would stay held in the child. Then, and where there is no fork, run inline.
        if hasattr(os, "fork") and threading.active_count() == 1 and (os.cpu_count() or 1) > 1:
            self._start()

    def _start(self) -> None:
        read, write = os.pipe()
        # Ctrl-C or SIGTERM between fork() and recording the child would leave it running unseen
        # (still writing files, say): both wait, blocked, until the child is on record.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            os.close(read)
            os.close(write)
            return
        if pid == 0:  # the child
            code = 0
            try:
                os.close(read)
                signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent reports an interrupt
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                outcome: tuple[bool, object]
                try:
                    outcome = (True, self._fn(*self._args))
                except Exception as e:  # sent to the parent, raised there
                    outcome = (False, e)
                # One that cannot be pickled sends nothing: the parent computes the result itself.
                payload = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
                view = memoryview(payload)
                while view:
                    view = view[os.write(write, view) :]
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        _LIVE.add(pid)
        os.close(write)
        self._pid, self._fd = pid, read
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending interrupt is raised here

    def result(self) -> T:
        if self._fd is None:
            return self._fn(*self._args)
        chunks = []
        try:
            while chunk := os.read(self._fd, 1 << 20):
                chunks.append(chunk)
        finally:
            self.close()
        try:  # nothing sent (the child died or its result cannot be pickled), or cut short
            ok, value = pickle.loads(b"".join(chunks))  # noqa: S301 - our own child's bytes, through our pipe
        except Exception:
            return self._fn(*self._args)
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    def close(self) -> None:
        """Stop and reap the child if it is still running (an error or Ctrl-C in the parent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._pid is not None:
            pid, self._pid = self._pid, None
            _stop(pid)

    def __enter__(self) -> Background[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stop(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    _LIVE.discard(pid)


def stop_all() -> None:
    """Stop and reap every child still running: an interrupt can come between starting a child and
    entering its `with` block, and its work (files it writes) must be over before cleaning up."""
    for pid in sorted(_LIVE):
        _stop(pid)
