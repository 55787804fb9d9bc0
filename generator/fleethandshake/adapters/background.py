"""Run one pure function in a forked child while the parent goes on: a second core for work that
holds the GIL, such as parsing a large Fleet inventory while the source is decrypted and rendered.

The child computes, sends the pickled result (or the exception) through a pipe and leaves with
`os._exit`, so it runs no exit handlers and flushes no parent buffers. It never prints. If
anything about the child goes wrong (no fork, the result cannot be pickled, the child dies),
the parent computes the result itself: the answer never depends on the child.
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
_FAILED = b"-"  # the child could not send a result: compute it here


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
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            return
        if pid == 0:  # the child
            code = 0
            try:
                os.close(read)
                signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent reports an interrupt
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                outcome: tuple[bool, object]
                try:
                    outcome = (True, self._fn(*self._args))
                except Exception as e:  # sent to the parent, raised there
                    outcome = (False, e)
                try:
                    payload = pickle.dumps(outcome)
                except Exception:  # cannot cross the pipe: the parent computes it itself
                    payload = _FAILED
                view = memoryview(payload)
                while view:
                    view = view[os.write(write, view) :]
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(write)
        self._pid, self._fd = pid, read

    def result(self) -> T:
        if self._fd is None:
            return self._fn(*self._args)
        chunks = []
        try:
            while chunk := os.read(self._fd, 1 << 20):
                chunks.append(chunk)
        finally:
            self.close()
        data = b"".join(chunks)
        if not data or data == _FAILED:
            return self._fn(*self._args)
        try:
            ok, value = pickle.loads(data)  # noqa: S301 - our own child's bytes, through our own pipe
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
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)

    def __enter__(self) -> Background[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
