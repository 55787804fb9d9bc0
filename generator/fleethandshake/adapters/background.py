"""Run one pure function in a forked child while the parent goes on: a second core for work that
holds the GIL, such as parsing a large Fleet inventory while the source is decrypted and rendered.

The child computes, pickles the result (or the exception) and leaves with `os._exit`, so it runs
no exit handlers and flushes no parent buffers. It never prints. The pickle goes into memory
shared with the parent (an anonymous mapping made before the fork: no file, no name), so a large
result does not wait, 64 KiB at a time, for a busy parent to drain a pipe; the pipe carries its
length (or the pickle itself when the mapping could not be made or is too small). If anything
about the child goes wrong (no fork, the result cannot be pickled, the child dies), the parent
computes the result itself: the answer never depends on the child.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import signal
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
_LIVE: set[int] = set()  # children started and not yet reaped
_FAILED = b"-"  # the child could not send a result: compute it here
_IN_PIPE = b"P"  # the pickle follows in the pipe
_SHARED = b"M"  # the pickle is in the shared mapping; its length follows
_CAPACITY = 256 << 20  # address space only: pages exist once the child writes them


class Background(Generic[T]):
    """`fn(*args)`, started now in a child process; `result()` waits for it. Use as a context manager."""

    def __init__(self, fn: Callable[..., T], *args: object) -> None:
        self._fn, self._args = fn, args
        self._pid: int | None = None
        self._fd: int | None = None
        self._shared: mmap.mmap | None = None
        # fork copies only the calling thread: with other threads running, a lock one of them
        # holds would stay held in the child. Then, and where there is no fork, run inline.
        if hasattr(os, "fork") and threading.active_count() == 1 and (os.cpu_count() or 1) > 1:
            self._start()

    def _start(self) -> None:
        try:
            self._shared = mmap.mmap(-1, _CAPACITY)  # MAP_SHARED | MAP_ANONYMOUS
        except (OSError, ValueError):
            self._shared = None
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
            self._unmap()
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
                try:
                    payload = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
                except Exception:  # cannot cross to the parent: it computes the result itself
                    payload = _FAILED
                if payload != _FAILED and self._shared is not None and len(payload) <= _CAPACITY:
                    self._shared[: len(payload)] = payload
                    payload = _SHARED + str(len(payload)).encode()
                elif payload != _FAILED:
                    payload = _IN_PIPE + payload
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
        shared, self._shared = self._shared, None  # taken first: close() below would unmap it
        try:
            chunks = []
            try:
                while chunk := os.read(self._fd, 1 << 20):
                    chunks.append(chunk)
            finally:
                self.close()
            data = b"".join(chunks)
            try:
                if data[:1] == _SHARED and shared is not None:
                    ok, value = pickle.loads(shared[: int(data[1:])])  # noqa: S301 - our own child's bytes
                elif data[:1] == _IN_PIPE:
                    ok, value = pickle.loads(data[1:])  # noqa: S301 - our own child's bytes, through our pipe
                else:  # nothing sent (the child died), or _FAILED
                    return self._fn(*self._args)
            except Exception:
                return self._fn(*self._args)
        finally:
            if shared is not None:
                shared.close()
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    def _unmap(self) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    def close(self) -> None:
        """Stop and reap the child if it is still running (an error or Ctrl-C in the parent)."""
        self._unmap()
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
