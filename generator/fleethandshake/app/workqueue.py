"""The controller's work queue, as client-go's: a key waits at most once, is handed to one worker
at a time (a key added while it is being worked on is handed out again after `done`), and can be
added after a delay (backoff, resync). KeyLocks: what two handshakes may both write (a downstream
copy's name) is checked and written by one worker at a time."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._ready: deque[K] = deque()
        self._dirty: set[K] = set()  # waiting in _ready, or to be re-added after done()
        self._processing: set[K] = set()
        self._later: list[tuple[float, int, K]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._closed = False

    def add(self, key: K) -> None:
        with self._cond:
            if self._closed or key in self._dirty:
                return
            self._dirty.add(key)
            if key not in self._processing:
                self._ready.append(key)
                self._cond.notify()

    def add_after(self, key: K, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            heapq.heappush(self._later, (time.monotonic() + delay, next(self._order), key))
            self._cond.notify()

    def get(self) -> K | None:
        """The next key to work on (call `done` after), or None once shut down."""
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                while self._later and self._later[0][0] <= now:
                    key = heapq.heappop(self._later)[2]
                    if key not in self._dirty:
                        self._dirty.add(key)
                        if key not in self._processing:
                            self._ready.append(key)
                if self._ready:
                    key = self._ready.popleft()
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key
                self._cond.wait(self._later[0][0] - now if self._later else None)
            return None

    def done(self, key: K) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._ready.append(key)
                self._cond.notify()

    def shutdown(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class KeyLocks(Generic[K]):
    """One lock per key: a read-check-write of an object two workers may both want (a downstream
    copy's name) runs for one of them at a time, so the second reads what the first wrote.
    `waiting`: how many wait for a key held by another (what a test waits on)."""

    def __init__(self) -> None:
        self._locks: dict[K, threading.Lock] = {}
        self._guard = threading.Lock()
        self.waiting = 0

    @contextmanager
    def held(self, key: K) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        if not lock.acquire(blocking=False):
            with self._guard:
                self.waiting += 1
            lock.acquire()
            with self._guard:
                self.waiting -= 1
        try:
            yield
        finally:
            lock.release()
