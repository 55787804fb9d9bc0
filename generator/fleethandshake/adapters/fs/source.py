"""Read the source: every YAML file below the source folder, with the checks that keep a run from
reading outside it, hanging on a pipe, or taking a generated output for source."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ...errors import Problem, UserError
from . import read_fd

SOURCE_SUFFIXES = (".yaml", ".yml")
# What generate writes at OUT's root (core.output.STATUS_FILE): a folder holding it is an output.
OUTPUT_STATE_DIR, OUTPUT_STATUS = ".fleet-handshake", "status.json"
MAX_SOURCE_FILE = 4 * 1024 * 1024


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative to the source root, with '/'
    content: bytes


def read_source(root: Path, exclude: Path | None) -> tuple[list[SourceFile], list[Problem]]:
    """Every YAML file below `root`, skipping hidden entries, the output folder `exclude` and
    any folder holding fleet-handshake's output (see `is_output`)."""
    if not root.is_dir():
        raise UserError(f"source folder not found: {root}")
    root = root.resolve()
    skip = str(exclude.resolve()) if exclude is not None else None
    files: list[SourceFile] = []
    problems: list[Problem] = []
    for full, rel in _walk_files(str(root), skip, problems):
        if rel.endswith(SOURCE_SUFFIXES):
            found = _read_checked(root, rel, Path(full))
            if isinstance(found, Problem):
                problems.append(found)
            else:
                files.append(SourceFile(rel, found))
    return files, problems


LINKED_FOLDER = (
    "is a symbolic link to a folder, which fleet-handshake does not follow: the handshakes behind "
    "it would look removed. Move its files into the source, or start its name with '.' to skip it"
)


def _walk_files(top: str, skip: str | None, problems: list[Problem]) -> Iterator[tuple[str, str]]:
    """(full path, relative path) of every non-hidden file, a folder's files by name and then its
    folders by name, without following links to folders. A folder that cannot be listed, and a
    link to a folder, is a problem in `problems`, never skipped in silence: its handshakes would
    be taken for removed."""

    def unreadable(error: OSError) -> None:
        rel = os.path.relpath(error.filename, top) if error.filename else "."
        problems.append(Problem(f"{rel}/", None, "", f"is a folder that cannot be read ({error.strerror})"))

    for folder, dirs, names in os.walk(top, onerror=unreadable):
        rel = os.path.relpath(folder, top) + "/" if folder != top else ""
        if rel and OUTPUT_STATE_DIR in dirs and is_output(folder):
            dirs.clear()  # generated bundles (clear text in plain mode) are not source
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and os.path.join(folder, d) != skip)
        for linked in [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            dirs.remove(linked)  # never followed; and never skipped in silence either
            problems.append(Problem(f"{rel}{linked}/", None, "", LINKED_FOLDER))
        for name in sorted(names):
            if not name.startswith("."):
                yield f"{folder}/{name}", rel + name


def has_status_file(folder: str | os.PathLike[str]) -> bool:
    """Whether `folder` has a status file where generate writes one at OUT's root (see `is_output`)."""
    return os.path.isfile(os.path.join(folder, OUTPUT_STATE_DIR, OUTPUT_STATUS))


def is_output(folder: str | os.PathLike[str]) -> bool:
    """Whether `folder` holds fleet-handshake's output: a status record generate wrote at its root.
    A status file that is not one (empty, copied from elsewhere in part) does not make a folder of
    the source an output, whose handshakes the walk would then leave out."""
    if not has_status_file(folder):
        return False
    from ...core.output import read_status

    return read_status(output_status(Path(folder))) is not None


MAX_STATUS_FILE = 64 * 1024 * 1024


def output_status(folder: Path) -> bytes | None:
    """The status file at `folder`'s root (see `is_output`), or None when there is none or it cannot
    be read as a regular file (a pipe never hangs the read) of at most MAX_STATUS_FILE bytes."""
    try:
        content = _read_regular_file(folder / OUTPUT_STATE_DIR / OUTPUT_STATUS, MAX_STATUS_FILE)
    except OSError:
        return None
    return content if isinstance(content, bytes) else None


def read_source_file(root: Path, rel: str) -> tuple[bytes | None, Problem | None]:
    """One named file of the source, read with the same checks as the scan (no links out of
    the source, regular files only, the size limit). (None, None) when it does not exist."""
    full = root / rel
    if not os.path.lexists(full):
        return None, None
    found = _read_checked(root.resolve(), rel, full)
    return (None, found) if isinstance(found, Problem) else (found, None)


def _read_checked(root: Path, rel: str, full: Path) -> bytes | Problem:
    """A source file's bytes, or why it is refused: a link to nothing or out of `root` (resolved),
    not a regular file, over the size limit."""
    if full.is_symlink():
        try:
            target = full.resolve(strict=True)
        except (OSError, RuntimeError):  # a loop: RuntimeError before Python 3.13
            return Problem(rel, None, "", "cannot be read: it is a symbolic link to nothing (or a loop)")
        if not target.is_relative_to(root):
            return Problem(rel, None, "", "is a symbolic link that points outside the source; refusing to follow it")
    try:
        content = _read_regular_file(full)
    except OSError as e:
        return Problem(rel, None, "", f"cannot be read ({e.strerror})")
    return Problem(rel, None, "", content) if isinstance(content, str) else content


def _read_regular_file(path: Path | str, limit: int = MAX_SOURCE_FILE) -> bytes | str:
    """The file's bytes, or why it is refused.

    Opened without blocking and checked on the open descriptor: a named pipe (or a device)
    called *.yaml must not hang the run, nor a file that grows after it was measured.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return "is not a regular file (a named pipe, device or socket); refusing to read it"
        content = read_fd(fd, limit + 1)
    finally:
        os.close(fd)
    if info.st_size > limit or len(content) > limit:
        size = max(info.st_size, len(content))
        return f"is {size} bytes, over the {limit} byte limit for source files"
    return content
