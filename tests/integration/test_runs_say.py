"""What runs say: the plain-mode warning of every writing command, honest counts, clear usage errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fhtest import AgeKey, SourceRepo, clone, git, handshake, run_cli, secret

WARNING = "plain mode: the output holds Secrets in clear text"


def fill(repo: SourceRepo, other_key: AgeKey | None = None) -> None:
    repo.handshakes("hs.yaml", handshake("good", "good", [{"clusterName": "c1"}]),
                    handshake("bad", "bad", [{"clusterName": "c2"}]))  # fmt: skip
    repo.encrypted("good.yaml", secret("good", stringData={"token": "runs-say-canary-1"}))
    recipients = (other_key.recipient,) if other_key is not None else ()
    repo.encrypted("bad.yaml", secret("bad", stringData={"token": "runs-say-canary-2"}), recipients=recipients)


@pytest.mark.parametrize("command", ["generate", "publish"])
def test_every_command_that_writes_plain_output_warns(
    command: str, repo: SourceRepo, remote: Path, tmp_path: Path, env_keys: dict[str, str]
) -> None:
    fill(repo)
    out = clone(remote, tmp_path / "work") / "bundles"

    result = run_cli(command, repo.root, "--out", out, env=env_keys)

    assert result.code == 0, result.stderr
    assert result.stderr.count(WARNING) == 1, result.stderr


def test_publish_in_sops_mode_does_not_warn(
    repo: SourceRepo, remote: Path, tmp_path: Path, env_keys: dict[str, str], other_key: AgeKey
) -> None:
    fill(repo)
    scopes = "".join(f"    - clusterName: {c}\n      age: [{other_key.recipient}]\n" for c in ("c1", "c2"))
    repo.write(".fleet-handshake.yaml", f"apiVersion: fleet-handshake/v1alpha1\nkind: Config\nmode: sops\n"
               f"sops:\n  recipients:\n{scopes}")  # fmt: skip
    out = clone(remote, tmp_path / "work") / "bundles"

    result = run_cli("publish", repo.root, "--out", out, env=env_keys)

    assert result.code == 0, result.stderr
    assert WARNING not in result.stderr


def test_decrypted_counts_only_the_files_sops_could_decrypt(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], other_key: AgeKey
) -> None:
    fill(repo, other_key)  # bad.yaml is sealed for a key this run does not hold

    result = run_cli("generate", repo.root, "--out", tmp_path / "out", env=key_env)

    assert result.code == 1, result.stderr
    assert re.search(r"^decrypted 1 file\(s\), 1 failed; reused 0 ", result.stderr, re.M), result.stderr


@pytest.mark.parametrize(
    "ref", ["HEAD:../../etc", "HEAD:bundles", "main:", ":/init", "HEAD..HEAD", "..", "HEAD:nothing-there"]
)
def test_against_takes_a_commit_not_a_path_or_a_range(
    ref: str, repo: SourceRepo, remote: Path, tmp_path: Path, key_env: dict[str, str]
) -> None:
    fill(repo)
    work = clone(remote, tmp_path / "work")
    git(work, "commit", "--quiet", "--allow-empty", "-m", "second")

    result = run_cli("plan", repo.root, "--out", work / "bundles", "--against", ref, env=key_env)

    assert result.code == 2, result.stderr
    assert "unexpected error" not in result.stderr
    assert "--against takes a commit" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("ref", ["no-such-branch", "HEAD~7", "0000000"])
def test_against_an_unknown_commit_is_a_user_error(
    ref: str, repo: SourceRepo, remote: Path, tmp_path: Path, key_env: dict[str, str]
) -> None:
    fill(repo)
    work = clone(remote, tmp_path / "work")

    result = run_cli("plan", repo.root, "--out", work / "bundles", "--against", ref, env=key_env)

    assert result.code == 1, result.stderr
    assert f"git ref not found: {ref}" in result.stderr
