"""The commands and their arguments, each declared once (argparse); cli.py runs them."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import __version__, helptext
from .modes import IN_CLUSTER, NAMES

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
        _cluster_options(cmd, " (downstream mode, --wait)")


def _cluster_options(cmd: argparse.ArgumentParser, use: str = "") -> None:
    cmd.add_argument("--context", metavar="NAME", help=f"kubeconfig context of the management cluster{use}")
    cmd.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account)",
    )


def _seconds(text: str) -> float:
    if not text.replace(".", "", 1).isdigit():
        raise argparse.ArgumentTypeError(f"must be a number of seconds, 0 or more, not {text!r}")
    return float(text)


def _wait_options(cmd: argparse.ArgumentParser, what: str) -> None:
    cmd.add_argument(
        "--wait",
        nargs="?",
        type=_seconds,
        const=600.0,
        metavar="SECONDS",
        help=f"{what}, look at Fleet until it reports OUT's commit Ready on every targeted cluster, up to "
        "SECONDS (default 600), then print the status; exit 11 naming the clusters not Ready by then",
    )
    cmd.add_argument("--wait-interval", type=_seconds, default=5.0, metavar="SECONDS", help="between looks (default 5)")


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
        help="Fleet's Clusters, ClusterGroups and BundleNamespaceMappings and the Namespaces (kubectl get"
        " clusters.fleet.cattle.io,clustergroups.fleet.cattle.io,bundlenamespacemappings.fleet.cattle.io,"
        "namespaces -A -o yaml) to resolve bundles to clusters",
    )
    plan.add_argument(
        "--format", dest="fmt", choices=("text", "markdown", "json"), default="text", help="default: text"
    )
    plan.add_argument(
        "--map",
        dest="delivery_map",
        action="store_true",
        help="show what every cluster receives (the delivery map) instead of the changes; needs --inventory",
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
    _wait_options(pub, "after the push")
    _run_options(pub)


def _status(commands: Commands[argparse.ArgumentParser]) -> None:
    summary = "did each Secret reach its clusters? Fleet's state per handshake and cluster"
    st = _command(commands, "status", summary, helptext.STATUS_HELP)
    st.add_argument("src", type=Path, nargs="?", metavar="SOURCE", help=f"{SOURCE_HELP} (or give --out)")
    st.add_argument("--out", "-o", type=Path, metavar="OUT", help="the output folder, compared at its commit")
    st.add_argument("--format", dest="fmt", choices=("text", "markdown", "json"), default="text", help="default: text")
    _cluster_options(st)
    _wait_options(st, "instead of looking once")


def _gitrepo(commands: Commands[argparse.ArgumentParser]) -> None:
    gr = _command(commands, "gitrepo", "print the Fleet GitRepo manifests for the output", helptext.GITREPO_HELP)
    gr.add_argument("src", type=Path, metavar="SOURCE", help="folder with handshakes (for their workspaces)")
    gr.add_argument(
        "--repo",
        required=True,
        metavar="URL",
        help="URL of the (private) repository holding the output: https://..., ssh://... or git@HOST:PATH",
    )
    gr.add_argument("--branch", required=True, metavar="B", help="branch holding the output")
    gr.add_argument(
        "--out-path",
        default="",
        metavar="PATH",
        help="where the output folder sits in that repository (default: its root)",
    )
    gr.add_argument(
        "--name",
        default="fleet-handshake-bundles",
        help="GitRepo name (default: %(default)s); give each source its own:"
        " one applied under an existing name replaces it",
    )
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
    act.add_argument("--mode", choices=NAMES, help="as the commands' --mode (default: the mode SOURCE's config names)")
    act.add_argument("--against", metavar="REF", help="plan: compare with OUT as committed at this git ref")
    act.add_argument("--allow-removals", action="store_true", help=ALLOW_REMOVALS_HELP)
    act.add_argument("--allow-unordered", action="store_true", help="publish: as `publish --allow-unordered`")
    act.add_argument("--branch", metavar="B", help="publish: as `publish --branch`")
    act.add_argument("--remote", metavar="R", default="origin", help="publish: as `publish --remote` (default: origin)")
    act.add_argument("--message", metavar="M", help="publish: as `publish --message`")
    act.add_argument("--context", metavar="NAME", help="generate, publish: as their --context (downstream mode)")
    act.add_argument("--kubeconfig", metavar="FILE", help="generate, publish: as their --kubeconfig (downstream mode)")
    act.add_argument("--wait", type=_seconds, metavar="SECONDS", help="publish: as `publish --wait SECONDS`")
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


def _import(commands: Commands[argparse.ArgumentParser]) -> None:
    summary = "import FleetHandshakes and their Secrets from a cluster or an export (Secrets encrypted)"
    imp = _command(commands, "import", summary, helptext.IMPORT_HELP)
    imp.add_argument("src", type=Path, metavar="SOURCE", help="source folder to write into (holds a .sops.yaml)")
    imp.add_argument(
        "--from-file",
        type=Path,
        metavar="FILE",
        help="read an export (kubectl get fleethandshakes,secrets -A -o yaml) instead of a cluster",
    )
    imp.add_argument("--namespace", "-n", metavar="NS", help="only the handshakes of this workspace (default: all)")
    imp.add_argument(
        "--allow-missing",
        action="store_true",
        help="import a handshake whose Secret is not found, without it (it is Missing until the Secret is added)",
    )
    imp.add_argument("--sops", dest="sops_binary", metavar="PATH", help="sops binary to use")
    imp.add_argument("--quiet", "-q", action="store_true", help="print problems only")
    _cluster_options(imp)


def _controller(commands: Commands[argparse.ArgumentParser]) -> None:
    ctl = _command(commands, "controller", "reconcile FleetHandshake objects in the cluster", helptext.CONTROLLER_HELP)
    _cluster_options(ctl)
    ctl.add_argument(
        "--mode",
        choices=IN_CLUSTER,
        default=IN_CLUSTER[0],
        help="delivery mode for handshakes without a mode annotation (default: %(default)s)",
    )
    ctl.add_argument("--workers", type=int, default=4, help="handshakes reconciled at once (default: %(default)s)")
    ctl.add_argument(
        "--resync", type=float, default=300.0, metavar="SECONDS", help="reconcile everything this often (default: 300)"
    )
    ctl.add_argument(
        "--health-port",
        type=int,
        default=8080,
        metavar="PORT",
        help="serve /healthz and /readyz on this port (0: none; default: %(default)s)",
    )
    ctl.add_argument(
        "--no-leader-election",
        dest="leader_election",
        action="store_false",
        help="work without holding the Lease (run one replica only)",
    )
    ctl.add_argument("--lease-name", default="fleet-handshake-controller", help="the Lease (default: %(default)s)")
    ctl.add_argument(
        "--lease-namespace", metavar="NS", help="namespace of the Lease (default: the pod's namespace, else default)"
    )


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
    for declare in (
        _generate,
        _plan,
        _publish,
        _status,
        _gitrepo,
        _validate,
        _action,
        _check_secrets,
        _import,
        _controller,
    ):
        declare(commands)
    return top
