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
from typing import Any

import pytest
import yaml

from fhtest import REPO, SourceRepo, handshake, run_cli, secret
from fleethandshake.adapters import github
from ghrunner import Runner

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
        "examples/github-workflows/fleet-handshake-private-output.yml",
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


@pytest.mark.parametrize("name", ["fleet-handshake-plan.yml", "fleet-handshake-private-output.yml"])
def test_the_example_workflows_post_the_comment_as_the_action_wrote_it(name: str) -> None:
    """The plan fits GitHub's comment limit and says what it left out: a workflow that cut it again
    would cut inside a block and lose that note (issue 15). The whole plan is kept as an artifact."""
    workflow = yaml.safe_load((REPO / "examples/github-workflows" / name).read_text())
    steps = workflow["jobs"]["plan"]["steps"]
    script = next(s for s in steps if s.get("uses", "").startswith("actions/github-script"))["with"]["script"]
    assert not re.search(r"\.(slice|substring|substr)\(|length\s*>", script), script
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "${{ steps.plan.outputs.plan-json }}"


def _uses_of_the_action(*jobs: dict[str, Any]) -> list[dict[str, Any]]:
    steps = [step for job in jobs for step in job.get("steps", [])]
    return [s for s in steps if "/.github/actions/fleet-handshake@" in s.get("uses", "")]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_give_the_action_only_inputs_it_declares(path: Path) -> None:
    action = yaml.safe_load((REPO / ".github/actions/fleet-handshake/action.yml").read_text())
    workflow = yaml.safe_load(path.read_text())
    for step in _uses_of_the_action(*workflow["jobs"].values()):
        assert set(step.get("with", {})) <= set(action["inputs"]), step
        assert step.get("with", {}).get("command", "plan") in ("validate", "plan", "generate", "publish")
        if "id" in step:  # a later step reads only outputs the action declares
            read = re.findall(rf"steps\.{re.escape(step['id'])}\.outputs\.([a-z-]+)", path.read_text())
            assert set(read) <= set(action["outputs"]), read


def test_the_action_reads_only_inputs_it_declares_and_uses_each() -> None:
    text = (REPO / ".github/actions/fleet-handshake/action.yml").read_text()
    action = yaml.safe_load(text)
    used = set(re.findall(r"\$\{\{ inputs\.([A-Za-z0-9_-]+) \}\}", text))
    assert used == set(action["inputs"])


def test_the_private_output_example_plans_against_and_publishes_to_the_output_repository() -> None:
    workflow = yaml.safe_load((REPO / "examples/github-workflows/fleet-handshake-private-output.yml").read_text())
    for job in workflow["jobs"].values():
        checkouts = [s["with"] for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@") and
                     "repository" in s.get("with", {})]  # fmt: skip
        assert len(checkouts) == 1 and {"ssh-key", "path"} <= set(checkouts[0])
        (uses,) = _uses_of_the_action(job)
        assert uses["with"]["out"].startswith(checkouts[0]["path"] + "/")
        if uses["with"]["command"] == "plan":
            assert uses["with"]["against"] == f"origin/{checkouts[0]['ref']}"
        else:
            assert uses["with"]["command"] == "publish" and uses["with"]["branch"] == checkouts[0]["ref"]


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
    clear = "::error file=source/secrets/plain.yaml,line=7,"  # the line of its values, as check-secrets says
    assert any(x.startswith(clear) and "stringData: is in clear text" in x for x in lines)
    assert outputs["changed"] == "false"
    assert "plan-json" not in outputs
    summary = runner.summary.read_text()
    assert "2 problems in the source" in summary and "`source/handshakes/bad.yaml:13`" in summary
    assert Path(outputs["plan-markdown"]).read_text().startswith(MARKER)
    _assert_no_canary(runner.everything_written())


def test_a_source_with_hundreds_of_problems_gives_a_comment_github_accepts(
    repo: SourceRepo, key_env: dict[str, str], tmp_path: Path
) -> None:
    """GitHub refuses a comment over 65,536 characters: the example workflow's update would fail
    and leave the last plan standing on the pull request. The problems are counted, not cut."""
    bad = [handshake(f"Bad_{i}", "s", [{"clusterName": "c1"}]) for i in range(600)]  # not DNS-1123 names
    repo.handshakes("handshakes/all.yaml", *bad)
    runner = Runner(tmp_path / "runner")
    result, outputs = runner.action(key_env, "--command", "plan", "--source", repo.root, "--out", tmp_path / "out",
                                    "--repo-root", tmp_path)  # fmt: skip

    assert result.code == 1
    assert result.stdout.count("::error file=source/handshakes/all.yaml,") == 600  # every one annotated
    comment = Path(outputs["plan-markdown"]).read_text()
    assert comment.startswith(MARKER) and len(comment) <= 60_000
    assert "600 problems in the source" in comment
    listed = comment.count("- `source/handshakes/all.yaml:")
    assert 0 < listed < 600 and f"... and {600 - listed} more" in comment and "fleet-handshake validate" in comment
    summary = runner.summary.read_text()
    assert summary.count("- `source/handshakes/all.yaml:") == 600  # the job summary holds 1 MiB: all of them


def test_action_refuses_a_mode_that_does_not_exist(repo: SourceRepo, tmp_path: Path) -> None:
    result = run_cli(
        "action", "--command", "validate", "--source", repo.root, "--out", tmp_path / "o", "--mode", "sealed"
    )
    assert result.code == 2
    assert re.search(
        r"--mode: invalid choice: 'sealed' \(choose from '?plain'?, '?downstream'?, '?sops'?\)", result.stderr
    )


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
        # validate reads YAML sources; the leak check also JSON manifests, which kubectl, Helm and Fleet read
        assert bool(re.search(hook["files"], "d.json")) is (hook["id"] == "fleet-handshake-no-plaintext-secrets")
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
