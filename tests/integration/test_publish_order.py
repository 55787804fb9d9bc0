"""publish never replaces output generated from a newer source with output from an older one.

Real git throughout: a source repository with two commits (c1 holds the password OLD, c2 rotates
it to NEW), clones of it checked out at either commit as two CI jobs would be, and a bare output
remote that refuses non-fast-forward pushes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from fhtest import AgeKey, Run, SourceRepo, bare_remote, clone, delivered, git, handshake, remote_files, run_cli, secret
from fleethandshake.app.publish import publish
from fleethandshake.errors import EXIT_STALE, EXIT_UNORDERED, StaleSource

OLD, NEW = "rotate-me-OLD-4c1", "rotate-me-NEW-9e2"


def commit_source(src: SourceRepo, value: str, message: str) -> str:
    src.handshakes("hs.yaml", handshake("db", "db", [{"clusterName": "c-db"}]))
    src.encrypted("db.yaml", secret("db", stringData={"password": value}))
    git(src.root, "add", "-A")
    git(src.root, "commit", "--quiet", "-m", message)
    return git(src.root, "rev-parse", "HEAD")


@pytest.fixture
def history(tmp_path: Path, age_key: AgeKey) -> tuple[Path, str, str]:
    """The source repository (a bare remote) and its commits c1 (OLD) and c2 (NEW, a child of c1)."""
    work = tmp_path / "src-work"
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(work))
    src = SourceRepo(work, age_key)
    c1 = commit_source(src, OLD, "c1")
    c2 = commit_source(src, NEW, "c2: rotate")
    origin = tmp_path / "src.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(work), str(origin))
    return origin, c1, c2


def job(origin: Path, path: Path, commit: str, *args: str) -> Path:
    """A CI job's source checkout: a clone of the source at `commit`."""
    clone(origin, path, *args)
    git(path, "checkout", "--quiet", commit)
    return path


@dataclass(frozen=True)
class Jobs:
    """Job A checked out c1 (OLD), job B c2 (NEW); each has its own clone of the output."""

    c1: str
    c2: str
    src_a: Path
    src_b: Path
    out_a: Path
    out_b: Path


@pytest.fixture
def jobs(history: tuple[Path, str, str], remote: Path, tmp_path: Path) -> Jobs:
    origin, c1, c2 = history
    src_a, src_b = job(origin, tmp_path / "srcA", c1), job(origin, tmp_path / "srcB", c2)
    return Jobs(c1, c2, src_a, src_b, clone(remote, tmp_path / "oA"), clone(remote, tmp_path / "oB"))


def publish_from(src: Path, out_repo: Path, env: dict[str, str], *args: str) -> Run:
    """`fleet-handshake publish SRC --out OUT_REPO/bundles ARGS`, as a user would run it."""
    return run_cli("publish", src, "--out", out_repo / "bundles", *args, env=env)


def published(src: Path, out_repo: Path, env: dict[str, str]) -> None:
    result = publish_from(src, out_repo, env)
    assert result.code == 0, result.stderr


def published_value(remote: Path, ref: str = "main") -> str:
    [secret_file] = [f for f in remote_files(remote, ref) if f.endswith("/secret.yaml")]
    text = git(remote, "show", f"{ref}:{secret_file}")
    return delivered(text)["password"]


def trailer(repo: Path, key: str, ref: str = "main") -> str:
    return git(repo, "log", "-1", f"--format=%(trailers:key=Fleet-Handshake-Source-{key},valueonly)", ref)


def test_stale_job_is_refused_and_the_branch_keeps_the_newer_output(
    jobs: Jobs, remote: Path, env_keys: dict[str, str]
) -> None:
    c1, c2, src_a, src_b, out_a, out_b = jobs.c1, jobs.c2, jobs.src_a, jobs.src_b, jobs.out_a, jobs.out_b

    published(src_b, out_b, env_keys)
    head = git(remote, "rev-parse", "main")

    stale = publish_from(src_a, out_a, env_keys)

    assert stale.code == EXIT_STALE, stale.stderr
    assert c1 in stale.stderr and c2 in stale.stderr and "Traceback" not in stale.stderr
    assert OLD not in stale.stderr and NEW not in stale.stderr
    assert git(remote, "rev-parse", "main") == head
    assert published_value(remote) == NEW
    assert trailer(remote, "Commit") == c2
    assert trailer(remote, "Digest").startswith("sha256:")


def test_stale_job_that_loses_the_push_race_is_refused_on_the_retry(
    jobs: Jobs, remote: Path, env_keys: dict[str, str]
) -> None:
    c1, c2, src_a, src_b, out_a, out_b = jobs.c1, jobs.c2, jobs.src_a, jobs.src_b, jobs.out_a, jobs.out_b
    before = git(out_a, "rev-parse", "HEAD")

    def newer_job_pushes_first() -> None:  # B publishes between A's commit and A's push
        publish(src_b, out_b / "bundles", say=lambda _: None)

    with pytest.raises(StaleSource) as refused:
        publish(src_a, out_a / "bundles", say=lambda _: None, before_push=newer_job_pushes_first)

    assert c1 in str(refused.value) and c2 in str(refused.value)
    assert published_value(remote) == NEW and trailer(remote, "Commit") == c2
    assert git(out_a, "rev-parse", "HEAD") == before, "A's stale commit is not left on its branch"


def test_newer_job_after_an_older_one_publishes(jobs: Jobs, remote: Path, env_keys: dict[str, str]) -> None:
    c1, c2, src_a, src_b, out_a, out_b = jobs.c1, jobs.c2, jobs.src_a, jobs.src_b, jobs.out_a, jobs.out_b

    published(src_a, out_a, env_keys)
    assert published_value(remote) == OLD and trailer(remote, "Commit") == c1
    newer = publish_from(src_b, out_b, env_keys)

    assert newer.code == 0, newer.stderr
    assert published_value(remote) == NEW and trailer(remote, "Commit") == c2


def test_rerun_of_the_same_commit_is_a_no_op(
    history: tuple[Path, str, str], remote: Path, tmp_path: Path, env_keys: dict[str, str]
) -> None:
    origin, _, c2 = history
    src = job(origin, tmp_path / "src", c2)
    published(src, clone(remote, tmp_path / "o1"), env_keys)
    head = git(remote, "rev-parse", "main")

    assert trailer(remote, "Commit") == c2
    # The re-run checks out c2 alone (depth 1): the same commit needs no history to be ordered.
    rerun = job(origin, tmp_path / "rerun", c2, "--depth", "1", "--no-local")

    again = publish_from(rerun, clone(remote, tmp_path / "o2"), env_keys)

    assert again.code == 0, again.stderr
    assert "nothing to commit" in again.stderr
    assert git(remote, "rev-parse", "main") == head


def test_shallow_source_clone_cannot_tell_and_refuses_unless_allowed(
    history: tuple[Path, str, str], remote: Path, tmp_path: Path, env_keys: dict[str, str]
) -> None:
    origin, c1, c2 = history
    out_a, out_b = clone(remote, tmp_path / "oA"), clone(remote, tmp_path / "oB")
    published(job(origin, tmp_path / "srcA", c1), out_a, env_keys)
    shallow = job(origin, tmp_path / "srcB", c2, "--depth", "1", "--no-local")  # as actions/checkout does
    assert git(shallow, "rev-parse", "--is-shallow-repository") == "true"

    refused = publish_from(shallow, out_b, env_keys)

    assert refused.code == EXIT_UNORDERED, refused.stderr
    assert "shallow" in refused.stderr and "--allow-unordered" in refused.stderr and c1 in refused.stderr
    assert published_value(remote) == OLD
    allowed = publish_from(shallow, out_b, env_keys, "--allow-unordered")
    assert allowed.code == 0, allowed.stderr
    assert published_value(remote) == NEW and trailer(remote, "Commit") == c2


def test_shallow_output_clone_is_deepened_to_find_the_record(
    history: tuple[Path, str, str], remote: Path, tmp_path: Path, env_keys: dict[str, str]
) -> None:
    origin, c1, c2 = history
    out_b = clone(remote, tmp_path / "oB")
    published(job(origin, tmp_path / "srcB", c2), out_b, env_keys)
    (out_b / "NOTES.md").write_text("a commit by hand, after the published one\n")
    git(out_b, "add", "NOTES.md")
    git(out_b, "commit", "--quiet", "-m", "notes")
    git(out_b, "push", "--quiet", "origin", "main")
    out_a = clone(remote, tmp_path / "oA", "--depth", "1", "--no-local")
    assert git(out_a, "rev-parse", "--is-shallow-repository") == "true"

    stale = publish_from(job(origin, tmp_path / "srcA", c1), out_a, env_keys)

    assert stale.code == EXIT_STALE, stale.stderr
    assert published_value(remote) == NEW


def test_uncommitted_source_changes_are_refused_unless_allowed(
    history: tuple[Path, str, str], remote: Path, tmp_path: Path, age_key: AgeKey, env_keys: dict[str, str]
) -> None:
    origin, _, c2 = history
    src = job(origin, tmp_path / "src", c2)
    SourceRepo(src, age_key).encrypted("db.yaml", secret("db", stringData={"password": "uncommitted"}))
    out = clone(remote, tmp_path / "o")

    refused = publish_from(src, out, env_keys)

    assert refused.code == EXIT_UNORDERED, refused.stderr
    assert "uncommitted changes" in refused.stderr and "db.yaml" in refused.stderr
    assert remote_files(remote) == ["README.md"]
    allowed = publish_from(src, out, env_keys, "--allow-unordered")
    assert allowed.code == 0, allowed.stderr
    assert trailer(remote, "Commit") == "" and trailer(remote, "Digest").startswith("sha256:")


def test_allow_unordered_never_lets_uncommitted_changes_on_an_older_commit_replace_newer_output(
    jobs: Jobs, remote: Path, age_key: AgeKey, env_keys: dict[str, str]
) -> None:
    """Job A's checkout is c1 with an uncommitted change (a file a CI step edits, say), run late
    with --allow-unordered (to get past the uncommitted change) after job B published c2, which
    descends from c1 and rotated the password: A's work tree lacks c2, so it is older, and
    publishing it would roll the rotation back."""
    c1, c2, src_a, src_b, out_a, out_b = jobs.c1, jobs.c2, jobs.src_a, jobs.src_b, jobs.out_a, jobs.out_b
    published(src_b, out_b, env_keys)
    head = git(remote, "rev-parse", "main")
    SourceRepo(src_a, age_key).handshakes("hs.yaml", handshake("db", "db", [{"clusterName": "c-db"}]),
                                          handshake("api", "db", [{"clusterName": "c-api"}]))  # fmt: skip

    stale = publish_from(src_a, out_a, env_keys, "--allow-unordered")

    assert stale.code == EXIT_STALE, stale.stderr
    assert c1 in stale.stderr and c2 in stale.stderr and "uncommitted" in stale.stderr
    assert "Traceback" not in stale.stderr and OLD not in stale.stdout + stale.stderr
    assert git(remote, "rev-parse", "main") == head
    assert published_value(remote) == NEW


def test_uncommitted_changes_on_the_published_commit_are_published_when_allowed(
    jobs: Jobs, remote: Path, age_key: AgeKey, env_keys: dict[str, str]
) -> None:
    c2, src_b, out_b = jobs.c2, jobs.src_b, jobs.out_b
    published(src_b, out_b, env_keys)
    SourceRepo(src_b, age_key).encrypted("db.yaml", secret("db", stringData={"password": "uncommitted"}))

    assert publish_from(src_b, out_b, env_keys).code == EXIT_UNORDERED
    allowed = publish_from(src_b, out_b, env_keys, "--allow-unordered")

    assert allowed.code == 0, allowed.stderr
    assert published_value(remote) == "uncommitted" and trailer(remote, "Commit") == ""
    assert c2 not in allowed.stderr


@pytest.mark.parametrize("branch", [None, "fleet-bundles"], ids=["same-branch", "other-branch"])
def test_source_and_output_in_one_repository(
    branch: str | None, tmp_path: Path, age_key: AgeKey, env_keys: dict[str, str]
) -> None:
    remote = bare_remote(tmp_path / "one.git")
    seed = clone(remote, tmp_path / "seed")
    c1 = commit_source(SourceRepo(seed / "source", age_key), OLD, "c1")
    c2 = commit_source(SourceRepo(seed / "source", age_key), NEW, "c2: rotate")
    git(seed, "push", "--quiet", "origin", "main")
    a, b = clone(remote, tmp_path / "a"), clone(remote, tmp_path / "b")
    git(a, "reset", "--quiet", "--hard", c1)  # job A checked out c1, job B c2
    ref = branch or "main"
    on_branch = ("--branch", branch) if branch else ()

    published_b = publish_from(b / "source", b, env_keys, *on_branch)
    assert published_b.code == 0, published_b.stderr
    head = git(remote, "rev-parse", ref)
    stale = publish_from(a / "source", a, env_keys, *on_branch)

    assert stale.code == EXIT_STALE, stale.stderr
    assert c1 in stale.stderr and c2 in stale.stderr
    assert git(remote, "rev-parse", ref) == head
    assert published_value(remote, ref) == NEW and trailer(remote, "Commit", ref) == c2
    assert git(a, "rev-parse", "HEAD") == c1
    again = publish_from(b / "source", b, env_keys, *on_branch)
    assert again.code == 0 and "nothing to commit" in again.stderr, again.stderr


def test_stale_job_that_never_saw_the_newer_commit_fetches_it_and_refuses(
    history: tuple[Path, str, str], remote: Path, tmp_path: Path, env_keys: dict[str, str]
) -> None:
    origin, c1, c2 = history
    src_a = tmp_path / "srcA"  # checked out before c2 was pushed: c2 is not in this clone
    git(tmp_path, "init", "--quiet", str(src_a))
    git(src_a, "remote", "add", "origin", str(origin))
    git(src_a, "fetch", "--quiet", "origin", c1)
    git(src_a, "checkout", "--quiet", c1)
    published(job(origin, tmp_path / "srcB", c2), clone(remote, tmp_path / "oB"), env_keys)

    stale = publish_from(src_a, clone(remote, tmp_path / "oA"), env_keys)

    assert stale.code == EXIT_STALE, stale.stderr
    assert published_value(remote) == NEW


@pytest.mark.parametrize("kind", ["unrelated-history", "not-a-git-work-tree"])
def test_sources_git_cannot_order_are_refused_unless_allowed(
    kind: str, history: tuple[Path, str, str], remote: Path, tmp_path: Path, age_key: AgeKey, env_keys: dict[str, str]
) -> None:
    origin, _, c2 = history
    published(job(origin, tmp_path / "srcB", c2), clone(remote, tmp_path / "oB"), env_keys)
    other = SourceRepo(tmp_path / "other", age_key)
    if kind == "unrelated-history":
        git(tmp_path, "init", "--quiet", str(other.root))
        commit_source(other, OLD, "another repository")
    else:
        other.handshakes("hs.yaml", handshake("db", "db", [{"clusterName": "c-db"}]))
        other.encrypted("db.yaml", secret("db", stringData={"password": OLD}))
    out = clone(remote, tmp_path / "oA")

    refused = publish_from(other.root, out, env_keys)

    assert refused.code == EXIT_UNORDERED, refused.stderr
    assert c2 in refused.stderr and "--allow-unordered" in refused.stderr
    assert published_value(remote) == NEW
    assert publish_from(other.root, out, env_keys, "--allow-unordered").code == 0
    assert published_value(remote) == OLD  # what the option is for: the user said so


def test_action_refuses_a_stale_job_with_an_annotation_and_warns_of_a_shallow_source(
    history: tuple[Path, str, str], remote: Path, tmp_path: Path, env_keys: dict[str, str]
) -> None:
    origin, c1, c2 = history
    src_b, out_b = job(origin, tmp_path / "srcB", c2), clone(remote, tmp_path / "oB")
    published(src_b, out_b, env_keys)
    src_a = job(origin, tmp_path / "srcA", c1, "--depth", "2", "--no-local")
    out_a = clone(remote, tmp_path / "oA")

    stale = run_cli("action", "--command", "publish", "--source", src_a, "--out", out_a / "bundles",
                    "--allow-unordered", env=env_keys)  # fmt: skip

    assert stale.code == EXIT_STALE, stale.stderr
    assert "::warning" in stale.stdout and "fetch-depth: 0" in stale.stdout
    assert "::error" in stale.stdout and c1 in stale.stdout and c2 in stale.stdout
    assert published_value(remote) == NEW
