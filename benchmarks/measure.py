"""Time one child process: wall time, exit code and the peak RSS of its process tree.

Why a launcher: Linux carries the memory high-water mark of a process across exec(), and a child
forked (or vforked) from this benchmark process starts as a copy of it. Measured directly, every
child would report at least this process's own peak RSS, which grows with the synthetic data it
builds. So each command runs under a tiny launcher (`python -I -S`, about 8 MiB) that forks, execs
the command, times it and reads its rusage with os.wait4 on that child's pid. The launcher's own
start-up is not in the time, and its 8 MiB is the floor of the RSS reported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_LAUNCHER = r"""
import os, sys, time
result, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(result, "w") as f:
    f.write(f"{seconds!r} {os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


@dataclass(frozen=True)
class Sample:
    seconds: float
    exit_code: int
    # ru_maxrss from wait4(2) on the command's pid: the largest resident set of the command or of
    # any descendant it waited for (Linux reports the maximum over the tree, not a sum).
    peak_rss_mib: float


def _rss_mib(ru_maxrss: int) -> float:
    # Linux reports KiB, macOS bytes.
    return ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)


def run_once(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    stdout: Path | None = None,
) -> Sample:
    """Run argv to completion. stdout goes to `stdout` (or /dev/null), stderr to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    rusage = log.with_suffix(".rusage")
    rusage.unlink(missing_ok=True)
    launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(rusage), *argv]
    with open(log, "wb") as err, open(stdout if stdout is not None else os.devnull, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(launcher, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        outside = time.perf_counter() - start
    try:
        seconds, exit_code, maxrss = rusage.read_text().split()
        return Sample(float(seconds), int(exit_code), _rss_mib(int(maxrss)))
    except (OSError, ValueError):
        # The launcher itself failed (or was killed): report what the parent saw.
        return Sample(outside, code if code != 0 else -1, 0.0)
    finally:
        rusage.unlink(missing_ok=True)


def tail(path: Path, lines: int = 15, limit: int = 2000) -> str:
    """The end of a log file, for a failed step's report."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])[-limit:]
