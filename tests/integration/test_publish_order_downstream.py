"""Downstream mode: a publish from an older source never writes its values over a newer one's
Secret on the management cluster, even in the window where the output branch cannot tell yet.

Real git (a source repository with c1 = OLD and c2 = NEW, a clone per CI job, a bare output remote)
and the real kubernetes client against the loopback API server (tests/fakekube.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import fakekube
from fakekube import FakeKube, write_kubeconfig
from fhtest import GIT_ENV, AgeKey, SourceRepo, clone, git, handshake, run_cli, secret
from fleethandshake.adapters import git as gitx
from fleethandshake.app.publish import publish
from fleethandshake.core import provenance
from fleethandshake.core.ownership import BRANCH_ANNOTATION
from fleethandshake.errors import EXIT_STALE, EXIT_UNORDERED, StaleSource

fake_kube = fakekube.fake_kube
OLD, NEW = "rotate-me-OLD-7d3", "rotate-me-NEW-1f8"
WORKSPACE, NAME = "fleet-default", "db-creds"


def commit_source(src: SourceRepo, value: str, message: str) -> str:
    src.write(".fleet-handshake.yaml", "mode: downstream\n")
    src.handshakes("hs.yaml", handshake("db", NAME, [{"clusterName": "c-db"}]),
                   handshake("api", "api-token", [{"clusterName": "c-api"}]))  # fmt: skip
    src.encrypted("db.yaml", secret(NAME, stringData={"password": value}))
    src.encrypted("api.yaml", secret("api-token", stringData={"token": "api-token-unchanged"}))
    git(src.root, "add", "-A")
    git(src.root, "commit", "--quiet", "-m", message)
    return git(src.root, "rev-parse", "HEAD")


@pytest.fixture
def jobs(tmp_path: Path, age_key: AgeKey) -> tuple[str, str, Path, Path]:
    """c1, c2 (c2 rotates the password), and a source clone checked out at each (jobs A and B)."""
    work = tmp_path / "src-work"
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(work))
    src = SourceRepo(work, age_key)
    c1, c2 = commit_source(src, OLD, "c1"), commit_source(src, NEW, "c2: rotate")
    origin = tmp_path / "src.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(work), str(origin))
    src_a, src_b = clone(origin, tmp_path / "srcA"), clone(origin, tmp_path / "srcB")
    git(src_a, "checkout", "--quiet", c1)
    git(src_b, "checkout", "--quiet", c2)
    return c1, c2, src_a, src_b


@pytest.fixture
def env(fake_kube: FakeKube, tmp_path: Path, key_env: dict[str, str]) -> dict[str, str]:
    config = write_kubeconfig(tmp_path / "kubeconfig", {"mgmt": fake_kube}, "mgmt")
    return {**key_env, **GIT_ENV, "KUBECONFIG": str(config)}


def publish_command(src: Path, out_repo: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "fleethandshake", "publish", str(src), "--out", str(out_repo / "bundles"), *args]


def test_a_publish_records_its_source_on_the_management_secret(
    jobs: tuple[str, str, Path, Path], remote: Path, tmp_path: Path, env: dict[str, str], fake_kube: FakeKube
) -> None:
    _, c2, _, src_b = jobs
    result = run_cli("publish", src_b, "--out", clone(remote, tmp_path / "oB") / "bundles", env=env)

    assert result.code == 0, result.stderr
    annotations = fake_kube.secrets[(WORKSPACE, NAME)]["metadata"]["annotations"]
    assert annotations[provenance.COMMIT_ANNOTATION] == c2
    trailer = f"--format=%(trailers:key={provenance.DIGEST_TRAILER},valueonly)"
    assert annotations[provenance.DIGEST_ANNOTATION] == git(remote, "log", "-1", trailer, "main")


def test_an_older_job_that_checked_the_branch_before_the_newer_one_published_keeps_its_values_off(
    jobs: tuple[str, str, Path, Path], remote: Path, tmp_path: Path, env: dict[str, str], fake_kube: FakeKube
) -> None:
    """Job A (c1) fetched the output branch while it still held nothing newer; job B (c2) then
    published completely (Secret NEW, branch pushed) before A reached the cluster. A must not write
    OLD over NEW: Fleet would copy OLD to every cluster, and B's run is over."""
    c1, c2, src_a, src_b = jobs
    out_a = clone(remote, tmp_path / "oA")
    code, stdout, stderr = job_a_meets_the_cluster_after_job_b(fake_kube, env, src_a, out_a, src_b, remote, tmp_path)

    assert fake_kube.secret_values(WORKSPACE, NAME) == {"password": NEW}, "job A rolled the rotation back"
    assert code == EXIT_STALE, stderr
    assert c1 in stderr and c2 in stderr and f"Secret {WORKSPACE}/" in stderr and "Traceback" not in stderr
    assert OLD not in stdout + stderr and NEW not in stdout + stderr
    assert fake_kube.secrets[(WORKSPACE, NAME)]["metadata"]["annotations"][provenance.COMMIT_ANNOTATION] == c2
    assert git(out_a, "status", "--porcelain") == "", "job A left nothing behind in its output clone"


def job_a_meets_the_cluster_after_job_b(
    fake_kube: FakeKube, env: dict[str, str], src_a: Path, out_a: Path, src_b: Path, remote: Path, tmp_path: Path,
    *b_args: str,
) -> tuple[int, str, str]:  # fmt: skip
    """Job A (publish src_a to out_a) fetches the output branch and is held at its first look at
    the cluster while job B (src_b) publishes completely; A's exit code, stdout and stderr."""
    hold = fake_kube.hold_next("GET", f"/namespaces/{WORKSPACE}/secrets")
    job_a = subprocess.Popen(publish_command(src_a, out_a), env=env_for_child(env), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        assert hold.arrived.wait(60), "job A never reached the cluster"
        newer = run_cli("publish", src_b, "--out", clone(remote, tmp_path / "oB") / "bundles", *b_args, env=env)
        assert newer.code == 0, newer.stderr
    finally:
        hold.release.set()
        stdout, stderr = job_a.communicate(timeout=120)
    return job_a.returncode, stdout, stderr


def commit_handshakes(src: SourceRepo, message: str, value: str, *, db: bool, web: bool) -> str:
    """Handshake db (Secret NAME, `value`) and web (Secret web-token, written after db's)."""
    src.write(".fleet-handshake.yaml", "mode: downstream\n")
    kept = [("db", NAME, {"password": value})] if db else []
    kept += [("web", "web-token", {"token": "web-unchanged"})] if web else []
    src.handshakes("hs.yaml", *(handshake(h, name, [{"clusterName": "c1"}]) for h, name, _ in kept))
    for path in src.root.glob("*-secret.yaml"):
        path.unlink()
    for _, name, data in kept:
        src.encrypted(f"{name}-secret.yaml", secret(name, stringData=data))
    git(src.root, "add", "-A")
    git(src.root, "commit", "--quiet", "--allow-empty", "-m", message)
    return git(src.root, "rev-parse", "HEAD")


@pytest.mark.parametrize("web", [True, False], ids=["refused at a newer Secret", "refused by the branch"])
@pytest.mark.parametrize("job_a_at", ["c0", "c1"], ids=["re-run of the published commit", "commit in between"])
def test_an_older_job_never_recreates_a_secret_the_newer_one_removed(
    job_a_at: str, web: bool, tmp_path: Path, age_key: AgeKey, remote: Path, env: dict[str, str], fake_kube: FakeKube
) -> None:
    """c0 is published; job A (c0 again, or c1, which rotates the password) fetches the branch; job B
    (c2, which drops handshake db) then publishes and deletes db's Secret; A reaches the cluster
    after. The Secret does not exist for A, so no record on it can tell A is older: A must not
    leave it behind (no output names it any more, and it holds a value the newer source removed).
    With web, A is refused at web's Secret (B's record), after it created db's; without, by the
    branch, which it fetches again once it created a Secret."""
    work = tmp_path / "src-work"
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(work))
    src = SourceRepo(work, age_key)
    commits = {"c0": commit_handshakes(src, "c0", OLD, db=True, web=web),
               "c1": commit_handshakes(src, "c1: rotate", NEW, db=True, web=web)}  # fmt: skip
    c2 = commit_handshakes(src, "c2: drop db", NEW, db=False, web=web)
    origin = tmp_path / "src.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(work), str(origin))
    src_a, src_b = clone(origin, tmp_path / "srcA"), clone(origin, tmp_path / "srcB")
    git(src_a, "checkout", "--quiet", commits["c0"])
    git(src_b, "checkout", "--quiet", c2)
    assert run_cli("publish", src_a, "--out", clone(remote, tmp_path / "o0") / "bundles", env=env).code == 0
    git(src_a, "checkout", "--quiet", commits[job_a_at])
    out_a = clone(remote, tmp_path / "oA")
    code, stdout, stderr = job_a_meets_the_cluster_after_job_b(fake_kube, env, src_a, out_a, src_b, remote, tmp_path,
                                                               "--allow-removals")  # fmt: skip

    assert (WORKSPACE, NAME) not in fake_kube.secrets, "job A left the Secret job B removed"
    assert code == EXIT_STALE, stderr
    assert f"deleted Secret {WORKSPACE}/{NAME} on the management cluster again" in stderr
    assert "Traceback" not in stderr and OLD not in stdout + stderr and NEW not in stdout + stderr
    if web:
        annotations = fake_kube.secrets[(WORKSPACE, "web-token")]["metadata"]["annotations"]
        assert annotations[provenance.COMMIT_ANNOTATION] == c2, "A wrote nothing over B's Secret"
    assert git(out_a, "status", "--porcelain") == ""
    assert git(remote, "log", "-1", "--format=%(trailers:key=Fleet-Handshake-Source-Commit,valueonly)", "main") == c2


def test_a_secret_from_a_source_git_cannot_order_is_refused_unless_allowed(
    jobs: tuple[str, str, Path, Path], remote: Path, tmp_path: Path, env: dict[str, str], fake_kube: FakeKube,
    age_key: AgeKey,
) -> None:  # fmt: skip
    """Two output branches feed one management cluster; the other one's source is unrelated."""
    _, c2, _, src_b = jobs
    assert run_cli("publish", src_b, "--out", clone(remote, tmp_path / "oB") / "bundles", env=env).code == 0
    # As an earlier version wrote them, recording no output branch: one that records main is
    # another branch's to branch `other`, never written over (tests/integration/test_publish_branches.py).
    for written in fake_kube.secrets.values():
        del written["metadata"]["annotations"][BRANCH_ANNOTATION]
        fake_kube.put_object(written)
    other = tmp_path / "other"
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(other))
    commit_source(SourceRepo(other, age_key), OLD, "unrelated history")
    out_other = clone(remote, tmp_path / "oO")
    args = ("publish", other, "--out", out_other / "bundles", "--branch", "other")

    refused = run_cli(*args, env=env)

    assert refused.code == EXIT_UNORDERED, refused.stderr
    assert fake_kube.secret_values(WORKSPACE, NAME) == {"password": NEW}

    allowed = run_cli(*args, "--allow-unordered", env=env)

    assert allowed.code == 0, allowed.stderr
    assert allowed.stderr.count("order of the sources cannot be told") == 1  # the branch recorded nothing
    assert fake_kube.secret_values(WORKSPACE, NAME) == {"password": OLD}
    assert fake_kube.secrets[(WORKSPACE, NAME)]["metadata"]["annotations"][provenance.COMMIT_ANNOTATION] != c2


def env_for_child(env: dict[str, str]) -> dict[str, str]:
    """As run_cli builds it: this process's environment without SOPS_*, then `env`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}, **env}


def test_git_is_asked_once_per_recorded_commit_not_once_per_secret(
    jobs: tuple[str, str, Path, Path], remote: Path, tmp_path: Path, env: dict[str, str], fake_kube: FakeKube,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    c1, c2, src_a, src_b = jobs
    assert run_cli("publish", src_a, "--out", clone(remote, tmp_path / "oA") / "bundles", env=env).code == 0
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    asked: list[tuple[str, str]] = []
    relation = gitx.SourceCheckout.relation

    def counted(self: gitx.SourceCheckout, ours: str, theirs: str) -> provenance.Relation:
        asked.append((ours, theirs))
        return relation(self, ours, theirs)

    monkeypatch.setattr(gitx.SourceCheckout, "relation", counted)

    publish(src_b, clone(remote, tmp_path / "oB") / "bundles", say=lambda _: None)

    assert (
        len([s for s in fake_kube.secrets.values() if provenance.COMMIT_ANNOTATION in s["metadata"]["annotations"]])
        == 2
    )
    assert asked == [(c2, c1)], "the branch and both Secrets record c1: one question to git"
    assert fake_kube.secret_values(WORKSPACE, NAME) == {"password": NEW}


@pytest.mark.parametrize("first", ["", "someone"], ids=["second attempt", "third attempt"])
def test_a_job_refused_on_its_retry_withdraws_the_secret_its_first_attempt_created(
    first: str, tmp_path: Path, age_key: AgeKey, remote: Path, env: dict[str, str], fake_kube: FakeKube,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """c1 adds handshake db (workspace fleet-default) beside api (workspace apps); c2 drops db again.
    Job A (c1) creates both Secrets (HTTP 201) and commits; job B (c2) then publishes completely
    before A pushes. B never looks at fleet-default (nothing of it was ever published), so it
    cannot remove db's Secret. A's push is rejected, and its retry is refused at the top of the
    loop (the branch holds c2): it must delete the Secret it created, a clear-text copy no source
    asks for any more, and leave api's, which B wrote over. With `someone`, an unrelated commit
    rejects A's first push: A's second attempt writes db's Secret again (no longer a create) and
    is rejected by B's push, and its third is refused."""
    work = tmp_path / "src-work"
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(work))
    src = SourceRepo(work, age_key)
    src.write(".fleet-handshake.yaml", "mode: downstream\n")
    api = handshake("api", "api-token", [{"clusterName": "c-api"}], workspace="apps")
    src.encrypted("api.yaml", secret("api-token", stringData={"token": "api-token-unchanged"}))
    src.handshakes("hs.yaml", api, handshake("db", NAME, [{"clusterName": "c-db"}]))
    src.encrypted("db.yaml", secret(NAME, stringData={"password": OLD}))
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "c1: add db")
    c1 = git(work, "rev-parse", "HEAD")
    src.handshakes("hs.yaml", api)
    (work / "db.yaml").unlink()
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "c2: drop db")
    c2 = git(work, "rev-parse", "HEAD")
    origin = tmp_path / "src.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(work), str(origin))
    src_a, src_b = clone(origin, tmp_path / "srcA"), clone(origin, tmp_path / "srcB")
    git(src_a, "checkout", "--quiet", c1)
    git(src_b, "checkout", "--quiet", c2)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    said: list[str] = []
    pushes = [first, "B"] if first else ["B"]

    def job_b() -> None:
        if pushes and pushes.pop(0) == "someone":
            other = clone(remote, tmp_path / "oX")
            (other / "NOTES.md").write_text("unrelated\n")
            git(other, "add", "NOTES.md")
            git(other, "commit", "--quiet", "-m", "notes")
            git(other, "push", "--quiet", "origin", "HEAD:main")
        elif not said or said[-1] != "B published":
            newer = run_cli("publish", src_b, "--out", clone(remote, tmp_path / "oB") / "bundles", env=env)
            assert newer.code == 0, newer.stderr
            said.append("B published")

    with pytest.raises(StaleSource) as refused:
        publish(src_a, clone(remote, tmp_path / "oA") / "bundles", say=said.append, before_push=job_b)

    assert c1 in str(refused.value) and c2 in str(refused.value)
    assert f"regenerating on top (attempt {len(pushes) + (2 if first else 1)})" in "\n".join(said)
    assert (WORKSPACE, NAME) not in fake_kube.secrets, "job A left the Secret it created behind"
    assert f"deleted Secret {WORKSPACE}/{NAME} on the management cluster again" in "\n".join(said)
    annotations = fake_kube.secrets[("apps", "api-token")]["metadata"]["annotations"]
    assert annotations[provenance.COMMIT_ANNOTATION] == c2, "B's Secret is kept"
    assert git(remote, "log", "-1", "--format=%(trailers:key=Fleet-Handshake-Source-Commit,valueonly)", "main") == c2


def test_an_older_job_never_prunes_a_secret_a_newer_job_wrote(
    tmp_path: Path, age_key: AgeKey, remote: Path, env: dict[str, str], fake_kube: FakeKube,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """c0 (handshakes db in fleet-default, a in apps) is published; c1 drops db; c2 drops a and adds
    x in fleet-default. Job B (c2) creates x's Secret; job A (c1) then finds it owned and not
    wanted by c1, pushes first (B has not pushed yet) and is held at its delete. B's push is
    rejected; its retry writes x's Secret again and, as A deletes it, pushes bundles that name it.
    A must leave a Secret a newer source wrote."""
    work = tmp_path / "src-work"
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(work))
    src = SourceRepo(work, age_key)
    src.write(".fleet-handshake.yaml", "mode: downstream\n")
    commits = []
    for message, kept in (("c0", [("db", NAME, WORKSPACE), ("a", "a-token", "apps")]),
                          ("c1: drop db", [("a", "a-token", "apps")]),
                          ("c2: drop a, add x", [("x", "x-token", WORKSPACE)])):  # fmt: skip
        src.handshakes(
            "hs.yaml", *(handshake(h, name, [{"clusterName": f"c-{h}"}], workspace=ws) for h, name, ws in kept)
        )
        for path in work.glob("*-secret.yaml"):
            path.unlink()
        for h, name, _ in kept:
            src.encrypted(f"{h}-secret.yaml", secret(name, stringData={"value": NEW}))
        git(work, "add", "-A")
        git(work, "commit", "--quiet", "-m", message)
        commits.append(git(work, "rev-parse", "HEAD"))
    c0, c1, c2 = commits
    origin = tmp_path / "src.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(work), str(origin))
    src_a, src_b = clone(origin, tmp_path / "srcA"), clone(origin, tmp_path / "srcB")
    git(src_a, "checkout", "--quiet", c0)
    git(src_b, "checkout", "--quiet", c2)
    assert run_cli("publish", src_a, "--out", clone(remote, tmp_path / "o0") / "bundles", env=env).code == 0
    git(src_a, "checkout", "--quiet", c1)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    holds: list[fakekube.Hold] = []
    jobs: list[subprocess.Popen[str]] = []

    def job_a() -> None:
        if not jobs:  # B's first push: A runs now, pushes, and is held at its delete
            holds.append(fake_kube.hold_next("GET", "/x-token"))  # A's first look at it is its delete's
            jobs.append(subprocess.Popen(publish_command(src_a, clone(remote, tmp_path / "oA"), "--allow-removals"),
                                         env=env_for_child(env), text=True, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE))  # fmt: skip
            arrived = holds[0].arrived.wait(60)
            assert arrived, "job A never reached its delete"
        else:  # B's retry wrote x's Secret again: A goes on, and ends before B pushes
            holds[0].release.set()
            jobs[0].wait(120)

    try:
        result = publish(src_b, clone(remote, tmp_path / "oB") / "bundles", say=lambda _: None, before_push=job_a,
                         allow_removals=True)  # fmt: skip
    finally:
        for hold in holds:
            hold.release.set()
        stdout, stderr = jobs[0].communicate(timeout=120) if jobs else ("", "")

    assert result.attempts == 2 and result.pushed
    assert (WORKSPACE, "x-token") in fake_kube.secrets, "job A deleted the Secret job B's pushed bundles name"
    assert jobs[0].returncode == 0, stderr
    assert f"kept Secret {WORKSPACE}/x-token" in stderr and f"deleted  Secret {WORKSPACE}/x-token" not in stderr
    assert "Traceback" not in stderr and NEW not in stdout + stderr and OLD not in stdout + stderr
    assert git(remote, "log", "-1", "--format=%(trailers:key=Fleet-Handshake-Source-Commit,valueonly)", "main") == c2
