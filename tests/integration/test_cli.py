"""The command line as a user meets it: help, validate, exit codes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fhtest import SourceRepo, handshake, run_cli, secret
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


def test_entry_freezes_objects_before_the_interpreter_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    # The last collection at exit is skipped by freezing first; main's exit code is kept.
    calls: list[str] = []
    monkeypatch.setattr(cli, "main", lambda: calls.append("main") or 3)
    monkeypatch.setattr(cli.gc, "freeze", lambda: calls.append("freeze"))
    with pytest.raises(SystemExit) as exited:
        cli.entry()
    assert exited.value.code == 3
    assert calls == ["main", "freeze"]


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


def test_lock_timeout_from_the_environment(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]) -> None:
    from fleethandshake.adapters.fs import output_lock

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
    result = run_cli("generate", repo.root, "--out", tmp_path / "out", "--sops", str(hang), env=env, timeout=20)
    assert result.code == 1
    assert "did not finish within 1 s" in (tmp_path / "out" / ".fleet-handshake" / "status.json").read_text()


@pytest.mark.parametrize("variable", ["FLEET_HANDSHAKE_SOPS_TIMEOUT", "FLEET_HANDSHAKE_LOCK_TIMEOUT"])
def test_bad_timeout_values_are_usage_errors(repo: SourceRepo, tmp_path: Path, variable: str) -> None:
    repo.handshakes("hs.yaml", handshake("a", "s", [{"clusterName": "c1"}]))
    result = run_cli("generate", repo.root, "--out", tmp_path / "out", env={variable: "soon"})
    assert result.code == 2
    assert variable in result.stderr
