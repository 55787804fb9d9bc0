"""Read OUT: every file of the output folder, and what a new tree must carry over as it is."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ...errors import UserError
from . import read_fd


class OutputTree(dict[str, bytes]):
    """The regular files of an output folder, by path, and what each was read from: `inodes`, the
    (device, inode) of each, by which the spare tree's hard links to them are known. `entries`
    and `empty`: what is not a regular file (links, special files, files of a nested `.git`;
    path -> inode number) and the empty folders, which a write carries over as they are (see
    `foreign`)."""

    def __init__(self) -> None:
        super().__init__()
        self.inodes: dict[str, tuple[int, int]] = {}
        self.entries: dict[str, int] = {}
        self.empty: list[str] = []


def read_tree(root: Path) -> OutputTree:
    """All files below the output folder (none if it does not exist yet)."""
    if not root.exists():
        return OutputTree()
    if not root.is_dir():
        raise UserError(f"output path {root} exists and is not a folder")
    tree = OutputTree()
    _read_folder(str(root), "", tree)
    return tree


def read_output_file(root: Path, rel: str) -> bytes | None:
    """One regular file of the output folder (as read_tree reads it), or None."""
    try:
        fd = os.open(root / rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return read_fd(fd, 1 << 40) if stat.S_ISREG(os.fstat(fd).st_mode) else None
    finally:
        os.close(fd)


def _read_folder(top: str, rel: str, tree: OutputTree, carried: bool = False) -> None:
    # Plain strings and raw reads: this reads every file of the output on every run.
    with os.scandir(top) as it:
        entries = list(it)
    if not entries and rel:
        tree.empty.append(rel[:-1])
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            _read_folder(entry.path, f"{rel}{entry.name}/", tree, carried or entry.name == ".git")
            continue
        if carried or not entry.is_file(follow_symlinks=False):  # a link (never followed), a pipe, ...
            tree.entries[rel + entry.name] = entry.inode()
            continue
        fd = os.open(entry.path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            tree[rel + entry.name] = read_fd(fd, 1 << 40)
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode):
                tree.inodes[rel + entry.name] = info.st_dev, info.st_ino
        finally:
            os.close(fd)
