"""Command line: declares the commands, runs the one named, maps errors to exit codes."""

from __future__ import annotations

import argparse
import atexit
import errno
import gc
import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from . import __version__, helptext
from .errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_UNEXPECTED,
    FleetHandshakeError,
    InvalidInputs,
)
from .modes import NAMES

# Help shared by several commands.
SOURCE_HELP = "folder with handshakes and encrypted Secrets"
ALLOW_REMOVALS_HELP = (
    "remove the bundles of handshakes gone from the source even when the removal guard refuses: "
    "when the source has no handshake at all, or when they are more than half of OUT's bundles "
    "and more than 5 (Fleet uninstalls a removed bundle's Secret from every cluster)"
)
Commands = argparse._SubParsersAction  # what add_subparsers returns: each command adds its parser


def _command(
    commands: Commands[argparse.ArgumentParser], name: str, summary: str, description: str
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name, help=summary, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def _source_and_out(cmd: argparse.ArgumentParser, out_help: str) -> None:
    cmd.add_argument("src", type=Path, metavar="SOURCE", help=SOURCE_HELP)
    cmd.add_argument("--out", "-o", type=Path, required=True, metavar="OUT", help=out_help)


def _run_options(cmd: argparse.ArgumentParser, *, sops_help: str = "sops binary to use", writes: bool = True) -> None:
    """The options of the commands that render the source; `writes`: generate and publish."""
    cmd.add_argument("--sops", dest="sops_binary", metavar="PATH", help=sops_help)
    if writes:
        cmd.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    cmd.add_argument("--allow-removals", action="store_true", help=ALLOW_REMOVALS_HELP)
    cmd.add_argument(
        "--mode",
        choices=NAMES,
        help="delivery mode for handshakes without a mode annotation (default: the mode in "
        "SOURCE/.fleet-handshake.yaml, else plain)",
    )
    if writes:
        cmd.add_argument(
            "--context", metavar="NAME", help="kubeconfig context of the management cluster (downstream mode)"
        )
        cmd.add_argument(
            "--kubeconfig",
            metavar="FILE",
            help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account)",
        )


# One function per command declares it. Each command runs app/<command>.py's run(), which takes
# the command's options by the names given here (`dest`).


def _generate(commands: Commands[argparse.ArgumentParser]) -> None:
    gen = _command(commands, "generate", "write Fleet bundles for every handshake", helptext.GENERATE_HELP)
    _source_and_out(gen, "output folder for the bundles (created if missing; owned by fleet-handshake)")
    _run_options(
        gen, sops_help="sops binary to use (default: the one from the sops-binary package; or set FLEET_HANDSHAKE_SOPS)"
    )


def _plan(commands: Commands[argparse.ArgumentParser]) -> None:
    summary = "show what a change does: bundles, clusters, conflicts (writes nothing)"
    plan = _command(commands, "plan", summary, helptext.PLAN_HELP)
    _source_and_out(plan, "the output folder to compare with")
    plan.add_argument("--against", metavar="REF", help="compare with OUT as committed at this git ref instead")
    plan.add_argument(
        "--inventory",
        type=Path,
        metavar="FILE",
        help="Fleet Cluster and ClusterGroup objects (kubectl get clusters.fleet.cattle.io,"
        "clustergroups.fleet.cattle.io -A -o yaml) to resolve bundles to clusters",
    )
    plan.add_argument(
        "--format", dest="fmt", choices=("text", "markdown", "json"), default="text", help="default: text"
    )
    _run_options(plan, writes=False)


def _retries(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text!r}")
    return int(text)


def _publish(commands: Commands[argparse.ArgumentParser]) -> None:
    pub = _command(commands, "publish", "generate, commit the output with git and push it", helptext.PUBLISH_HELP)
    _source_and_out(pub, "output folder inside a git work tree (not its root)")
    pub.add_argument(
        "--branch",
        "-b",
        metavar="B",
        help="branch to commit to (default: the checked-out branch; "
        "another branch, even a new orphan one, is published through a temporary work tree)",
    )
    pub.add_argument("--remote", "-r", metavar="R", default="origin", help="remote to push to (default: origin)")
    pub.add_argument("--no-push", dest="remote", action="store_const", const=None, help="commit only")
    pub.add_argument("--message", "-m", metavar="M", help="commit subject (the body always lists the changes)")
    pub.add_argument(
        "--author",
        metavar="'NAME <EMAIL>'",
        help="commit author (default: $FLEET_HANDSHAKE_AUTHOR or a fleet-handshake bot identity)",
    )
    pub.add_argument("--committer", metavar="'NAME <EMAIL>'", help="commit committer (default: the author)")
    pub.add_argument(
        "--retries",
        type=_retries,
        default=5,
        metavar="N",
        help="times to fetch, regenerate and push again when someone else pushed first (default: 5)",
    )
    pub.add_argument(
        "--allow-unordered",
        action="store_true",
        help="publish even when it cannot be told whether this run's source is newer than the one the "
        "branch's output came from (never when the branch's source is known to be newer)",
    )
    _run_options(pub)


def _gitrepo(commands: Commands[argparse.ArgumentParser]) -> None:
    gr = _command(commands, "gitrepo", "print the Fleet GitRepo manifests for the output", helptext.GITREPO_HELP)
    gr.add_argument("src", type=Path, metavar="SOURCE", help="folder with handshakes (for their workspaces)")
    gr.add_argument("--repo", required=True, metavar="URL", help="URL of the (private) repository holding the output")
    gr.add_argument("--branch", required=True, metavar="B", help="branch holding the output")
    gr.add_argument(
        "--out-path",
        default="",
        metavar="PATH",
        help="where the output folder sits in that repository (default: its root)",
    )
    gr.add_argument("--name", default="fleet-handshake-bundles", help="GitRepo name (default: %(default)s)")
    gr.add_argument("--client-secret", metavar="NAME", help="Secret with the git credentials (clientSecretName)")


def _validate(commands: Commands[argparse.ArgumentParser]) -> None:
    val = _command(commands, "validate", "check the source without decrypting", helptext.VALIDATE_HELP)
    val.add_argument("src", type=Path, metavar="SOURCE", help=SOURCE_HELP)
    val.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    val.add_argument(
        "--format",
        dest="fmt",
        choices=("text", "json"),
        default="text",
        help="json prints the problems on stdout, for tools (default: text)",
    )


def _action(commands: Commands[argparse.ArgumentParser]) -> None:
    act = _command(commands, "action", "run inside the GitHub Action", helptext.ACTION_HELP)
    act.add_argument(
        "--command",
        required=True,
        choices=("validate", "plan", "generate", "publish"),
        help="what to run once the source is valid",
    )
    act.add_argument("--source", type=Path, required=True, metavar="SOURCE", help="folder with handshakes and Secrets")
    act.add_argument("--out", type=Path, required=True, metavar="OUT", help="the output folder")
    act.add_argument("--inventory", type=Path, metavar="FILE", help="Fleet Cluster and ClusterGroup objects (plan)")
    act.add_argument("--mode", default="plain", metavar="MODE", help="delivery mode; supported: plain (default)")
    act.add_argument("--against", metavar="REF", help="plan: compare with OUT as committed at this git ref")
    act.add_argument("--allow-removals", action="store_true", help=ALLOW_REMOVALS_HELP)
    act.add_argument("--allow-unordered", action="store_true", help="publish: as `publish --allow-unordered`")
    act.add_argument(
        "--repo-root",
        type=Path,
        default=Path(),
        metavar="DIR",
        help="repository root that annotation file paths are relative to (default: the working folder)",
    )


def _check_secrets(commands: Commands[argparse.ArgumentParser]) -> None:
    summary = "refuse clear-text Secrets in the given files (pre-commit hook)"
    chk = _command(commands, "check-secrets", summary, helptext.CHECK_SECRETS_HELP)
    chk.add_argument("files", type=Path, nargs="*", metavar="FILE", help="YAML files to check")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="fleet-handshake",
        description=helptext.DESCRIPTION,
        epilog=helptext.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    top.add_argument("--debug", action="store_true", help="show a traceback on unexpected errors")
    commands = top.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    for declare in (_generate, _plan, _publish, _gitrepo, _validate, _action, _check_secrets):
        declare(commands)
    return top


def _run(subcommand: str, options: dict[str, object]) -> int:
    """app/<command>.py's run(), imported now: only this command's libraries are loaded."""
    app = importlib.import_module(f"{__package__}.app.{subcommand.replace('-', '_')}")
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
        print(f"fleet-handshake: {e}; {e.outcome}", file=sys.stderr)
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
