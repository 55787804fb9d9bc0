"""Write a new output tree beside OUT and swap it in with one atomic rename."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ...errors import UserError
from ..background import Background, stop_all
from . import foreign, is_real_dir, spare
from .lock import ASIDE, STAGING
from .tree import OutputTree

SECRET_FILE_MODE = 0o600
FILE_MODE = 0o644
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_SHARE = 64  # folders: below this, a second process costs more than it saves


def write_tree(out: Path, new: Mapping[str, bytes], old: OutputTree, secret_paths: set[str]) -> None:
    """Build `new` beside `out`, then swap it in with one atomic rename.

    Files that did not change are hard-linked from the old tree, so they keep their inode and
    are not rewritten. A crash at any moment leaves either the old tree or the new one.
    The staging folder is the spare tree (the tree before last, see spare.py) when there is
    one: only what changed since is touched. After the swap the old tree becomes the spare.
    """
    out = out.resolve()
    if (out / ".git").exists():
        raise UserError(f"{out} is the root of a git work tree; write the bundles to a folder inside it")
    kept = spare.spare_tree(out) if out.exists() else None
    mode = _folder_mode(out)
    carry = foreign.plan(new, old.entries, old.empty)
    # Interrupts wait while the staging folder is made: one raised before the `try` below would
    # leave it behind. They are let through inside it, where the clean-up removes it again.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    staging: Path | None = None
    built = -1
    try:
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{out.name}{STAGING}", dir=out.parent))
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            reuse = kept is not None and is_real_dir(kept)
            if reuse:
                os.rename(kept, staging)  # type: ignore[arg-type] # an empty folder is replaced
            built = os.lstat(staging).st_ino  # the new tree's folder: OUT once the swap is done
            if reuse:
                done = spare.reconcile(staging, new, old, foreign.with_parents(new) | carry.folders)
                for path in sorted(new.keys() - done):
                    _place(str(staging), str(out), path, new[path], old, secret_paths)
            else:
                _populate(staging, out, new, old, secret_paths, carry.folders)
            foreign.place(str(staging), str(out), carry)
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
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # when mkdtemp failed
                stop_all()  # no child of _populate may still write into the staging folder
                if staging is not None and kept is not None and os.path.lexists(staging):
                    spare.keep_as_spare(staging, kept, new, old, _is_folder(out, built))
                elif staging is not None:
                    shutil.rmtree(staging, ignore_errors=True)
                break
            except KeyboardInterrupt as e:
                interrupted = e
        if interrupted is not None:
            raise interrupted


def _populate(staging: Path, out: Path, new: Mapping[str, bytes], old: Mapping[str, bytes],
              secret_paths: set[str], carried_folders: frozenset[str]) -> None:  # fmt: skip
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
    with Background(fill, directories[1::2]) as child:
        fill(directories[0::2])
        child.result()  # re-raises the child's error; without a child, writes its share here


def _place(top: str, src: str, path: str, content: bytes, old: Mapping[str, bytes], secret_paths: set[str]) -> None:
    """One file of the new tree below `top`: a hard link to OUT's when unchanged (same inode, not
    rewritten), else written new, readable by its owner only if it holds a Secret."""
    dest = f"{top}/{path}"
    if old.get(path) == content:
        try:
            os.link(f"{src}/{path}", dest, follow_symlinks=False)
            return
        except OSError:
            pass  # written new below
    mode = SECRET_FILE_MODE if path in secret_paths else FILE_MODE
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


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


def _not_written(out: Path, e: OSError) -> OSError:
    """The same error, saying what it means: the swap did not happen, OUT is as it was."""
    why = e.strerror or type(e).__name__
    return OSError(e.errno, f"cannot write the new output beside {out} ({why}); the output folder was left as it was")


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
    # Two renames leave a moment with no `b`: a failure then puts it back, interrupts wait until
    # both are done (a Ctrl-C between them would end the run with no OUT, which a `git add -A`
    # would then commit as deleted), and a run killed then finds it beside the staging folders
    # (lock.py puts it back before clearing those).
    aside = a.with_name(a.name + ASIDE)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        os.rename(b, aside)
        try:
            os.rename(a, b)
        except OSError:
            os.rename(aside, b)
            raise
        os.rename(aside, a)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
