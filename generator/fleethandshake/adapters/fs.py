"""File system: read the source, read the output tree, and swap a new tree in atomically."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import Problem, UserError

SOURCE_SUFFIXES = (".yaml", ".yml")
# What generate writes at OUT's root (core.output.STATUS_FILE): a folder holding it is an output.
OUTPUT_STATE_DIR, OUTPUT_STATUS = ".fleet-handshake", "status.json"
MAX_SOURCE_FILE = 4 * 1024 * 1024
_STAGING = ".fh-staging-"
_SPARE = ".fh-spare"
_SPARE_IGNORE = (
    "# fleet-handshake keeps the previous output tree here to make the next write cheap.\n"
    "# Never commit it; safe to delete.\n*\n"
)
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
SECRET_FILE_MODE = 0o600
LOCK_TIMEOUT_VARIABLE = "FLEET_HANDSHAKE_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 600.0
FILE_MODE = 0o644


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative to the source root, with '/'
    content: bytes


def _stop_children() -> None:
    """No child (see _populate) may still write into a staging folder while it is cleaned up."""
    if "fleethandshake.adapters.background" in sys.modules:  # else no child was ever started
        from .background import stop_all

        stop_all()


def _mkdtemp(parent: Path, prefix: str) -> Path:
    """tempfile.mkdtemp (a new folder only we can enter, with a random name), without importing tempfile."""
    for _ in range(100):
        path = parent / f"{prefix}{os.urandom(6).hex()}"
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(errno.EEXIST, "no free name for a staging folder", str(parent))


def _rmtree(path: str | os.PathLike[str]) -> None:
    """Remove a folder tree, ignoring errors. shutil is imported here: read-only commands skip it."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def read_source(root: Path, exclude: Path | None) -> tuple[list[SourceFile], list[Problem]]:
    """Every YAML file below `root`, skipping hidden entries, the output folder `exclude` and
    any folder holding fleet-handshake's output (see `is_output`)."""
    if not root.is_dir():
        raise UserError(f"source folder not found: {root}")
    root = root.resolve()
    skip = str(exclude.resolve()) if exclude is not None else None
    files: list[SourceFile] = []
    problems: list[Problem] = []
    for full, rel, is_link in _walk_files(str(root), skip):
        if not rel.endswith(SOURCE_SUFFIXES):
            continue
        if is_link:
            try:
                target = Path(full).resolve()
            except (OSError, RuntimeError):  # a loop: RuntimeError before Python 3.13
                problems.append(Problem(rel, None, "", "is a symbolic link that cannot be resolved (a loop?)"))
                continue
            if not target.is_relative_to(root):
                problems.append(
                    Problem(rel, None, "", "is a symbolic link that points outside the source; refusing to follow it")
                )
                continue
        try:
            content = _read_regular_file(full)
        except OSError as e:
            problems.append(Problem(rel, None, "", f"cannot be read ({e.strerror})"))
            continue
        if isinstance(content, str):
            problems.append(Problem(rel, None, "", content))
        else:
            files.append(SourceFile(rel, content))
    return files, problems


def _walk_files(top: str, skip: str | None, rel: str = "") -> Iterator[tuple[str, str, bool]]:
    """(full path, relative path, is a symbolic link) of every non-hidden file, in os.walk's order
    (a folder's files by name, then its folders by name), without following links to folders.
    One scandir per folder and no stat per file."""
    try:
        with os.scandir(top) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return  # an unreadable or vanished folder is skipped, as os.walk does
    if rel and any(e.name == OUTPUT_STATE_DIR for e in entries) and is_output(top):
        return  # generated bundles (clear text in plain mode) are not source
    folders = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            if not entry.is_symlink() and entry.path != skip:
                folders.append(entry)
        else:
            yield entry.path, rel + entry.name, entry.is_symlink()
    for folder in folders:
        yield from _walk_files(folder.path, skip, rel + folder.name + "/")


def is_output(folder: str | os.PathLike[str]) -> bool:
    """Whether `folder` holds fleet-handshake's output: the state folder generate writes at OUT's root."""
    return os.path.isfile(os.path.join(folder, OUTPUT_STATE_DIR, OUTPUT_STATUS))


def in_output(path: Path, known: dict[Path, bool]) -> bool:
    """Whether a folder above `path`, as given (not the current folder, nor `/`), holds
    fleet-handshake's output. `known` remembers folders already looked at."""
    for folder in list(path.parents)[:-1]:
        found = known.get(folder)
        if found is None:
            found = known[folder] = is_output(folder)
        if found:
            return True
    return False


def read_source_file(root: Path, rel: str) -> tuple[bytes | None, Problem | None]:
    """One named file of the source, read with the same checks as the scan (no links out of
    the source, regular files only, the size limit). (None, None) when it does not exist."""
    full = root / rel
    if not os.path.lexists(full):
        return None, None
    if full.is_symlink():
        try:
            target = full.resolve(strict=True)
        except (OSError, RuntimeError):
            return None, Problem(rel, None, "", "cannot be read: it is a symbolic link to nothing (or a loop)")
        if not target.is_relative_to(root.resolve()):
            return None, Problem(
                rel, None, "", "is a symbolic link that points outside the source; refusing to follow it"
            )
    try:
        content = _read_regular_file(full)
    except OSError as e:
        return None, Problem(rel, None, "", f"cannot be read ({e.strerror})")
    if isinstance(content, str):
        return None, Problem(rel, None, "", content)
    return content, None


def _read_fd(fd: int, limit: int) -> bytes:
    """Up to `limit` bytes from a descriptor: raw reads, without a buffered file object's extra calls."""
    chunks = []
    size = 0
    while size < limit:
        chunk = os.read(fd, min(limit - size, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _read_regular_file(path: Path | str) -> bytes | str:
    """The file's bytes, or why it is refused.

    Opened without blocking and checked on the open descriptor: a named pipe (or a device)
    called *.yaml must not hang the run, nor a file that grows after it was measured.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return "is not a regular file (a named pipe, device or socket); refusing to read it"
        content = _read_fd(fd, MAX_SOURCE_FILE + 1)
    finally:
        os.close(fd)
    if info.st_size > MAX_SOURCE_FILE or len(content) > MAX_SOURCE_FILE:
        size = max(info.st_size, len(content))
        return f"is {size} bytes, over the {MAX_SOURCE_FILE} byte limit for source files"
    return content


def read_tree(root: Path) -> OutputTree:
    """All files below the output folder (none if it does not exist yet)."""
    if not root.exists():
        return OutputTree()
    if not root.is_dir():
        raise UserError(f"output path {root} exists and is not a folder")
    tree = OutputTree()
    _read_folder(str(root), "", tree)
    return tree


def read_tree_and_spare(root: Path) -> OutputTree:
    """`read_tree`, and the listing of the spare tree beside it, which the write that follows
    needs (a forked child does both while the source loads). Call it holding the output lock:
    only a run holding it changes the spare tree."""
    tree = read_tree(root)
    spare = _spare_folder(root.resolve()) / "tree"
    try:
        info = os.lstat(spare)
        if stat.S_ISDIR(info.st_mode):
            files: dict[str, int | None] = {}
            folders: list[str] = []
            _scan_inodes(str(spare), "", files, folders)
            tree.spare = (info.st_dev, info.st_ino, files, folders)
    except OSError:
        pass  # no spare tree, or it changed while listed: write_tree lists it itself
    return tree


def read_output_file(root: Path, rel: str) -> bytes | None:
    """One regular file of the output folder (as read_tree reads it), or None."""
    try:
        fd = os.open(root / rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return _read_fd(fd, 1 << 40) if stat.S_ISREG(os.fstat(fd).st_mode) else None
    finally:
        os.close(fd)


Identity = tuple[int, int, int, int, int]  # device, inode, size, mtime and ctime in ns


def _identity(info: os.stat_result) -> Identity | None:
    if not stat.S_ISREG(info.st_mode):
        return None
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


# The spare tree as listed: its folder's device and inode, its files (path -> inode number, None
# for what is not a regular file) and its folders.
SpareListing = tuple[int, int, dict[str, int | None], list[str]]


class OutputTree(dict[str, bytes]):
    """The files of an output folder, and what each was read from: for `write_tree`, a spare
    file with the same device and inode as OUT's is the same file (a hard link to it) and need
    not be touched when its content does not change. `spare`: the spare tree beside OUT, listed
    while OUT was read (see `read_tree_and_spare`), for the next write to use once.
    `entries` and `empty`: what is not a regular file (links, special files, files of a nested
    `.git`; path -> inode number) and the empty folders, which a write carries over as they are."""

    def __init__(self) -> None:
        super().__init__()
        self.identities: dict[str, Identity | None] = {}
        self.spare: SpareListing | None = None
        self.entries: dict[str, int] = {}
        self.empty: list[str] = []


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
            tree[rel + entry.name] = _read_fd(fd, 1 << 40)
            tree.identities[rel + entry.name] = _identity(os.fstat(fd))
        finally:
            os.close(fd)


@contextlib.contextmanager
def output_lock(out: Path, timeout: float | None = None) -> Iterator[None]:
    """One writer per output folder at a time. Waits, then fails clearly.

    The lock is taken on the folder that holds OUT (OUT itself is swapped, so its inode does
    not last), which leaves no lock file behind in a user's repository.
    """
    if timeout is None:
        from .settings import env_seconds

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
    Named after the folder OUT resolves to, as `write_tree` names them: OUT may be a link.
    """
    real = out.resolve()
    for stale in real.parent.glob(f".{real.name}{_STAGING}*"):
        _rmtree(stale)


def _is_real_dir(path: Path | str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _spare_folder(out: Path) -> Path:
    """`.OUT.fh-spare` beside OUT (a resolved path), which holds the spare tree."""
    return out.parent / f".{out.name}{_SPARE}"


def _spare_tree(out: Path) -> Path | None:
    """Where the previous output tree is kept between runs, or None where it cannot be.

    `.OUT.fh-spare/tree` beside OUT, on the same file system. The folder holds only hard links
    to OUT's current files (what changed is unlinked after each swap, so no old value stays on
    disk) and a `.gitignore` that keeps git, and so Fleet, from ever seeing it. The next write
    reuses its folders instead of creating and removing one per bundle: on ext4, creating
    inodes right after removing thousands is what made a one-change write slow.
    """
    wrapper = _spare_folder(out)
    ignore = wrapper / ".gitignore"
    try:
        if not os.path.lexists(wrapper):
            os.mkdir(wrapper, 0o700)
        if not _is_real_dir(wrapper) or os.lstat(wrapper).st_dev != os.lstat(out.parent).st_dev:
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


def write_tree(out: Path, new: Mapping[str, bytes], old: Mapping[str, bytes], secret_paths: set[str]) -> None:
    """Build `new` beside `out`, then swap it in with one atomic rename.

    Files that did not change are hard-linked from the old tree, so they keep their inode and
    are not rewritten. A crash at any moment leaves either the old tree or the new one.
    The staging folder is the spare tree (the tree before last, see `_spare_tree`) when there
    is one: only what changed since is touched. After the swap the old tree becomes the spare.
    """
    out = out.resolve()
    if (out / ".git").exists():
        raise UserError(f"{out} is the root of a git work tree; write the bundles to a folder inside it")
    spare = _spare_tree(out) if out.exists() else None
    mode = _folder_mode(out)
    from . import fs_foreign

    carry = fs_foreign.plan(new, old.entries, old.empty) if isinstance(old, OutputTree) else fs_foreign.NOTHING
    try:
        staging = _mkdtemp(out.parent, f".{out.name}{_STAGING}")
        reuse = spare is not None and _is_real_dir(spare)
        if reuse:
            os.rename(spare, staging)  # type: ignore[arg-type] # an empty folder is replaced
        built = os.lstat(staging).st_ino  # the new tree's folder: OUT once the swap is done
    except OSError as e:
        raise _not_written(out, e) from None
    try:
        try:
            if reuse:
                _reconcile(staging, out, new, old, secret_paths, carry.folders)
            else:
                _populate(staging, out, new, old, secret_paths, carry.folders)
            fs_foreign.place(str(staging), str(out), carry)
            os.chmod(staging, mode)  # the staging folder is private while it is built; OUT is as it was
            if out.exists():
                _exchange(staging, out)
            else:
                os.rename(staging, out)
        except OSError as e:
            raise _not_written(out, e) from None
        _fsync_dir(out.parent)
    finally:
        # The clean-up loop is here, not in a function it calls: an interrupt can be raised on
        # entering a function, before its `try`, and would leave the staging folder behind.
        interrupted: KeyboardInterrupt | None = None
        while True:
            try:
                _stop_children()
                if spare is not None and os.path.lexists(staging):
                    _keep_as_spare(staging, spare, new, old, _is_folder(out, built))
                else:
                    _rmtree(staging)
                break
            except KeyboardInterrupt as e:
                interrupted = e
        if interrupted is not None:
            raise interrupted


def _folder_mode(out: Path) -> int:
    """OUT's permission bits, which the swap keeps; a new OUT gets what mkdir gives under the umask."""
    try:
        return stat.S_IMODE(os.stat(out).st_mode)
    except FileNotFoundError:
        umask = os.umask(0o022)  # the only way to read it; set straight back (no thread runs here)
        os.umask(umask)
        return 0o777 & ~umask


def _is_folder(path: Path, inode: int) -> bool:
    """Whether `path` is now the folder with this inode: asked of the file system, not of a flag
    that an interrupt right after the swap could leave unset."""
    try:
        return os.lstat(path).st_ino == inode
    except OSError:
        return False


def _keep_as_spare(staging: Path, spare: Path, new: Mapping[str, bytes], old: Mapping[str, bytes],
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
        _rmtree(staging)


def _reconcile(staging: Path, out: Path, new: Mapping[str, bytes], old: Mapping[str, bytes],
               secret_paths: set[str], carried_folders: frozenset[str]) -> None:  # fmt: skip
    """Make `staging` (a spare tree: any content) hold exactly `new`, touching only what differs.

    A file is kept where it is the same inode as OUT's file and that file does not change;
    everything else is removed, and missing folders and files are made as `_populate` does.
    `carried_folders`: folders the new tree needs for what it carries over from OUT.
    """
    top, src = str(staging), str(out)
    folder = os.lstat(top)
    device = folder.st_dev
    listed = None
    if isinstance(old, OutputTree):
        listed, old.spare = old.spare, None  # used once: this write changes the tree
    if listed is not None and listed[:2] == (device, folder.st_ino):  # listed this run, under its lock
        have_files, have_dirs = listed[2], listed[3]
    else:
        have_files, have_dirs = {}, []
        _scan_inodes(top, "", have_files, have_dirs)
    out_files = _out_inodes(out, old)
    need_dirs = {path.rpartition("/")[0] for path in new} | carried_folders
    for d in list(need_dirs):
        while "/" in d:
            d = d.rpartition("/")[0]
            need_dirs.add(d)
    need_dirs.discard("")
    kept = set()
    for path, inode in have_files.items():
        content = new.get(path)
        if (
            content is not None
            and inode is not None
            and out_files.get(path) == (device, inode)
            and old.get(path) == content
        ):
            kept.add(path)  # a hard link to OUT's unchanged file: the very file the new tree needs
        else:
            os.unlink(f"{top}/{path}")
    for d in sorted(have_dirs, key=len, reverse=True):  # deepest first
        if d not in need_dirs:
            _rmtree(f"{top}/{d}")
    have = set(have_dirs)
    for d in sorted(need_dirs - have):
        os.makedirs(f"{top}/{d}", exist_ok=True)
    for path in sorted(new.keys() - kept):
        _place(top, src, path, new[path], old, secret_paths)


def _out_inodes(out: Path, old: Mapping[str, bytes]) -> dict[str, tuple[int, int]]:
    """(device, inode) of each regular file of OUT, by path."""
    if isinstance(old, OutputTree):  # read_tree's, taken under this run's lock
        return {path: identity[:2] for path, identity in old.identities.items() if identity is not None}
    inodes: dict[str, int | None] = {}
    _scan_inodes(str(out), "", inodes, [])
    out_device = os.lstat(out).st_dev
    return {path: (out_device, inode) for path, inode in inodes.items() if inode is not None}


def tidy_spare(out: Path, old: Mapping[str, bytes]) -> None:
    """Unlink from the spare tree every file that is not OUT's own (the same inode at the same
    path): a run that writes nothing still leaves no old value beside OUT. Something else than
    fleet-handshake (git checking out another commit, a person) may have replaced or removed
    OUT's files since the spare was kept, which leaves the spare the only link to them: a
    clear-text Secret of a mode since left, say. Call it holding the output lock."""
    out = out.resolve()
    spare = _spare_folder(out) / "tree"
    try:
        folder = os.lstat(spare)
        if not stat.S_ISDIR(folder.st_mode):
            return
        listed = old.spare if isinstance(old, OutputTree) else None
        if listed is not None and listed[:2] == (folder.st_dev, folder.st_ino):
            files = listed[2]
        else:
            files = {}
            _scan_inodes(str(spare), "", files, [])
        ours = _out_inodes(out, old)
    except OSError:
        _rmtree(spare)  # cannot be checked: it goes, and the next write builds from scratch
        return
    for path, inode in files.items():
        if inode is None or ours.get(path) != (folder.st_dev, inode):
            try:
                os.unlink(f"{spare}/{path}")
            except FileNotFoundError:
                pass
            except OSError:
                _rmtree(spare)
                return


def _place(top: str, src: str, path: str, content: bytes, old: Mapping[str, bytes], secret_paths: set[str]) -> None:
    """One file of the new tree below `top`: a hard link to OUT's when unchanged (same inode, not
    rewritten), else written new, readable by its owner only if it holds a Secret."""
    dest = f"{top}/{path}"
    if old.get(path) == content and _try_link(Path(f"{src}/{path}"), Path(dest)):
        return
    mode = SECRET_FILE_MODE if path in secret_paths else FILE_MODE
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _scan_inodes(top: str, rel: str, files: dict[str, int | None], dirs: list[str]) -> None:
    """Files (with their inode number, from the folder listing itself: no stat per file; None for
    links and other non-regular files) and folders below `top`. A spare file is OUT's when it
    is OUT's inode on the same device: a hard link to it."""
    with os.scandir(top) as it:
        entries = list(it)
    for entry in entries:
        path = rel + entry.name
        if entry.is_dir(follow_symlinks=False):
            dirs.append(path)
            _scan_inodes(entry.path, path + "/", files, dirs)
        else:
            files[path] = entry.inode() if entry.is_file(follow_symlinks=False) else None


def _populate(staging: Path, out: Path, new: Mapping[str, bytes], old: Mapping[str, bytes],
              secret_paths: set[str], carried_folders: frozenset[str] = frozenset()) -> None:  # fmt: skip
    """Write the new tree into `staging`; a large one (a first run) on two cores.

    Creating a file costs tens of microseconds of Python and as much of the kernel's time. A
    forked child writes every second bundle folder from its copy of the tree (no bytes cross
    between the processes); threads measured slower than one process, the GIL serialising them.
    """
    by_dir: dict[str, list[str]] = {}
    for path in new:
        by_dir.setdefault(path.rpartition("/")[0], []).append(path)
    top, src = str(staging), str(out)
    for parent in sorted({d.rpartition("/")[0] for d in by_dir if "/" in d} | carried_folders):
        os.makedirs(f"{top}/{parent}", exist_ok=True)  # workspaces first, serially: there are few

    def fill(directories: list[str]) -> None:
        for directory in directories:
            if directory:
                os.makedirs(f"{top}/{directory}", exist_ok=True)
            for path in sorted(by_dir[directory]):
                _place(top, src, path, new[path], old, secret_paths)

    directories = sorted(by_dir)
    if len(directories) < _SHARE:
        fill(directories)
        return
    from .background import Background

    with Background(fill, directories[1::2]) as child:
        fill(directories[0::2])
        child.result()  # re-raises the child's error; without a child, writes its share here


_SHARE = 64  # folders: below this, a second process costs more than it saves


def _not_written(out: Path, e: OSError) -> OSError:
    """The same error, saying what it means: the swap did not happen, OUT is as it was."""
    why = e.strerror or type(e).__name__
    return OSError(e.errno, f"cannot write the new output beside {out} ({why}); the output folder was left as it was")


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
