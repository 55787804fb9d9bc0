"""Run the tool where writing OUT fails: a read-only parent folder, a full file system.

Tests run as root in CI containers, where permission bits do not stop writes. There the
child runs in private user and mount namespaces (`unshare`), on a read-only bind mount or a
small tmpfs: real EROFS and ENOSPC from the kernel, nothing mocked, nothing left mounted.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping

from hostile.corpus import Context, Result, run_tool

UNSHARE = ("unshare", "--user", "--map-root-user", "--mount")


@functools.cache
def namespaces() -> str | None:
    """None when private mount namespaces work here, else why not."""
    if shutil.which("unshare") is None:
        return "the unshare command (util-linux) is not installed"
    probe = subprocess.run(
        [*UNSHARE, "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt 2>/dev/null || mount -t tmpfs tmpfs /tmp"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"unprivileged user and mount namespaces are not available ({probe.stderr.strip()[:120]})"
    return None


def _in_namespace(setup: str, ctx: Context, args: list[str], env: Mapping[str, str], timeout: float) -> Result:
    script = f'set -e\n{setup}\nexec "$@"\n'
    return run_tool(args, env=env, cwd=ctx.tmp, timeout=timeout, prefix=(*UNSHARE, "sh", "-c", script, "sh"))


def readonly_parent(ctx: Context, args: list[str], env: Mapping[str, str], timeout: float) -> Result:
    parent = ctx.out.parent
    if os.geteuid() != 0:
        parent.chmod(0o555)
        try:
            return run_tool(args, env=env, cwd=ctx.tmp, timeout=timeout)
        finally:
            parent.chmod(0o755)
    p = shlex.quote(str(parent))
    return _in_namespace(f"mount --bind {p} {p}\nmount -o remount,bind,ro {p}", ctx, args, env, timeout)


def full_disk(ctx: Context, args: list[str], env: Mapping[str, str], timeout: float) -> Result:
    """OUT on a 1 MiB tmpfs filled to the last page; what the run left is copied out afterwards."""
    parent = ctx.out.parent
    stash, after = ctx.tmp / "stash", ctx.tmp / "after"
    shutil.move(ctx.out, stash)
    after.mkdir()
    p, s, a = (shlex.quote(str(x)) for x in (parent, stash, after))
    setup = "\n".join(
        [
            f"mount -t tmpfs -o size=1m tmpfs {p}",
            f"cp -a {s} {p}/out",
            f"dd if=/dev/zero of={p}/filler bs=64k 2>/dev/null || true",
            f"dd if=/dev/zero of={p}/filler-pages bs=4k 2>/dev/null || true",
        ]
    )
    # Run the tool as a child of the shell, then copy what it left out of the tmpfs.
    script = (
        f'set -e\n{setup}\nset +e\n"$@"\ncode=$?\nset -e\n'
        f"rm -f {p}/filler {p}/filler-pages\ncp -a {p}/. {a}/\nexit $code\n"
    )
    result = run_tool(args, env=env, cwd=ctx.tmp, timeout=timeout, prefix=(*UNSHARE, "sh", "-c", script, "sh"))
    ctx.observed_out = after / "out"
    return result
