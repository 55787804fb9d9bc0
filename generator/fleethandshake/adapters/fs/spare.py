"""The spare tree, `.OUT.fh-spare/tree`: the output tree before last, kept beside OUT as hard links
to OUT's files, in which the next write builds the new tree. What it holds: README.md, "The output".

Why: creating and removing a folder per bundle is most of a one-change write's time on ext4 (the
inode allocator passes over every inode freed in the last minute); keeping only the empty folders
and linking every file again still made the write several times slower.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path

from . import is_real_dir
from .tree import OutputTree

_SPARE = ".fh-spare"
_SPARE_IGNORE = (
    "# fleet-handshake keeps the previous output tree here to make the next write cheap.\n"
    "# Never commit it; safe to delete.\n*\n"
)


def spare_tree(out: Path) -> Path | None:
    """Where the tree before last is kept (a resolved OUT's `.OUT.fh-spare/tree`), or None where
    it cannot be: the folder is made, with its `.gitignore`, when missing."""
    wrapper = _spare_folder(out)
    ignore = wrapper / ".gitignore"
    try:
        if not os.path.lexists(wrapper):
            os.mkdir(wrapper, 0o700)
        if not is_real_dir(wrapper) or os.lstat(wrapper).st_dev != os.lstat(out.parent).st_dev:
            return None  # not ours to touch: write without a spare
        if not os.path.lexists(ignore):
            ignore.write_text(_SPARE_IGNORE)
    except OSError:  # a full disk, say: no spare, and nothing half-made left beside OUT
        with contextlib.suppress(OSError):
            if ignore.read_text() != _SPARE_IGNORE:
                ignore.unlink()
        with contextlib.suppress(OSError):
            wrapper.rmdir()  # only if empty
        return None
    return wrapper / "tree"


def _spare_folder(out: Path) -> Path:
    return out.parent / f".{out.name}{_SPARE}"


def keep_as_spare(staging: Path, spare: Path, new: Mapping[str, bytes], old: Mapping[str, bytes],
                  swapped: bool) -> None:  # fmt: skip
    """Put the staging folder back as the spare tree (the caller repeats it after an interrupt).

    Its files that are not also OUT's are unlinked first, so that no Secret value stays on disk
    outside OUT: after a swap (it holds the old tree) the changed and removed ones; before it
    (a failed or interrupted write) the ones written for the new tree.
    """
    ours, theirs = (old, new) if swapped else (new, old)
    for path, content in ours.items():
        if theirs.get(path) != content:
            with contextlib.suppress(OSError):
                os.unlink(f"{staging}/{path}")
    try:
        os.rename(staging, spare)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)


def reconcile(staging: Path, new: Mapping[str, bytes], old: OutputTree, need_dirs: set[str]) -> set[str]:
    """Make `staging` (a spare tree: any content) hold a subset of `new` and the folders
    `need_dirs`, touching only what differs; returns the files of `new` it holds.

    A file is kept where it is the same inode as OUT's file and that file does not change;
    every other file and every folder not needed is removed, and missing folders are made.
    """
    top = str(staging)
    folder = os.lstat(top)
    have_files, have_dirs = _scan_inodes(top)
    kept = set()
    for path, inode in have_files.items():
        content = new.get(path)
        if (
            content is not None
            and inode is not None
            and old.inodes.get(path) == (folder.st_dev, inode)
            and old.get(path) == content
        ):
            kept.add(path)  # a hard link to OUT's unchanged file: the very file the new tree needs
        else:
            os.unlink(f"{top}/{path}")
    for d in sorted(have_dirs, key=len, reverse=True):  # deepest first
        if d not in need_dirs:
            shutil.rmtree(f"{top}/{d}", ignore_errors=True)
    for d in sorted(need_dirs - set(have_dirs)):
        os.makedirs(f"{top}/{d}", exist_ok=True)
    return kept


def tidy_spare(out: Path, old: OutputTree) -> None:
    """Unlink from the spare tree every file that is not OUT's own (the same inode at the same
    path): a run that writes nothing still leaves no old value beside OUT. Something else than
    fleet-handshake (git checking out another commit, a person) may have replaced or removed
    OUT's files since the spare was kept, which leaves the spare the only link to them: a
    clear-text Secret of a mode since left, say. Call it holding the output lock."""
    spare = _spare_folder(out.resolve()) / "tree"
    try:
        folder = os.lstat(spare)
        if not stat.S_ISDIR(folder.st_mode):
            return
        files = _scan_inodes(str(spare))[0]
    except OSError:
        shutil.rmtree(spare, ignore_errors=True)  # cannot be checked: it goes, and the next write builds anew
        return
    for path, inode in files.items():
        if inode is None or old.inodes.get(path) != (folder.st_dev, inode):
            try:
                os.unlink(f"{spare}/{path}")
            except FileNotFoundError:
                pass
            except OSError:
                shutil.rmtree(spare, ignore_errors=True)
                return


def _scan_inodes(top: str, rel: str = "") -> tuple[dict[str, int | None], list[str]]:
    """Files (with their inode number, from the folder listing itself: no stat per file; None for
    links and other non-regular files) and folders below `top`. A spare file is OUT's when it
    is OUT's inode on the same device: a hard link to it."""
    files: dict[str, int | None] = {}
    dirs: list[str] = []
    with os.scandir(top) as it:
        entries = list(it)
    for entry in entries:
        path = rel + entry.name
        if entry.is_dir(follow_symlinks=False):
            dirs.append(path)
            more_files, more_dirs = _scan_inodes(entry.path, path + "/")
            files |= more_files
            dirs += more_dirs
        else:
            files[path] = entry.inode() if entry.is_file(follow_symlinks=False) else None
    return files, dirs
