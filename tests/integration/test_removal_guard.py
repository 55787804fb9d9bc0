"""The removal guard end to end: generate, publish, plan and the Action refuse to remove the
bundles of handshakes gone from the source when the source has none left or most are gone;
`--allow-removals` lets them. Removals come first in the plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhtest import GIT_ENV, SourceRepo, git, handshake, read_tree, run_cli, secret
from fleethandshake.errors import EXIT_CHANGES

VALUE = "guard-canary-Pk29Hs"


def fill(repo: SourceRepo, *names: str) -> None:
    """One handshake per name, each with one bundle; all deliver one Secret."""
    repo.handshakes("hs.yaml", *(handshake(n, "s", [{"clusterName": f"c-{n}"}]) for n in names))
    repo.encrypted("s.yaml", secret("s", stringData={"token": VALUE}))


NAMES = [f"h{i}" for i in range(8)]


@pytest.fixture
def generated(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]) -> tuple[Path, dict[str, bytes]]:
    fill(repo, *NAMES)
    out = tmp_path / "work" / "out"
    result = run_cli("generate", repo.root, "--out", out, env=key_env)
    assert result.code == 0, result.stderr
    return out, read_tree(out)


def test_generate_refuses_to_empty_the_output_from_a_source_without_handshakes(
    repo: SourceRepo, generated: tuple[Path, dict[str, bytes]], key_env: dict[str, str]
) -> None:
    out, before = generated
    (repo.root / "hs.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    result = run_cli("generate", repo.root, "--out", out, env=key_env)
    assert result.code == 1
    assert "refusing to remove bundles: 8 of the output's 8 bundle(s)" in result.stderr
    assert "the source has no FleetHandshake at all" in result.stderr
    assert "fleet-default/h0-" in result.stderr and "and 3 more" in result.stderr
    assert "--allow-removals" in result.stderr and "Nothing was written" in result.stderr
    assert read_tree(out) == before
    allowed = run_cli("generate", repo.root, "--out", out, "--allow-removals", env=key_env)
    assert allowed.code == 0, allowed.stderr
    assert [p for p in read_tree(out) if not p.startswith(".fleet-handshake/")] == []


def test_generate_refuses_to_remove_most_bundles_but_not_a_few(
    repo: SourceRepo, generated: tuple[Path, dict[str, bytes]], key_env: dict[str, str]
) -> None:
    out, before = generated
    fill(repo, *NAMES[:2])  # 6 of 8 gone: more than half and more than 5
    result = run_cli("generate", repo.root, "--out", out, env=key_env)
    assert result.code == 1
    assert "6 of the output's 8 bundle(s)" in result.stderr and "more than 50% of them" in result.stderr
    assert read_tree(out) == before
    fill(repo, *NAMES[:3])  # 5 gone: a handful
    result = run_cli("generate", repo.root, "--out", out, env=key_env)
    assert result.code == 0, result.stderr
    assert len([p for p in read_tree(out) if p.endswith("/fleet.yaml")]) == 3
    assert result.stderr.count("removed  fleet-default/") == 5


def test_plan_shows_removals_first_and_the_guard(
    repo: SourceRepo, generated: tuple[Path, dict[str, bytes]], key_env: dict[str, str]
) -> None:
    out, _ = generated
    fill(repo, "h0", "new")  # 7 removed, 1 added
    text = run_cli("plan", repo.root, "--out", out, env=key_env)
    assert text.code == 1, text.stderr  # generate and publish would refuse: so does the check
    lines = text.stdout.splitlines()
    assert "removals REFUSED without --allow-removals" in lines[0]
    assert lines[1].startswith("REMOVALS: 7 bundle(s)")
    assert lines[2].startswith("  REFUSED: generate and publish will refuse this: 7 of the output's 8 bundle(s)")
    removed_rows = [i for i, line in enumerate(lines) if line.startswith("  removed")]
    added_rows = [i for i, line in enumerate(lines) if line.startswith("  added")]
    assert len(removed_rows) == 7 and len(added_rows) == 1
    assert max(removed_rows) < lines.index("OTHER CHANGES:") < added_rows[0]

    markdown = run_cli("plan", repo.root, "--out", out, "--format", "markdown", env=key_env).stdout
    assert "⛔ removals refused without `--allow-removals`" in markdown.splitlines()[2]  # the summary line
    assert "🔴" not in markdown.split("| 🟢 `")[1].split("\n\n")[0], "removals come first"
    assert (
        markdown.index("> ⛔ **generate and publish will refuse this")
        < markdown.index("| 🔴 `")
        < markdown.index("| 🟢 `")
    )

    doc = json.loads(run_cli("plan", repo.root, "--out", out, "--format", "json", env=key_env).stdout)
    assert doc["removalGuard"]["refused"] is True and len(doc["removalGuard"]["gone"]) == 7

    allowed = run_cli("plan", repo.root, "--out", out, "--allow-removals", env=key_env)
    assert allowed.code == EXIT_CHANGES, allowed.stderr
    assert "  NOTE: allowed by --allow-removals" in allowed.stdout
    assert VALUE not in text.stdout + markdown + allowed.stdout


def test_plan_of_removals_within_the_limits_passes(
    repo: SourceRepo, generated: tuple[Path, dict[str, bytes]], key_env: dict[str, str]
) -> None:
    out, _ = generated
    fill(repo, *NAMES[:7])
    result = run_cli("plan", repo.root, "--out", out, env=key_env)
    assert result.code == EXIT_CHANGES, result.stderr
    assert result.stdout.splitlines()[1].startswith("REMOVALS: 1 bundle(s)")
    assert "REFUSED" not in result.stdout and "OTHER CHANGES" not in result.stdout


def test_publish_refuses_and_commits_nothing(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]) -> None:
    work = tmp_path / "work"
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(work))
    fill(repo, *NAMES)
    env = {**key_env, **GIT_ENV}
    first = run_cli("publish", repo.root, "--out", work / "out", "--no-push", env=env)
    assert first.code == 0, first.stderr
    head = git(work, "rev-parse", "HEAD")
    fill(repo)  # no handshakes left
    result = run_cli("publish", repo.root, "--out", work / "out", "--no-push", env=env)
    assert result.code == 1
    assert "the source has no FleetHandshake at all" in result.stderr and "--allow-removals" in result.stderr
    assert git(work, "rev-parse", "HEAD") == head
    assert git(work, "status", "--porcelain") == ""
    allowed = run_cli("publish", repo.root, "--out", work / "out", "--no-push", "--allow-removals", env=env)
    assert allowed.code == 0, allowed.stderr
    assert git(work, "rev-parse", "HEAD") != head


def test_the_action_refuses_and_annotates(
    repo: SourceRepo, generated: tuple[Path, dict[str, bytes]], key_env: dict[str, str], tmp_path: Path
) -> None:
    out, before = generated
    fill(repo)
    runner = tmp_path / "runner"
    runner.mkdir()
    env = {**key_env, "GITHUB_STEP_SUMMARY": str(runner / "summary.md"), "GITHUB_OUTPUT": str(runner / "out.txt"),
           "RUNNER_TEMP": str(runner)}  # fmt: skip
    common = ("--source", repo.root, "--out", out, "--repo-root", tmp_path)
    for command in ("plan", "generate"):
        result = run_cli("action", "--command", command, *common, env=env)
        assert result.code == 1, (command, result.stderr)
        assert "::error title=fleet-handshake::" in result.stdout and "--allow-removals" in result.stdout
    assert read_tree(out) == before
    result = run_cli("action", "--command", "generate", *common, "--allow-removals", env=env)
    assert result.code == 0, result.stderr
