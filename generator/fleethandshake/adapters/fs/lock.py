"""One run at a time writes an output folder."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from ...errors import UserError
from ..settings import env_seconds

LOCK_TIMEOUT_VARIABLE = "FLEET_HANDSHAKE_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 600.0
STAGING = ".fh-staging-"  # `.OUT.fh-staging-<random>`: where swap builds a new tree
ASIDE = "-old"  # `.OUT.fh-staging-<random>-old`: OUT itself, while a swap falls back to two renames


@contextlib.contextmanager
def output_lock(out: Path, timeout: float | None = None) -> Iterator[None]:
    """One writer per output folder at a time. Waits, then fails clearly. Holding it, removes the
    staging folders a killed run left beside OUT.

    The lock is taken on the folder that holds OUT (OUT itself is swapped, so its inode does
    not last), which leaves no lock file behind in a user's repository.
    """
    if timeout is None:
        timeout = env_seconds(LOCK_TIMEOUT_VARIABLE, DEFAULT_LOCK_TIMEOUT)
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise UserError(
                        f"another fleet-handshake run is writing in {parent}; gave up after {timeout:g} s"
                    ) from None
                time.sleep(0.1)
        _remove_stale_staging(out)
        yield
    finally:
        os.close(fd)


def _remove_stale_staging(out: Path) -> None:
    """Staging folders left behind by a killed run; safe to remove while we hold the lock.

    Not kept as the spare tree: one may hold files written for a tree that never became OUT.
    The one exception is OUT itself, set aside by a swap that was killed halfway.
    Named after the folder OUT resolves to, as `swap.write_tree` names them: OUT may be a link.
    """
    real = out.resolve()
    for stale in real.parent.glob(f".{glob.escape(real.name)}{STAGING}*"):  # the name, not a pattern
        if stale.name.endswith(ASIDE) and not os.path.lexists(real):
            os.rename(stale, real)  # a run killed between a swap's two renames: OUT, put back
            continue
        shutil.rmtree(stale, ignore_errors=True)
