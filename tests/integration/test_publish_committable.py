"""`publish` commits what Fleet must read, or refuses: an ignore rule or a git filter in the output
repository would otherwise leave out or transform a bundle's file in the commit Fleet deploys,
while the run said Synced. Real git: a bare remote and a clone."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhtest import SourceRepo, clone, git, handshake, remote_files, run_cli, secret

VALUE = "committable-canary-51c"


def fill(repo: SourceRepo, value: str = VALUE) -> None:
    repo.handshakes("hs.yaml", handshake("alpha", "s", [{"clusterName": "c1"}]))
    repo.encrypted("s.yaml", secret("s", stringData={"token": value}))


def commit_and_push(work: Path, message: str) -> None:
    git(work, "add", "--all")
    git(work, "commit", "--quiet", "-m", message)
    git(work, "push", "--quiet", "origin", "main")


@pytest.mark.parametrize("rules", [".gitignore", ".git/info/exclude"])
def test_an_ignored_secret_yaml_is_refused_until_the_output_is_let_in(
    rules: str, repo: SourceRepo, remote: Path, tmp_path: Path, env_keys: dict[str, str]
) -> None:
    fill(repo)
    work = clone(remote, tmp_path / "work")
    (work / rules).write_text("# keep Secrets out of git\nsecret.yaml\n")
    if rules == ".gitignore":
        commit_and_push(work, "ignore secrets")
    head = git(remote, "rev-parse", "main")

    refused = run_cli("publish", repo.root, "--out", work / "bundles", env=env_keys)

    assert refused.code == 1, refused.stderr
    assert "git would not commit these files of bundles" in refused.stderr
    assert f"/secret.yaml (ignored: {rules}:2: secret.yaml)" in refused.stderr
    assert "Nothing was written or pushed" in refused.stderr and "!bundles/**" in refused.stderr
    assert "Traceback" not in refused.stderr and VALUE not in refused.stderr
    assert git(remote, "rev-parse", "main") == head
    assert not (work / "bundles").exists()

    with (work / rules).open("a") as f:
        f.write("!bundles/**\n")  # the fix the error suggests
    if rules == ".gitignore":
        commit_and_push(work, "let the bundles in")

    published = run_cli("publish", repo.root, "--out", work / "bundles", env=env_keys)

    assert published.code == 0, published.stderr
    shipped = [f for f in remote_files(remote) if f.startswith("bundles/fleet-default/")]
    assert sorted(Path(f).name for f in shipped) == ["fleet.yaml", "secret.yaml"]


def test_a_configured_filter_is_refused_an_unconfigured_one_is_not(
    repo: SourceRepo, remote: Path, tmp_path: Path, env_keys: dict[str, str]
) -> None:
    fill(repo)
    work = clone(remote, tmp_path / "work")
    (work / ".gitattributes").write_text("bundles/**/secret.yaml filter=crypt\n")
    commit_and_push(work, "attributes")
    git(work, "config", "filter.crypt.clean", "rev")  # a driver that changes what is committed
    head = git(remote, "rev-parse", "main")

    refused = run_cli("publish", repo.root, "--out", work / "bundles", env=env_keys)

    assert refused.code == 1, refused.stderr
    assert "/secret.yaml (filter=crypt in .gitattributes)" in refused.stderr
    assert VALUE not in refused.stderr
    assert git(remote, "rev-parse", "main") == head
    assert not (work / "bundles").exists()

    # Without a `filter.crypt` driver git commits the file as written.
    git(work, "config", "--unset", "filter.crypt.clean")
    published = run_cli("publish", repo.root, "--out", work / "bundles", env=env_keys)

    assert published.code == 0, published.stderr
    [secret_yaml] = [f for f in remote_files(remote) if f.endswith("/secret.yaml")]
    assert git(remote, "show", f"main:{secret_yaml}") == (work / secret_yaml).read_text().rstrip("\n")


@pytest.mark.parametrize(
    ("setup", "undo", "says"),
    [
        (
            [["config", "commit.gpgsign", "true"], ["config", "gpg.program", "false"]],  # signing always fails
            [["config", "commit.gpgsign", "false"]],
            "git commit failed (exit 128): error: gpg failed to sign the data",
        ),
        (
            [["sparse-checkout", "set", "--no-cone", "/README.md"]],  # OUT outside the sparse checkout
            [["sparse-checkout", "disable"]],
            "git add failed (exit 1): The following paths and/or pathspecs matched paths that exist outside of "
            "your sparse-checkout definition, so will not be updated in the index; nothing was pushed",
        ),
    ],
)
def test_a_commit_git_refuses_is_a_clear_error_and_the_next_run_publishes(
    setup: list[list[str]],
    undo: list[list[str]],
    says: str,
    repo: SourceRepo,
    remote: Path,
    tmp_path: Path,
    env_keys: dict[str, str],
) -> None:
    fill(repo)
    work = clone(remote, tmp_path / "work")
    for args in setup:
        git(work, *args)
    head = git(remote, "rev-parse", "main")

    failed = run_cli("publish", repo.root, "--out", work / "bundles", env=env_keys)

    assert failed.code == 1, failed.stderr
    assert says in " ".join(failed.stderr.split())
    assert "unexpected error" not in failed.stderr and VALUE not in failed.stderr
    assert git(remote, "rev-parse", "main") == head

    for args in undo:
        git(work, *args)
    published = run_cli("publish", repo.root, "--out", work / "bundles", env=env_keys)

    assert published.code == 0, published.stderr
    assert any(f.endswith("/secret.yaml") for f in remote_files(remote))
