"""The pull-request comment of issue 15's case, through the command line and the Action, with real sops.

40 handshakes over 200 clusters; a pull request rotates 15 Secrets, so 35 bundles change.
"""

from __future__ import annotations

from pathlib import Path

import yaml

import planscale
from fhtest import SourceRepo, run_cli, secret
from fleethandshake.core import plancomment
from fleethandshake.errors import EXIT_CHANGES


def write_source(repo: SourceRepo, fleet: planscale.Fleet, after: bool) -> None:
    """The source before the pull request, or after it (only the rotated Secrets encrypted again)."""
    repo.handshakes("handshakes.yaml", *(fleet.after if after else fleet.before))
    secrets = fleet.secrets_after if after else fleet.secrets_before
    for name in fleet.changed_secret_names() if after else secrets:
        repo.encrypted(f"secrets/{name}.yaml", secret(name, stringData=secrets[name]))


def write_inventory(path: Path, clusters: int) -> Path:
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": planscale.clusters(clusters)}))
    return path


def pull_request(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], changed: int) -> tuple[Path, Path]:
    """OUT generated from the source before the pull request; the source as the pull request leaves it."""
    fleet = planscale.fleet(changed, 200)
    write_source(repo, fleet, after=False)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    write_source(repo, fleet, after=True)
    return out, write_inventory(tmp_path / "inventory.yaml", 200)


def action_env(runner: Path, key_env: dict[str, str]) -> dict[str, str]:
    runner.mkdir()
    return {**key_env, "GITHUB_STEP_SUMMARY": str(runner / "summary.md"), "GITHUB_OUTPUT": str(runner / "output"),
            "RUNNER_TEMP": str(runner), "GITHUB_SERVER_URL": "https://github.example", "GITHUB_REPOSITORY": "o/r",
            "GITHUB_RUN_ID": "42"}  # fmt: skip


def test_the_issue_case_through_the_cli_and_the_action(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    """40 handshakes, 200 clusters, 15 Secrets rotated: 35 bundles change, and the comment holds all of it."""
    out, inventory = pull_request(repo, tmp_path, key_env, 35)

    result = run_cli("plan", repo.root, "--out", out, "--inventory", inventory, "--format", "markdown", env=key_env)

    assert result.code == EXIT_CHANGES, result.stderr
    text = result.stdout
    planscale.check_markdown(text, plancomment.COMMENT_LIMIT)
    assert text.startswith("### fleet-handshake plan\n\n**15 Secrets change in 35 bundles in fleet-default, on ")
    assert "✂️" not in text  # it all fits
    assert planscale.leaks(text + result.stderr) == []

    runner = tmp_path / "runner"
    action = run_cli("action", "--command", "plan", "--source", repo.root, "--out", out, "--inventory", inventory,
                     "--repo-root", tmp_path, env=action_env(runner, key_env))  # fmt: skip
    assert action.code == 0, action.stderr
    comment = (runner / "fleet-handshake-plan.md").read_text()
    assert comment == "<!-- fleet-handshake-plan -->\n" + text
    assert "**15 Secrets change in 35 bundles" in (runner / "summary.md").read_text()


def test_a_larger_pull_request_leaves_detail_out_and_links_the_job_summary(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    out, inventory = pull_request(repo, tmp_path, key_env, 80)
    runner = tmp_path / "runner"

    action = run_cli("action", "--command", "plan", "--source", repo.root, "--out", out, "--inventory", inventory,
                     "--repo-root", tmp_path, env=action_env(runner, key_env))  # fmt: skip

    assert action.code == 0, action.stderr
    comment = (runner / "fleet-handshake-plan.md").read_text()
    planscale.check_markdown(comment, 65_536)
    assert "✂️ **Shortened to stay under GitHub's comment limit**: left out the per-cluster list." in comment
    assert "[this run's job summary](https://github.example/o/r/actions/runs/42)" in comment
    summary = (runner / "summary.md").read_text()
    planscale.check_markdown(summary, 1024 * 1024 // 4)
    assert "✂️" not in summary and "Per cluster: " in summary
    assert planscale.leaks(comment + summary + action.stdout + action.stderr) == []
