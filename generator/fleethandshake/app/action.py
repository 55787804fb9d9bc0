"""`fleet-handshake action`: what the GitHub Action runs. Annotations, job summary, step outputs.

Always validates first, so a broken source fails with one annotation per problem at its line.
Only names, paths, counts and messages are written anywhere: never a value.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..adapters import github
from ..core import statusreport
from ..core.models import Status
from ..errors import (
    EXIT_CHANGES,
    EXIT_FAILED,
    EXIT_NOT_READY,
    EXIT_OK,
    FleetHandshakeError,
    InvalidInputs,
    Problem,
    UsageError,
)
from ..modes import NAMES
from . import source as source_loader
from . import status

if TYPE_CHECKING:  # the core's output module brings Jinja2, which validate does not need
    from ..core.output import Composition, HandshakeChange

COMMANDS = ("validate", "plan", "generate", "publish")
MARKER = "<!-- fleet-handshake-plan -->"  # finds the pull request comment to update
TITLE = "fleet-handshake"
PLAN_MARKDOWN = "fleet-handshake-plan.md"
PLAN_JSON = "fleet-handshake-plan.json"
# A step's job summary holds at most 1 MiB; a character is at most 4 bytes of UTF-8.
SUMMARY_LIMIT = 1024 * 1024 // 4
SUMMARY_FULL_PLAN = ("The full plan is the JSON plan: the Action's `plan-json` output (the example workflow keeps "
                     "it as the `fleet-handshake-plan` artifact).")  # fmt: skip
PROBLEMS_LEFT_OUT = ("- ... and {count:,} more, left out to keep this within GitHub's size limit: "
                     "`fleet-handshake validate` lists every problem")  # fmt: skip
SHALLOW_WARNING = (
    "the source checkout is shallow: publish may not be able to tell whether its commit is newer than the "
    "one the published output came from, and then refuses (exit 5). Check the source out with "
    "actions/checkout and fetch-depth: 0"
)

Echo = Callable[[str], None]
Base = Callable[[Problem], Path]  # the folder a problem's file is relative to


@dataclass(frozen=True)
class ActionArgs:
    command: str
    source: Path
    out: Path
    inventory: Path | None = None
    mode: str | None = None  # None: the mode SOURCE's config names, as for the commands
    against: str | None = None
    repo_root: Path = Path()
    allow_removals: bool = False
    allow_unordered: bool = False
    context: str | None = None  # downstream mode: the management cluster (generate, publish)
    kubeconfig: str | None = None
    branch: str | None = None  # publish: as `publish --branch`, `--remote` and `--message`
    remote: str | None = "origin"
    message: str | None = None
    wait: float | None = None  # publish: seconds to wait for Fleet to report the pushed commit Ready


def check_args(args: ActionArgs) -> None:
    if args.command not in COMMANDS:
        raise UsageError(f"--command {args.command!r} is not one of: {', '.join(COMMANDS)}")
    if args.mode is not None and args.mode not in NAMES:
        raise UsageError(f"--mode {args.mode!r} is not one of: {', '.join(NAMES)}")


def repo_path(file: str, base: Path, repo_root: Path) -> str:
    """`file` (relative to `base`, or absolute) relative to the repository, as annotations want it."""
    full = (base.resolve() / file).resolve()
    try:
        return full.relative_to(repo_root.resolve()).as_posix()
    except ValueError:
        return full.as_posix()


def _md(text: str) -> str:
    """Text for Markdown: one line, and no HTML that would render in a comment."""
    return text.replace("\r", " ").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    return "`" + _md(text).replace("`", "'") + "`"


def problems_markdown(problems: Sequence[Problem], base: Base, repo_root: Path, limit: int = SUMMARY_LIMIT) -> str:
    """The problems as a list, within `limit` characters: those left out are counted (a source
    with hundreds of broken files would make a comment GitHub refuses, leaving the last plan up)."""
    count = len(problems)
    lines = [MARKER, f"### {TITLE}: {count} problem{'s' if count != 1 else ''} in the source", ""]
    lines.append("Nothing was planned, generated or published. Fix these and push again:")
    lines.append("")
    used = sum(len(line) + 1 for line in lines) + len(PROBLEMS_LEFT_OUT.format(count=count)) + 1
    for shown, p in enumerate(problems):
        where = repo_path(p.file, base(p), repo_root) + (f":{p.line}" if p.line is not None else "")
        path = f" {_code(p.path)}" if p.path else ""
        item = f"- {_code(where)}{path}: {_md(p.message)}"
        used += len(item) + 1
        if used > limit:
            lines.append(PROBLEMS_LEFT_OUT.format(count=count - shown))
            break
        lines.append(item)
    return "\n".join(lines) + "\n"


class _Action:
    def __init__(self, args: ActionArgs, runner: github.Runner, environ: Mapping[str, str], echo: Echo) -> None:
        self.args, self.runner, self.environ, self.echo = args, runner, environ, echo

    def say(self, text: str) -> None:
        print(github.neutralize(text), file=sys.stderr)

    def temp_dir(self) -> Path:
        folder = Path(self.environ.get("RUNNER_TEMP") or tempfile.gettempdir())
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def base(self, problem: Problem) -> Path:
        """Source files are named relative to the source; the inventory as given on the command line."""
        inventory = self.args.inventory
        return Path.cwd() if inventory is not None and problem.file == str(inventory) else self.args.source

    def fail_on_problems(self, problems: Sequence[Problem]) -> int:
        for p in problems:
            message = f"{p.path}: {p.message}" if p.path else p.message
            file = repo_path(p.file, self.base(p), self.args.repo_root)
            self.echo(github.annotation("error", message, file=file, line=p.line, title=TITLE))
        self.runner.append_summary(problems_markdown(problems, self.base, self.args.repo_root))
        outputs = {"changed": "false"}
        if self.args.command == "plan":  # so the pull request comment says why there is no plan
            from ..core.plancomment import COMMENT_LIMIT

            path = self.temp_dir() / PLAN_MARKDOWN
            limit = COMMENT_LIMIT - len(MARKER) - 1  # as the plan's: a workflow may add the marker
            markdown = problems_markdown(problems, self.base, self.args.repo_root, limit=limit)
            path.write_text(markdown, encoding="utf-8")
            (path.parent / PLAN_JSON).unlink(missing_ok=True)  # no plan: no stale one either
            outputs["plan-markdown"] = str(path)
        self.runner.set_outputs(outputs)
        return EXIT_FAILED

    def plan_failed(self, reason: str) -> dict[str, str]:
        """The comment for a plan that stopped on an error: why, not the last plan left standing
        for a commit it does not describe. Error messages name files and paths, never a value."""
        from ..core.plancomment import COMMENT_LIMIT

        text = f"{MARKER}\n### {TITLE}: the plan failed\n\nNothing was planned: {_md(reason)}\n"
        try:
            path = self.temp_dir() / PLAN_MARKDOWN
            path.write_text(text[:COMMENT_LIMIT], encoding="utf-8")
            (path.parent / PLAN_JSON).unlink(missing_ok=True)
        except OSError:  # a full disk: the step fails all the same, on the first error
            return {}
        return {"plan-markdown": str(path)}

    def not_synced(self, changes: Iterable[HandshakeChange], loaded: source_loader.LoadedSource) -> None:
        files = {(h.workspace, h.name): h.file for h in loaded.source.handshakes}
        for c in changes:
            if c.status is Status.SYNCED:
                continue
            file = files.get((c.workspace, c.name))
            where = repo_path(file, loaded.root, self.args.repo_root) if file else None
            message = f"handshake {c.workspace}/{c.name} is {c.status.value}: {c.message}"
            self.echo(github.annotation("error", message, file=where, title=TITLE))

    def run(self) -> int:
        a = self.args
        try:
            loaded = source_loader.load(a.source, a.out)
        except InvalidInputs as e:
            return self.fail_on_problems(e.problems)
        if a.command == "validate":
            hs, secrets = len(loaded.source.handshakes), len(loaded.source.secrets)
            self.runner.append_summary(
                f"### {TITLE} validate\n\n**ok: {hs} handshake(s), {secrets} encrypted Secret(s)**\n"
            )
            self.runner.set_outputs({"changed": "false"})
            return EXIT_OK
        if a.command == "plan":
            return self.plan(loaded)
        if a.command == "generate":
            return self.generate(loaded)
        return self.publish(loaded)

    def plan(self, loaded: source_loader.LoadedSource) -> int:
        from ..core import plancomment, planreport
        from . import plan as plan_app

        a = self.args
        try:
            plan = plan_app.compute(a.source, a.out, against=a.against or None, inventory=a.inventory, sops_binary=None,
                                    mode=a.mode, allow_removals=a.allow_removals)  # fmt: skip
        except InvalidInputs as e:  # problems in the inventory
            return self.fail_on_problems(e.problems)
        # The comment fits GitHub's limit whatever the plan's size (the renderer leaves detail out
        # in a planned order and says so); the job summary holds more, the JSON plan everything.
        limit = plancomment.COMMENT_LIMIT - len(MARKER) - 1
        markdown = f"{MARKER}\n{planreport.to_markdown(plan, limit=limit, full_plan=self.full_plan())}"
        folder = self.temp_dir()
        md_path, json_path = folder / PLAN_MARKDOWN, folder / PLAN_JSON
        md_path.write_text(markdown, encoding="utf-8")
        json_path.write_text(planreport.to_json(plan), encoding="utf-8")
        self.runner.append_summary(planreport.to_markdown(plan, limit=SUMMARY_LIMIT, full_plan=SUMMARY_FULL_PLAN))
        self.runner.set_outputs(
            {
                "changed": "true" if plan.has_changes else "false",
                "plan-json": str(json_path),
                "plan-markdown": str(md_path),
            }
        )
        for conflict in plan.conflicts:
            self.echo(github.annotation("error", f"{conflict.kind}: {conflict.message}", title=TITLE))
        if plan.removals is not None and plan.removals.refused:
            self.echo(github.annotation("error", planreport.guard_text(plan) or "", title=TITLE))
        self.not_synced(plan.handshakes, loaded)
        self.say(planreport.headline(plan))
        code = plan_app.exit_code(plan)
        # A pull request check passes when there are changes: that is what pull requests are for.
        return EXIT_OK if code == EXIT_CHANGES else code

    def full_plan(self) -> str:
        """Where a shortened comment's reader finds the rest: this run's job summary, linked when known."""
        env = self.environ
        server, repo, run_id = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
        summary = f"[this run's job summary]({server}/{repo}/actions/runs/{run_id})" if server and repo and run_id \
            else "this run's job summary"  # fmt: skip
        return (f"The rest is in {summary}, all of it in the JSON plan (the Action's `plan-json` output; the "
                "example workflow keeps it as the `fleet-handshake-plan` artifact).")  # fmt: skip

    def generate(self, loaded: source_loader.LoadedSource) -> int:
        from . import downstream
        from . import generate as generate_app

        a = self.args
        kube = downstream.KubeOptions(context=a.context, kubeconfig=a.kubeconfig)
        result = generate_app.generate(a.source, a.out, say=self.say, mode=a.mode, kube=kube,
                                       allow_removals=a.allow_removals)  # fmt: skip
        comp = result.composition
        changed = bool(result.changed_files)
        detail = f"wrote {len(result.changed_files)} changed file(s)" if changed else "no changes: up to date"
        self.finish("generate", comp, detail, changed, loaded)
        return result.exit_code

    def publish(self, loaded: source_loader.LoadedSource) -> int:
        from ..adapters import git as gitx
        from . import publish as publish_app

        a = self.args
        checkout = gitx.SourceCheckout.find(a.source)
        if checkout is not None and checkout.is_shallow():
            self.echo(github.annotation("warning", SHALLOW_WARNING, title=TITLE))
        fleet = None if a.wait is None else status.reader(a.context, a.kubeconfig)  # a bad kubeconfig fails first
        result = publish_app.publish(a.source, a.out, branch=a.branch, remote=a.remote, message=a.message, say=self.say,
                                     mode=a.mode, context=a.context, kubeconfig=a.kubeconfig,
                                     allow_unordered=a.allow_unordered, allow_removals=a.allow_removals)  # fmt: skip
        self.finish("publish", result.composition, result.outcome(), bool(result.commits), loaded)
        report = publish_app.watch_pushed(fleet, result, a.wait, status.DEFAULT_INTERVAL)
        if report is None or a.wait is None:
            return result.exit_code
        self.say(statusreport.to_text(report))
        self.runner.append_summary(statusreport.to_markdown(report))
        if report.ready:
            return EXIT_OK
        self.echo(github.annotation("error", status.timed_out(report, a.wait), title=TITLE))
        return EXIT_NOT_READY

    def finish(
        self, command: str, comp: Composition | None, detail: str, changed: bool, loaded: source_loader.LoadedSource
    ) -> None:
        changes = comp.changes if comp is not None else ()
        counts = {s: sum(1 for c in changes if c.status is s) for s in Status}
        total = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n) or "none"
        lines = [f"### {TITLE} {command}", "", f"**{len(changes)} handshake(s): {total}; {_md(detail)}**", ""]
        for c in changes:
            if c.status is not Status.SYNCED:
                lines.append(f"- **{c.status.value}** {_code(f'{c.workspace}/{c.name}')}: {_md(c.message)}")
        for r in comp.removed if comp is not None else ():
            what = f"bundle {_code(r.path)}" if r.kind == "bundle" else f"management-cluster Secret {_code(r.path)}"
            lines.append(f"- **removed** {what} of {_code(r.handshake)}: its handshake or target is gone")
        self.runner.append_summary("\n".join(lines) + "\n")
        self.runner.set_outputs({"changed": "true" if changed else "false"})
        self.not_synced(changes, loaded)
        self.say(detail)


def run(
    args: ActionArgs,
    *,
    environ: Mapping[str, str] | None = None,
    echo: Echo = print,
) -> int:
    check_args(args)
    env = os.environ if environ is None else environ
    runner = github.Runner.from_env(env)
    action = _Action(args, runner, env, echo)
    try:
        return action.run()
    except FleetHandshakeError as e:
        # Error messages name files and paths only; surface them where the pull request shows them.
        echo(github.annotation("error", str(e), title=TITLE))
        runner.set_outputs({"changed": "false", **(action.plan_failed(str(e)) if args.command == "plan" else {})})
        raise
    except Exception as e:
        # Not one of ours (exit 3; 1 for a full disk and the like): its text could hold anything,
        # so only its type. A step that stopped on an error changed nothing to act on.
        stopped = f"stopped on an error ({type(e).__name__}); see the log"
        echo(github.annotation("error", stopped, title=TITLE))
        runner.set_outputs({"changed": "false", **(action.plan_failed(stopped) if args.command == "plan" else {})})
        raise
