"""What fleet-handshake did not write in OUT, carried into every new tree as it was.

Regular files travel in the tree itself, as bytes (and are hard-linked, so they keep their inode
and mode). What cannot travel as bytes is carried here: symbolic links (as links: never followed,
so nothing outside OUT is read or written), special files, nested `.git` folders, empty folders,
and the permissions of folders that hold nothing of fleet-handshake's. Only a path that
fleet-handshake's own files need (a bundle folder replaced by a link, say) is taken back.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ...core.output import is_own_path


@dataclass(frozen=True)
class Carry:
    entries: tuple[str, ...]  # OUT's entries to hard-link into the new tree as they are
    folders: frozenset[str]  # folders the new tree needs for them and for kept empty folders
    foreign_folders: tuple[str, ...]  # folders with nothing of fleet-handshake's: they keep OUT's mode


def with_parents(paths: Iterable[str]) -> set[str]:
    """Every folder holding one of `paths` (files), up to OUT's root (excluded)."""
    out: set[str] = set()
    for path in paths:
        folder = path.rpartition("/")[0]
        while folder and folder not in out:
            out.add(folder)
            folder = folder.rpartition("/")[0]
    return out


def plan(new: Mapping[str, bytes], entries: Mapping[str, int], empty: Iterable[str]) -> Carry:
    """What to carry from OUT (its `entries` that are not regular files, and its `empty` folders)
    into the tree `new`: all of it, except where `new` needs the path for a file or a folder."""
    new_folders = with_parents(new)

    def free(path: str) -> bool:
        return path not in new and path not in new_folders and not (with_parents([path]) & new.keys())

    kept = tuple(sorted(p for p in entries if free(p)))
    kept_empty = [p for p in empty if free(p)]
    folders = with_parents(kept) | with_parents(kept_empty) | set(kept_empty)
    own = with_parents(p for p in new if is_own_path(p))
    foreign = folders | with_parents(p for p in new if not is_own_path(p))
    return Carry(kept, frozenset(folders), tuple(sorted(foreign - own)))


def place(top: str, src: str, carry: Carry) -> None:
    """Link the carried entries from OUT (`src`) into the new tree (`top`), whose folders exist, and
    give the foreign folders OUT's permissions. An entry that cannot be carried fails the write:
    OUT is then left as it was, with it."""
    for path in carry.entries:
        dest = f"{top}/{path}"
        try:
            os.link(f"{src}/{path}", dest, follow_symlinks=False)  # the link itself, not its target
        except OSError:
            target = os.readlink(f"{src}/{path}")  # raises for anything but a symbolic link
            os.symlink(target, dest)
    for folder in carry.foreign_folders:
        try:
            mode = stat.S_IMODE(os.lstat(f"{src}/{folder}").st_mode)
        except FileNotFoundError:
            continue  # a folder OUT does not have yet: made as any other
        os.chmod(f"{top}/{folder}", mode)
