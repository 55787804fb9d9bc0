"""The file system, by job: `source` walks the source, `tree` reads OUT, `lock` lets one run at a
time write OUT, `swap` writes a new tree beside OUT and swaps it in, `spare` keeps the tree
before last for the next write, `foreign` carries what fleet-handshake did not write in OUT
into every new tree."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def read_fd(fd: int, limit: int) -> bytes:
    """Up to `limit` bytes from a descriptor: raw reads, without a buffered file object's extra calls."""
    chunks = []
    while limit > 0 and (chunk := os.read(fd, min(limit, 1 << 16))):
        chunks.append(chunk)
        limit -= len(chunk)
    return b"".join(chunks)  # one chunk is returned as it is, not copied


def is_real_dir(path: Path | str) -> bool:
    """A folder, not a link to one."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False
