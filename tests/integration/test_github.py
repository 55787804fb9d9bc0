"""GitHub integration: the composite action, example workflows, pre-commit hooks, check-secrets.

The action's script runs end to end as the runner runs it: a child process with the runner's
files ($GITHUB_STEP_SUMMARY, $GITHUB_OUTPUT, $RUNNER_TEMP) and the real sops binary.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fhtest import REPO, Run, SourceRepo, handshake, run_cli, secret
from fleethandshake.adapters import github

CANARY = "fh-canary-7d41c9e2-do-not-print"
MARKER = "<!-- fleet-handshake-plan -->"
WORKFLOWS = sorted(
    [*REPO.glob(".github/workflows/*.yml"), *REPO.glob("examples/github-workflows/*.yml")],
)
ACTIONS = sorted(REPO.glob(".github/actions/*/action.yml"))
BAD_OPERATOR = """apiVersion: riverpointtechnology.com/v1alpha1
kind: FleetHandshake
metadata:
  name: demo
spec:
  secretName: s
  secretNamespace: default
  targetNamespace: apps
  targets:
    - clusterSelector:
        matchExpressions:
          - key: env
            operator: Equals
            values: [prod]
"""
PLAIN_SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: p\n  namespace: default\nstringData:\n  k: v\n"


def _check_jsonschema() -> list[str]:
    script = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "check_jsonschema"]


@pytest.mark.parametrize(
    ("path", "schema"),
    [(p, "vendor.github-workflows") for p in WORKFLOWS] + [(p, "vendor.github-actions") for p in ACTIONS],
    ids=lambda v: str(v.relative_to(REPO)) if isinstance(v, Path) else v,
)
def test_workflow_and_action_files_match_githubs_schemas(path: Path, schema: str) -> None:
    proc = subprocess.run(
        [*_check_jsonschema(), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_files_to_check_are_all_there() -> None:
    names = {p.relative_to(REPO).as_posix() for p in [*WORKFLOWS, *ACTIONS]}
    assert {
        ".github/workflows/ci.yml",
        ".github/actions/fleet-handshake/action.yml",
        "examples/github-workflows/fleet-handshake-plan.yml",
        "examples/github-workflows/fleet-handshake-publish.yml",
    } <= names


def test_ci_workflow_runs_the_ci_script() -> None:
    text = (REPO / ".github/workflows/ci.yml").read_text()
    assert re.search(r"^\s*- run: bash \.ci/run\s*$", text, re.MULTILINE)


def test_action_never_pastes_inputs_into_shell_text() -> None:
    action = yaml.safe_load((REPO / ".github/actions/fleet-handshake/action.yml").read_text())
    for step in action["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step
    assert set(action["outputs"]) >= {"changed", "plan-json"}
    run = next(s for s in action["runs"]["steps"] if s.get("id") == "run")
    assert "--repo-root=$GITHUB_WORKSPACE" in run["run"]


def test_the_example_plan_workflow_posts_the_comment_as_the_action_wrote_it() -> None:
    """The plan fits GitHub's comment limit and says what it left out: a workflow that cut it again
    would cut inside a block and lose that note (issue 15). The whole plan is kept as an artifact."""
    workflow = yaml.safe_load((REPO / "examples/github-workflows/fleet-handshake-plan.yml").read_text())
    steps = workflow["jobs"]["plan"]["steps"]
    script = next(s for s in steps if s.get("uses", "").startswith("actions/github-script"))["with"]["script"]
    assert not re.search(r"\.(slice|substring|substr)\(|length\s*>", script), script
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "${{ steps.plan.outputs.plan-json }}"


def test_annotation_escapes_message_and_properties() -> None:
    line = github.annotation("error", "100% sure\nsecond\rline", file="a,b:c.yaml", line=7, title="t:1,2")
    assert line == "::error file=a%2Cb%3Ac.yaml,line=7,title=t%3A1%2C2::100%25 sure%0Asecond%0Dline"
    assert "\n" not in line


def test_multiline_output_uses_a_random_delimiter() -> None:
    assert github.output_line("changed", "true") == "changed=true\n"
    text = github.output_line("body", "a\nb")
    head, _, rest = text.partition("\n")
    name, delimiter = head.split("<<")
    assert name == "body" and len(delimiter) > 20
    assert rest == f"a\nb\n{delimiter}\n"
    assert github.output_line("body", "a\nb") != text


def test_log_lines_cannot_become_workflow_commands() -> None:
    assert (
        github.neutralize("ok\n  ::set-output name=x::y\n::add-mask::z")
        == "ok\n  : :set-output name=x::y\n: :add-mask::z"
    )


def _outputs(path: Path) -> dict[str, str]:
    """$GITHUB_OUTPUT read as the runner reads it: `name=value` and `name<<DELIM` blocks, last wins."""
    found: dict[str, str] = {}
    lines = iter(path.read_text().splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value = []
            for item in lines:
                if item == delimiter:
                    break
                value.append(item)
            found[name] = "\n".join(value)
        else:
            name, _, value_text = line.partition("=")
            found[name] = value_text
    return found


class Runner:
    """The files a GitHub runner gives a step, in a temp folder."""

    def __init__(self, root: Path) -> None:
        self.summary = root / "summary.md"
        self.output = root / "output.txt"
        self.temp = root / "runner-temp"
        self.temp.mkdir(parents=True)
        self.runs: list[Run] = []

    def env(self, key_env: dict[str, str]) -> dict[str, str]:
        return {
            **key_env,
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_OUTPUT": str(self.output),
            "RUNNER_TEMP": str(self.temp),
        }

    def action(self, key_env: dict[str, str], *args: str | Path) -> tuple[Run, dict[str, str]]:
        self.output.write_text("")  # each step gets a fresh outputs file
        result = run_cli("action", *args, env=self.env(key_env))
        self.runs.append(result)
        return result, _outputs(self.output)

    def everything_written(self) -> str:
        texts = [r.stdout + r.stderr for r in self.runs]
        texts += [p.read_text() for p in (self.summary, self.output) if p.exists()]
        texts += [p.read_text() for p in self.temp.iterdir()]
        return "\n".join(texts)


def _assert_no_canary(text: str) -> None:
    raw = CANARY.encode()
    for form in (CANARY, base64.b64encode(raw).decode(), raw.hex(), raw.hex().upper()):
        assert form not in text


def test_action_plan_then_generate_end_to_end(repo: SourceRepo, key_env: dict[str, str], tmp_path: Path) -> None:
    repo.handshakes("handshakes/db.yaml", handshake("db", "db-creds", [{"clusterName": "c1"}, {"clusterGroup": "eu"}]))
    repo.encrypted("secrets/db.yaml", secret("db-creds", stringData={"password": CANARY}))
    out = tmp_path / "out"
    runner = Runner(tmp_path / "runner")
    common = ("--source", repo.root, "--out", out, "--repo-root", tmp_path)

    result, outputs = runner.action(key_env, "--command", "plan", *common)
    assert result.code == 0, result.stderr  # changes: a pull request check still passes
    summary = runner.summary.read_text()
    assert "### fleet-handshake plan\n\n**1 Secret changes in 2 bundles in fleet-default**: 🟢 2 added" in summary
    assert outputs["changed"] == "true"
    plan = json.loads(Path(outputs["plan-json"]).read_text())
    assert isinstance(plan["bundles"], list) and len(plan["bundles"]) == 2
    assert Path(outputs["plan-json"]).parent == runner.temp
    markdown = Path(outputs["plan-markdown"]).read_text()
    assert markdown.startswith(MARKER + "\n") and "password" in markdown

    result, outputs = runner.action(key_env, "--command", "generate", *common)
    assert result.code == 0, result.stderr
    assert outputs["changed"] == "true"
    assert "### fleet-handshake generate" in runner.summary.read_text()

    result, outputs = runner.action(key_env, "--command", "plan", *common)
    assert result.code == 0, result.stderr
    assert outputs["changed"] == "false"
    assert json.loads(Path(outputs["plan-json"]).read_text())["summary"]["changed"] is False
    result, outputs = runner.action(key_env, "--command", "plan", *common, "--against", "")
    assert result.code == 0, result.stderr  # an empty --against (an unset workflow input) names no ref
    assert outputs["changed"] == "false"

    result, outputs = runner.action(key_env, "--command", "validate", *common)
    assert result.code == 0 and outputs["changed"] == "false"
    _assert_no_canary(runner.everything_written())


def test_action_plan_fails_on_a_secret_it_cannot_decrypt(repo: SourceRepo, tmp_path: Path) -> None:
    repo.handshakes("hs.yaml", handshake("db", "db-creds", [{"clusterName": "c1"}]))
    repo.encrypted("secrets/db.yaml", secret("db-creds", stringData={"password": CANARY}))
    runner = Runner(tmp_path / "runner")
    result, outputs = runner.action({}, "--command", "plan", "--source", repo.root, "--out", tmp_path / "out",
                                    "--repo-root", tmp_path)  # fmt: skip
    assert result.code == 1
    assert "::error file=source/hs.yaml,title=fleet-handshake::handshake fleet-default/db is Error" in result.stdout
    assert outputs["changed"] == "false"
    _assert_no_canary(runner.everything_written())


def test_action_reports_each_problem_as_an_annotation(
    repo: SourceRepo, key_env: dict[str, str], tmp_path: Path
) -> None:
    repo.write("handshakes/bad.yaml", BAD_OPERATOR)
    repo.write("secrets/plain.yaml", PLAIN_SECRET.replace("k: v", f"k: {CANARY}"))
    runner = Runner(tmp_path / "runner")
    result, outputs = runner.action(key_env, "--command", "plan", "--source", repo.root, "--out", tmp_path / "out",
                                    "--repo-root", tmp_path)  # fmt: skip
    assert result.code == 1
    lines = result.stdout.splitlines()
    assert (
        "::error file=source/handshakes/bad.yaml,line=13,title=fleet-handshake::"
        "spec.targets[0].clusterSelector.matchExpressions[0].operator: must be one of DoesNotExist, Exists, In, NotIn"
    ) in lines
    assert any(x.startswith("::error file=source/secrets/plain.yaml,line=1,") for x in lines)
    assert outputs["changed"] == "false"
    assert "plan-json" not in outputs
    summary = runner.summary.read_text()
    assert "2 problems in the source" in summary and "`source/handshakes/bad.yaml:13`" in summary
    assert Path(outputs["plan-markdown"]).read_text().startswith(MARKER)
    _assert_no_canary(runner.everything_written())


def test_action_accepts_only_the_plain_mode(repo: SourceRepo, tmp_path: Path) -> None:
    result = run_cli(
        "action", "--command", "validate", "--source", repo.root, "--out", tmp_path / "o", "--mode", "sops"
    )
    assert result.code == 2
    assert "supported modes: plain" in result.stderr


def test_pre_commit_hooks_name_real_subcommands() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    by_id = {h["id"]: h for h in hooks}
    assert set(by_id) == {"fleet-handshake-validate", "fleet-handshake-no-plaintext-secrets"}
    assert by_id["fleet-handshake-validate"]["pass_filenames"] is False
    assert by_id["fleet-handshake-validate"]["args"] == ["."]
    assert by_id["fleet-handshake-no-plaintext-secrets"]["pass_filenames"] is True
    for hook in hooks:
        assert hook["language"] == "python"
        assert re.search(hook["files"], "a/b.yaml") and re.search(hook["files"], "c.yml")
        assert not re.search(hook["files"], "d.json")
        program, *sub = hook["entry"].split()
        assert program == "fleet-handshake"
        result = run_cli(*sub, "--help")
        assert result.code == 0, (hook["id"], result.stderr)


def test_check_secrets_refuses_clear_text(repo: SourceRepo) -> None:
    plain = repo.write("secrets/plain.yaml", PLAIN_SECRET.replace("k: v", f"k: {CANARY}"))
    result = run_cli("check-secrets", plain)
    assert result.code == 1
    assert f"{plain}:7 (document 0) stringData: is in clear text" in result.stderr  # the line of its value
    _assert_no_canary(result.stdout + result.stderr)


def test_check_secrets_catches_a_key_left_unencrypted(repo: SourceRepo) -> None:
    path = repo.encrypted("s.yaml", secret("s", stringData={"a": "x", "b": "y"}))
    text = path.read_text()
    first = re.search(r"ENC\[[^\]]*\]", text)
    assert first is not None
    path.write_text(text.replace(first.group(0), CANARY, 1))
    result = run_cli("check-secrets", path)
    assert result.code == 1
    assert "stringData.a: is not encrypted" in result.stderr
    _assert_no_canary(result.stdout + result.stderr)


def test_check_secrets_passes_encrypted_secrets_and_other_yaml(repo: SourceRepo) -> None:
    files = [
        repo.encrypted("secrets/ok.yaml", secret("ok", stringData={"k": "v"})),
        repo.write("handshakes/bad.yaml", BAD_OPERATOR),  # invalid, but not a Secret
        repo.write("other.yaml", "kind: ConfigMap\ndata:\n  k: v\n---\nfoo: [1, 2]\n"),
        repo.write("empty-secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: e, namespace: d}\n"),
    ]
    result = run_cli("check-secrets", *files)
    assert result.code == 0, result.stderr
    assert run_cli("check-secrets").code == 0


def test_check_secrets_fails_closed_on_what_it_cannot_read(repo: SourceRepo) -> None:
    """Any document of a file it cannot read may be a clear-text Secret: the file fails."""
    broken = repo.write("broken.yaml", "a: [\n")
    binary = repo.write("binary.yaml", "a: \0\n")
    result = run_cli("check-secrets", broken, binary)
    assert result.code == 1
    assert f"{broken}:2: not valid YAML" in result.stderr
    assert f"{binary}: is a binary file, not YAML" in result.stderr
