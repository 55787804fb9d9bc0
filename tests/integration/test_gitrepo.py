"""`gitrepo`: what Fleet does with the manifests it prints (rancher/fleet, the mirror's HEAD):
the branch it follows, the folders its `paths` globs match, the Secret it clones with."""

from __future__ import annotations

import glob
import subprocess
from pathlib import Path

import pytest
import yaml

from fhtest import SourceRepo, handshake, run_cli
from fleethandshake.core.giturl import branch_problem

REPO_URL = "https://git.example.invalid/bundles.git"
BRANCHES = ["main", "feature/x", "release/v1.2", "a@b", "a..b", "x.lock", "a/.b", "a b", "a~1", "a^", "a:b", "a?",
            "a*", "a[", "a\\b", "a/", "/a", "a//b", "a.", "a@{b", "a/b.lock/c", ".a", "a\tb"]  # fmt: skip


def gitrepo(repo: SourceRepo, *args: str) -> tuple[int, str, str]:
    repo.handshakes("hs.yaml", handshake("a", "s", [{"clusterName": "c1"}]))
    result = run_cli("gitrepo", repo.root, "--repo", REPO_URL, *args)
    return result.code, result.stdout, result.stderr


@pytest.mark.parametrize("branch", BRANCHES)
def test_the_branch_check_agrees_with_git(branch: str) -> None:
    git = subprocess.run(["git", "check-ref-format", f"refs/heads/{branch}"], capture_output=True, check=False)
    assert (branch_problem(branch) is None) == (git.returncode == 0)


@pytest.mark.parametrize("branch", ["", "-x", "HEAD", "a..b", "main "])
def test_a_branch_fleet_would_not_follow_as_given_is_refused(repo: SourceRepo, branch: str) -> None:
    # Fleet follows `master` when spec.branch is empty (internal/cmd/cli/gitcloner/cloner.go):
    # an unset `--branch "$BRANCH"` must not print a GitRepo that delivers another branch.
    code, out, err = gitrepo(repo, f"--branch={branch}")
    assert (code, out) == (2, "")
    assert "fleet-handshake: error: --branch " in err and "Traceback" not in err


def test_glob_characters_in_the_out_path_match_only_that_folder(repo: SourceRepo, tmp_path: Path) -> None:
    # Fleet globs each path (internal/cmd/cli/apply/apply.go, globDirs: filepath.Glob).
    checkout = tmp_path / "checkout"
    for folder in ("out[1]", "out1", "out*", "outX", "out?"):
        (checkout / folder / "fleet-default").mkdir(parents=True)
    for out_path, expected in (("out[1]", "out[1]"), ("out*", "out*"), ("out?", "out?")):
        code, out, err = gitrepo(repo, "--branch", "main", "--out-path", out_path)
        assert code == 0, err
        (path,) = yaml.safe_load(out)["spec"]["paths"]
        assert sorted(glob.glob(path, root_dir=checkout)) == [f"{expected}/fleet-default"]


def test_a_backslash_in_the_out_path_is_refused(repo: SourceRepo) -> None:
    code, out, err = gitrepo(repo, "--branch", "main", "--out-path", "bundles\\prod")
    assert (code, out) == (2, "") and "holds a backslash" in err


@pytest.mark.parametrize(("secret", "ok"), [("git-creds", True), ("git.creds", True), ("Git_Creds", False),
                                            ("git creds", False)])  # fmt: skip
def test_the_client_secret_must_be_a_secret_name(repo: SourceRepo, secret: str, ok: bool) -> None:
    code, out, err = gitrepo(repo, "--branch", "main", "--client-secret", secret)
    if ok:
        assert code == 0, err
        assert yaml.safe_load(out)["spec"]["clientSecretName"] == secret
    else:
        assert (code, out) == (2, "") and "--client-secret" in err
