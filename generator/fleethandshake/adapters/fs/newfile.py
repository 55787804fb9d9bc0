"""Write a new file into the source, atomically and never over an existing one (import).

The bytes go to a hidden temporary file beside the target, which is then hard-linked to the
target's name: the link either creates the complete file or fails because the name is taken, so
a reader never sees half a file, a crash leaves no half-written target, and nothing existing is
replaced, even by another process writing the same name at the same time. What is written here is
a handshake or SOPS ciphertext, never clear text.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILE_MODE = 0o644


def write_new(path: Path, content: bytes) -> bool:
    """Create `path` with `content`; False (and nothing written) when `path` already exists."""
    if os.path.lexists(path):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.fh-tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path, follow_symlinks=False)
        except FileExistsError:
            return False
    finally:
        os.unlink(temporary)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return True
