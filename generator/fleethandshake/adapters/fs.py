"""File system: read the source, read the output tree, and swap a new tree in atomically."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import Problem, UserError

SOURCE_SUFFIXES = (".yaml", ".yml")
MAX_SOURCE_FILE = 4 * 1024 * 1024
_STAGING = ".fh-staging-"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
SECRET_FILE_MODE = 0o600
FILE_MODE = 0o644


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative to the source root, with '/'
    content: bytes


def read_source(root: Path, exclude: Path | None) -> tuple[list[SourceFile], list[Problem]]:
    """Every YAML file below `root`, skipping hidden entries and the output folder."""
    if not root.is_dir():
        raise UserError(f"source folder not found: {root}")
    root = root.resolve()
    skip = exclude.resolve() if exclude is not None else None
    files: list[SourceFile] = []
    problems: list[Problem] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (skip is None or here / d != skip))
        for name in sorted(filenames):
            if name.startswith(".") or not name.endswith(SOURCE_SUFFIXES):
                continue
            full = here / name
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                target = full.resolve()
                if not target.is_relative_to(root):
                    problems.append(
                        Problem(
                            rel,
                            None,
                            "",
                            "is a symbolic link that points outside the source; refusing to follow it",
                        )
                    )
                    continue
            try:
                size = full.stat().st_size
                if size > MAX_SOURCE_FILE:
                    problems.append(
                        Problem(
                            rel,
                            None,
                            "",
                            f"is {size} bytes, over the {MAX_SOURCE_FILE} byte limit for source files",
                        )
                    )
                    continue
                files.append(SourceFile(rel, full.read_bytes()))
            except OSError as e:
                problems.append(Problem(rel, None, "", f"cannot be read ({e.strerror})"))
    return files, problems


def read_tree(root: Path) -> dict[str, bytes]:
    """All files below the output folder (none if it does not exist yet)."""
    if not root.exists():
        return {}
    if not root.is_dir():
        raise UserError(f"output path {root} exists and is not a folder")
    tree: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        here = Path(dirpath)
        for name in filenames:
            full = here / name
            if full.is_symlink():
                continue
            tree[full.relative_to(root).as_posix()] = full.read_bytes()
    return tree


@contextlib.contextmanager
def output_lock(out: Path, timeout: float = 600.0) -> Iterator[None]:
    """One writer per output folder at a time. Waits, then fails clearly.

    The lock is taken on the folder that holds OUT (OUT itself is swapped, so its inode does
    not last), which leaves no lock file behind in a user's repository.
    """
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
    # Left behind by a run that was killed; safe to remove while we hold the lock.
    for stale in out.resolve().parent.glob(f".{out.name}{_STAGING}*"):
        shutil.rmtree(stale, ignore_errors=True)


def write_tree(out: Path, new: Mapping[str, bytes], old: Mapping[str, bytes], secret_paths: set[str]) -> None:
    """Build `new` beside `out`, then swap it in with one atomic rename.

    Files that did not change are hard-linked from the old tree, so they keep their inode and
    are not rewritten. A crash at any moment leaves either the old tree or the new one.
    """
    import tempfile  # writing is rarer than reading; keep validate's start-up light

    out = out.resolve()
    if (out / ".git").exists():
        raise UserError(f"{out} is the root of a git work tree; write the bundles to a folder inside it")
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}{_STAGING}", dir=out.parent))
    try:
        for path, content in sorted(new.items()):
            dest = staging / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            if old.get(path) == content and _try_link(out / path, dest):
                continue
            mode = SECRET_FILE_MODE if path in secret_paths else FILE_MODE
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "wb") as f:
                f.write(content)
        if out.exists():
            _exchange(staging, out)
        else:
            os.rename(staging, out)
        _fsync_dir(out.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _try_link(src: Path, dest: Path) -> bool:
    try:
        os.link(src, dest, follow_symlinks=False)
        return True
    except OSError:
        return False


def _exchange(a: Path, b: Path) -> None:
    """Swap two folders atomically (Linux renameat2); two renames where that is missing."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        res = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
        if res == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), str(b))
    aside = a.with_name(a.name + "-old")
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
