"""`publish` against real git: a bare remote, clones that race, orphan branches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fhtest import SourceRepo, clone, git, handshake, remote_files, run_cli, secret
from fleethandshake.app.publish import publish
from fleethandshake.errors import UserError

VALUE = "publish-canary-9f3"


def fill(repo: SourceRepo, *names: str) -> None:
    repo.handshakes("hs.yaml", *(handshake(n, "s", [{"clusterName": f"c-{n}"}]) for n in names))
    repo.encrypted("s.yaml", secret("s", stringData={"token": VALUE}))


def test_publish_commits_once_then_does_nothing(
    repo: SourceRepo, remote: Path, tmp_path: Path, env_keys: dict[str, str]
) -> None:
    fill(repo, "alpha")
    work = clone(remote, tmp_path / "work")

    first = run_cli("publish", repo.root, "--out", work / "bundles", env=env_keys)

    assert first.code == 0, first.stderr
    assert f"committed {git(remote, 'rev-parse', 'main')[:12]} and pushed" in first.stderr
    files = remote_files(remote)
    assert "bundles/.fleet-handshake/status.json" in files
    assert any(f.endswith("/secret.yaml") for f in files) and any(f.endswith("/fleet.yaml") for f in files)
    message = git(remote, "log", "-1", "--format=%B", "main")
    assert "added: fleet-default/alpha-" in message and "(fleet-default/alpha)" in message
    assert VALUE not in message and VALUE not in first.stderr
    head = git(remote, "rev-parse", "main")

    second = run_cli("publish", repo.root, "--out", work / "bundles", env=env_keys)

    assert second.code == 0, second.stderr
    assert "nothing to commit" in second.stderr
    assert git(remote, "rev-parse", "main") == head


def test_publish_to_an_orphan_branch_of_the_source_repository(
    repo: SourceRepo, remote: Path, tmp_path: Path, env_keys: dict[str, str]
) -> None:
    work = clone(remote, tmp_path / "work")
    src = SourceRepo(work / "source", repo.key)
    fill(src, "alpha")
    git(work, "add", "source")
    git(work, "commit", "--quiet", "-m", "source")
    git(work, "push", "--quiet", "origin", "main")
    main_before = git(remote, "rev-parse", "main")

    result = run_cli("publish", work / "source", "--out", work / "bundles", "--branch", "fleet-bundles", env=env_keys)

    assert result.code == 0, result.stderr
    files = remote_files(remote, "fleet-bundles")
    assert files and all(f.startswith("bundles/") for f in files)
    assert git(remote, "rev-list", "--count", "fleet-bundles") == "1"  # an orphan: no parent
    assert git(remote, "rev-parse", "main") == main_before
    assert not (work / "bundles").exists(), "the user's checkout is not touched"
    assert git(work, "status", "--porcelain") == ""


def test_race_regenerates_on_top_without_losing_the_other_commit(
    repo: SourceRepo, remote: Path, tmp_path: Path, env_keys: dict[str, str]
) -> None:
    a, b = clone(remote, tmp_path / "a"), clone(remote, tmp_path / "b")
    src_a = SourceRepo(tmp_path / "src-a", repo.key)
    src_b = SourceRepo(tmp_path / "src-b", repo.key)
    fill(src_a, "alpha")
    fill(src_b, "alpha", "bravo")
    calls = {"n": 0}

    def other_publisher_wins() -> None:
        calls["n"] += 1
        if calls["n"] == 1:  # A pushes between B's commit and B's push
            publish(src_a.root, a / "bundles", say=lambda _: None)

    result = publish(src_b.root, b / "bundles", say=lambda _: None, before_push=other_publisher_wins)

    assert result.pushed and result.attempts == 2
    a_commit = git(a, "rev-parse", "HEAD")
    final = git(remote, "rev-parse", "main")
    git(b, "fetch", "--quiet")
    assert git(remote, "merge-base", "--is-ancestor", a_commit, final) == ""  # A's update is not lost
    assert git(remote, "rev-list", "--merges", "--count", "main") == "0"
    assert git(remote, "rev-list", "--count", "main") == "3"  # init, A, B on top
    bundle_dirs = {f.split("/")[2] for f in remote_files(remote) if f.startswith("bundles/fleet-default/")}
    assert {d.rsplit("-", 1)[0] for d in bundle_dirs} == {"alpha", "bravo"}


def test_gives_up_after_bounded_retries(
    repo: SourceRepo, remote: Path, tmp_path: Path, env_keys: dict[str, str]
) -> None:
    fill(repo, "alpha")
    work, other = clone(remote, tmp_path / "work"), clone(remote, tmp_path / "other")
    counter = {"n": 0}

    def someone_always_pushes_first() -> None:
        counter["n"] += 1
        (other / f"note-{counter['n']}.txt").write_text("x")
        git(other, "add", ".")
        git(other, "commit", "--quiet", "-m", f"other {counter['n']}")
        git(other, "push", "--quiet", "origin", "HEAD:main")

    with pytest.raises(UserError, match="gave up after 3 attempts"):
        publish(repo.root, work / "bundles", retries=2, say=lambda _: None, before_push=someone_always_pushes_first)
    assert counter["n"] == 3
    assert not any(f.startswith("bundles/") for f in remote_files(remote))


def test_two_processes_publishing_at_once_end_consistent(
    repo: SourceRepo, remote: Path, tmp_path: Path, env_keys: dict[str, str]
) -> None:
    fill(repo, "alpha", "bravo")
    clones = [clone(remote, tmp_path / f"w{i}") for i in range(2)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")} | env_keys
    command = [sys.executable, "-m", "fleethandshake", "publish", str(repo.root), "--out"]
    procs = [
        subprocess.Popen(
            [*command, str(c / "bundles")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for c in clones
    ]
    results = [(p.returncode, err) for p in procs for _, err in [p.communicate(timeout=120)]]

    assert [code for code, _ in results] == [0, 0], results
    assert git(remote, "rev-list", "--merges", "--count", "main") == "0"
    # Same source: exactly one publisher's commit carries the bundles; the other found nothing to do.
    assert git(remote, "rev-list", "--count", "main") == "2"
    files = remote_files(remote)
    assert len([f for f in files if f.endswith("/secret.yaml")]) == 2


def test_refuses_output_changes_it_did_not_write(
    repo: SourceRepo, remote: Path, tmp_path: Path, env_keys: dict[str, str]
) -> None:
    fill(repo, "alpha")
    work = clone(remote, tmp_path / "work")
    assert run_cli("publish", repo.root, "--out", work / "bundles", env=env_keys).code == 0
    head = git(remote, "rev-parse", "main")
    (work / "bundles" / "hand-edit.yaml").write_text("kind: ConfigMap\n")

    result = run_cli("publish", repo.root, "--out", work / "bundles", env=env_keys)

    assert result.code == 1
    assert "did not write" in result.stderr and "bundles/hand-edit.yaml" in result.stderr
    assert git(remote, "rev-parse", "main") == head


def test_no_push_commits_locally(repo: SourceRepo, remote: Path, tmp_path: Path, env_keys: dict[str, str]) -> None:
    fill(repo, "alpha")
    work = clone(remote, tmp_path / "work")
    result = run_cli(
        "publish",
        repo.root,
        "--out",
        work / "bundles",
        "--no-push",
        "--author",
        "Release Bot <bot@example.invalid>",
        "-m",
        "Update bundles",
        env=env_keys,
    )
    assert result.code == 0, result.stderr
    assert git(work, "log", "-1", "--format=%an <%ae>|%s") == "Release Bot <bot@example.invalid>|Update bundles"
    assert f"committed {git(work, 'rev-parse', 'HEAD')[:12]} (not pushed)" in result.stderr  # as the Action says it
    assert remote_files(remote) == ["README.md"]
