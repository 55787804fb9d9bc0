"""The GitHub Action as a workflow runs it: action.yml's own shell steps under bash, with inputs as a
workflow's `with:` gives them, the real CLI, real sops, real git (a bare output repository) and the
loopback API server for downstream mode. And the exit codes: plan's 10 for changes, 3 for an
unexpected error, and what the Action makes of each."""

from __future__ import annotations

import gc
import hashlib
import json
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

import fakekube
from fakekube import FakeKube, write_kubeconfig
from fhtest import GIT_ENV, REPO, AgeKey, SourceRepo, clone, git, handshake, make_age_key, read_tree, run_cli, secret
from fleethandshake import cli
from fleethandshake.core import planreport
from fleethandshake.errors import EXIT_CHANGES, EXIT_OK, EXIT_UNEXPECTED
from ghrunner import Runner, step_outputs

fake_kube = fakekube.fake_kube
VALUE = "action-canary-Qx71"
MODE_FILE = {"plain": "secret.yaml", "sops": "sopssecret.yaml", "downstream": "marker.yaml"}


@pytest.fixture(scope="module")
def cluster_key(tmp_path_factory: pytest.TempPathFactory) -> AgeKey:
    return make_age_key(tmp_path_factory.mktemp("cluster-key"), "c1")


def sops_source(repo: SourceRepo, cluster: AgeKey) -> None:
    """A source whose config says sops mode, with the recipients that mode needs."""
    repo.sops_mode(cluster)
    repo.handshakes("hs.yaml", handshake("db", "db-creds", [{"clusterName": "c1"}]))
    repo.encrypted("db.yaml", secret("db-creds", stringData={"password": VALUE}))


def bundle_files(out: Path) -> set[str]:
    return {p.rsplit("/", 1)[1] for p in read_tree(out) if p.startswith("fleet-default/")}


@pytest.mark.parametrize("mode", ["", "plain", "sops", "downstream"])
def test_the_mode_input_means_what_the_commands_mode_option_means(
    mode: str, repo: SourceRepo, cluster_key: AgeKey, tmp_path: Path, key_env: dict[str, str], fake_kube: FakeKube
) -> None:
    sops_source(repo, cluster_key)
    # The kubeconfig's current context reaches no server: only the `context` input makes downstream work.
    contexts = {"mgmt": fake_kube, "other": fakekube.closed_port_url()}
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", contexts, "other")
    runner = Runner(tmp_path / "runner")
    inputs = {"source": "source", "out": "out", "mode": mode, "kubeconfig": str(kubeconfig), "context": "mgmt"}

    result, outputs = runner.step("run", {**inputs, "command": "generate"}, tmp_path, key_env)

    assert result.code == 0, result.stderr
    assert outputs["changed"] == "true"
    expected = MODE_FILE[mode or "sops"]  # empty: the mode the source's config names
    assert bundle_files(tmp_path / "out") == {"fleet.yaml", expected}
    cli_args = ["--mode", mode] if mode else []
    by_cli = run_cli("generate", repo.root, "--out", tmp_path / "cli-out", *cli_args, "--kubeconfig", kubeconfig,
                     "--context", "mgmt", env=key_env)  # fmt: skip
    assert by_cli.code == 0, by_cli.stderr
    assert bundle_files(tmp_path / "cli-out") == bundle_files(tmp_path / "out")
    if mode == "downstream":  # through the context the input named
        assert fake_kube.secret_values("fleet-default", "db-creds") == {"password": VALUE}

    # A plan in another mode than the output's: the same plan as the command's, with the same option.
    other = "plain" if expected != "secret.yaml" else "sops"
    result, outputs = runner.step("run", {**inputs, "command": "plan", "mode": other}, tmp_path, key_env)
    assert result.code == 0, result.stderr
    assert outputs["changed"] == "true"
    by_cli = run_cli("plan", repo.root, "--out", tmp_path / "out", "--mode", other, "--format", "json", env=key_env)
    assert by_cli.code == EXIT_CHANGES, by_cli.stderr
    assert json.loads(Path(outputs["plan-json"]).read_text()) == json.loads(by_cli.stdout)
    assert VALUE not in runner.everything_written()


def test_a_private_output_repository_checked_out_beside_the_source(
    age_key: AgeKey, remote: Path, tmp_path: Path, key_env: dict[str, str]
) -> None:
    """examples/github-workflows/fleet-handshake-private-output.yml: the source at the workspace
    root, the output repository checked out into the hidden folder .fleet-bundles, plan against its
    branch, publish to it with branch, remote and message."""
    workspace = tmp_path / "workspace"
    source = SourceRepo(workspace, age_key)
    source.handshakes("hs.yaml", handshake("db", "db-creds", [{"clusterName": "c1"}, {"clusterGroup": "eu"}]))
    source.encrypted("secrets/db.yaml", secret("db-creds", stringData={"password": VALUE}))
    git(workspace, "init", "--quiet", "--initial-branch=main")
    git(workspace, "add", ".")
    git(workspace, "commit", "--quiet", "-m", "source")
    clone(remote, workspace / ".fleet-bundles")
    env = {**key_env, **GIT_ENV}
    runner = Runner(tmp_path / "runner")
    common = {"source": ".", "out": ".fleet-bundles/bundles"}

    result, outputs = runner.step("run", {**common, "command": "plan", "against": "origin/main"}, workspace, env)

    assert result.code == 0, result.stderr
    plan = json.loads(Path(outputs["plan-json"]).read_text())
    assert outputs["changed"] == "true" and plan["summary"]["added"] == 2

    message = "fleet-handshake: bundles of your-org/source@0123abc"
    publish = {**common, "command": "publish", "branch": "main", "remote": "origin", "message": message}
    result, outputs = runner.step("run", publish, workspace, env)

    assert result.code == 0, result.stderr
    assert outputs["changed"] == "true"
    subject, _, body = git(remote, "log", "-1", "--format=%B", "main").partition("\n\n")
    assert subject == message
    assert "added: fleet-default/db-" in body and "Fleet-Handshake-Source-Commit: " in body and VALUE not in body
    assert any(
        f.startswith("bundles/fleet-default/db-") for f in git(remote, "ls-tree", "-r", "--name-only", "main").split()
    )

    # The next pull request's run: a fresh checkout of the output repository, planned against its
    # branch, shows the bundles as they are, not as added.
    shutil.rmtree(workspace / ".fleet-bundles")
    clone(remote, workspace / ".fleet-bundles")
    result, outputs = runner.step("run", {**common, "command": "plan", "against": "origin/main"}, workspace, env)
    assert result.code == 0, result.stderr
    assert outputs["changed"] == "false"
    assert json.loads(Path(outputs["plan-json"]).read_text())["summary"]["unchanged"] == 2
    assert VALUE not in runner.everything_written()


def test_pip_cache_is_keyed_on_the_actions_own_pyproject(tmp_path: Path) -> None:
    """The action's checkout is outside the workspace of the repository that uses it."""
    runner = Runner(tmp_path / "runner")
    workspace = tmp_path / "someone-elses-repository"
    workspace.mkdir()

    result, outputs = runner.step("pip-cache", {}, workspace, {})

    assert result.code == 0, result.stderr
    assert outputs["key"] == hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()[:20]
    assert outputs["dir"]
    result, outputs = runner.step("pip-cache", {}, workspace, {"PIP_NO_CACHE_DIR": "1"})
    assert result.code == 0, result.stderr
    assert outputs["dir"] == ""  # then the cache step is skipped


# Exit codes: a plan with changes is 10, an unexpected error 3, for the command; the Action turns
# the 10 into success with `changed=true`, and fails with 3 and `changed=false` on the error.


@pytest.fixture
def in_process(repo: SourceRepo, key_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[SourceRepo]:
    """A source with one change to plan, and the key, for cli.main() in this process; what main()
    changes for the process is put back."""
    repo.handshakes("hs.yaml", handshake("db", "db-creds", [{"clusterName": "c1"}]))
    repo.encrypted("db.yaml", secret("db-creds", stringData={"password": VALUE}))
    for name, value in key_env.items():
        monkeypatch.setenv(name, value)
    thresholds, handler = gc.get_threshold(), signal.getsignal(signal.SIGTERM)
    yield repo
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    signal.signal(signal.SIGTERM, handler)


def _fail(*args: object, **kwargs: object) -> str:
    raise RuntimeError(VALUE)  # what an unexpected error says could be anything, a value too


def test_plan_exits_10_on_changes_and_3_on_an_unexpected_error(
    in_process: SourceRepo,
    tmp_path: Path,
    key_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["plan", str(in_process.root), "--out", str(tmp_path / "out")]
    assert cli.main(argv) == EXIT_CHANGES == 10  # the documented codes are a contract with scripts
    assert run_cli(*argv, env=key_env).code == EXIT_CHANGES  # the installed command too
    capsys.readouterr()

    monkeypatch.setattr(planreport, "to_text", _fail)
    assert cli.main(argv) == EXIT_UNEXPECTED == 3
    err = capsys.readouterr().err
    assert "unexpected error (RuntimeError); run with --debug for details" in err
    assert VALUE not in err


def test_the_action_maps_changes_to_success_and_an_unexpected_error_to_3(
    in_process: SourceRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    runner = Runner(tmp_path / "runner")
    for name, value in runner.env({}).items():
        monkeypatch.setenv(name, value)
    argv = ["action", "--command", "plan", "--source", str(in_process.root), "--out", str(tmp_path / "out")]

    assert cli.main(argv) == EXIT_OK
    assert step_outputs(runner.output)["changed"] == "true"
    capsys.readouterr()

    runner.output.write_text("")
    monkeypatch.setattr(planreport, "to_markdown", _fail)
    assert cli.main(argv) == EXIT_UNEXPECTED
    outputs = step_outputs(runner.output)
    assert set(outputs) == {"changed", "plan-markdown"} and outputs["changed"] == "false"
    comment = Path(outputs["plan-markdown"]).read_text()  # in place of the last plan: why there is none
    assert "stopped on an error (RuntimeError); see the log" in comment and VALUE not in comment
    printed = capsys.readouterr()
    assert "::error title=fleet-handshake::stopped on an error (RuntimeError); see the log" in printed.out
    assert VALUE not in printed.out + printed.err


@pytest.mark.parametrize("branch", ["-f", "HEAD", "my branch", "main:other"])
def test_a_branch_input_git_would_refuse_fails_the_step_with_a_clear_error(
    branch: str, age_key: AgeKey, remote: Path, tmp_path: Path, key_env: dict[str, str]
) -> None:
    workspace = tmp_path / "workspace"
    source = SourceRepo(workspace, age_key)
    source.handshakes("hs.yaml", handshake("db", "db-creds", [{"clusterName": "c1"}]))
    source.encrypted("secrets/db.yaml", secret("db-creds", stringData={"password": VALUE}))
    clone(remote, workspace / ".fleet-bundles")
    runner = Runner(tmp_path / "runner")
    inputs = {"source": ".", "out": ".fleet-bundles/bundles", "command": "publish", "branch": branch}

    result, outputs = runner.step("run", inputs, workspace, {**key_env, **GIT_ENV})

    # Before: `git checkout --orphan -f` failed half-way, an unexpected error (3), or a fetch of
    # `refs/heads/my branch` failed with a message about the remote.
    assert result.code == 2, result.stderr
    assert f"::error title=fleet-handshake::--branch {branch!r} " in result.stdout
    assert "unexpected error" not in result.stderr and outputs["changed"] == "false"
    assert git(remote, "branch", "--format=%(refname:short)").split() == ["main"]


def test_a_plan_that_stops_on_an_error_replaces_the_comment_with_why(
    age_key: AgeKey, tmp_path: Path, key_env: dict[str, str]
) -> None:
    """Not only invalid inputs: a plan that fails later (here a base ref the shallow checkout lacks)
    still gives a comment, so the last plan does not stay up for a commit it does not describe."""
    workspace = tmp_path / "workspace"
    source = SourceRepo(workspace, age_key)
    source.handshakes("hs.yaml", handshake("db", "db-creds", [{"clusterName": "c1"}]))
    source.encrypted("secrets/db.yaml", secret("db-creds", stringData={"password": VALUE}))
    git(workspace, "init", "--quiet", "--initial-branch=main")
    git(workspace, "add", ".")
    git(workspace, "commit", "--quiet", "-m", "source")
    runner = Runner(tmp_path / "runner")
    inputs = {"source": ".", "out": "bundles", "command": "plan"}
    result, outputs = runner.step("run", inputs, workspace, {**key_env, **GIT_ENV})
    assert result.code == 0, result.stderr
    assert Path(outputs["plan-json"]).is_file()

    result, outputs = runner.step("run", {**inputs, "against": "origin/main"}, workspace, {**key_env, **GIT_ENV})

    assert result.code == 1 and "git ref not found: origin/main" in result.stderr
    comment = Path(outputs["plan-markdown"]).read_text()
    assert comment.startswith("<!-- fleet-handshake-plan -->\n")
    assert "the plan failed" in comment and "git ref not found: origin/main" in comment
    assert "plan-json" not in outputs and not (runner.temp / "fleet-handshake-plan.json").exists()
    assert outputs["changed"] == "false" and VALUE not in runner.everything_written()
