"""Command line: runs the command named (declared in arguments.py), maps errors to exit codes."""

from __future__ import annotations

import atexit
import errno
import gc
import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .arguments import parser
from .errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_UNEXPECTED,
    FleetHandshakeError,
    InvalidInputs,
)


def _run(subcommand: str, options: dict[str, object]) -> int:
    """app/<command>.py's run(), imported now: only this command's libraries are loaded."""
    module = "import_" if subcommand == "import" else subcommand.replace("-", "_")
    app = importlib.import_module(f"{__package__}.app.{module}")
    if subcommand == "action":
        return app.run(app.ActionArgs(**options))  # type: ignore[no-any-return]
    return app.run(**options)  # type: ignore[no-any-return]


_ENVIRONMENT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG,
     errno.EMFILE, errno.ENFILE, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP}
)  # fmt: skip


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through the cleanup in `finally` blocks


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = vars(parser().parse_args(argv))
    except SystemExit as e:  # argparse exits 2 on bad usage, 0 for --help
        return int(e.code or 0)
    subcommand, debug = options.pop("subcommand"), options.pop("debug")
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Parsing builds hundreds of thousands of small, acyclic objects (a 5,000-cluster inventory
    # is ~300,000 YAML nodes); the default collector threshold (700) rescans them constantly and
    # doubles the time. Memory is unchanged: reference counting frees them. At 250,000 a run
    # with nothing or one thing to do collects not once (50,000 meant one 7-13 ms pass).
    gc.freeze()
    gc.set_threshold(250_000, 20, 20)
    try:
        return _run(subcommand, options)
    except InvalidInputs as e:
        for problem in e.problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"fleet-handshake: {e}; nothing was written", file=sys.stderr)
        return e.exit_code
    except FleetHandshakeError as e:
        print(f"fleet-handshake: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        if "fleethandshake.adapters.background" in sys.modules:  # no child outlives the run
            from .adapters.background import stop_all

            stop_all()
        print("fleet-handshake: interrupted; the output folder was left as it was", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:
        if isinstance(e, OSError) and e.errno in _ENVIRONMENT_ERRNOS:
            # A full disk, a read-only or unreadable folder: the user's to fix, not a bug.
            where = f" ({e.filename})" if e.filename else ""
            print(f"fleet-handshake: error: {e.strerror}{where}", file=sys.stderr)
            return EXIT_FAILED
        if debug:
            raise
        print(f"fleet-handshake: unexpected error ({type(e).__name__}); run with --debug for details", file=sys.stderr)
        return EXIT_UNEXPECTED


TEARDOWN_ENV = "FLEET_HANDSHAKE_TEARDOWN"


def entry() -> None:
    """The `fleet-handshake` command (and `python -m fleethandshake`): main(), then exit.

    At exit the interpreter would collect, then free one by one, every object made since
    start-up: 60-180 ms after a full run of a thousand handshakes, more than writing the output
    took. The process ends here instead, once it has done what that exit does for others: the
    exit handlers run (library clean-ups, weakref finalizers such as temporary folders) and the
    output is flushed. Every file this tool writes is closed before main() returns.
    The interpreter exits as usual, every object freed, when FLEET_HANDSHAKE_TEARDOWN=1 (for
    tools that look at the process at teardown); and when a thread still runs (it waits for the
    thread), with objects frozen first to skip the collection.
    """
    code = main()
    if os.environ.get(TEARDOWN_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        gc.unfreeze()  # frozen objects would outlive the teardown
        sys.exit(code)
    if threading.active_count() > 1:
        gc.freeze()
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # the reader went away (`| head`): Python's own exit would say 120 too
        code = code or 120
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
