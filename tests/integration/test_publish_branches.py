"""Downstream mode: two branches of one output repository publishing to one management cluster share
the derived source identity (the branch is not part of it); each management Secret records the
output branch it was written for, and a run for another branch neither deletes nor overwrites it.
README.md, "Ownership: each source removes only its own".

Real CLI, real git (bare output remote, a source repository), the real kubernetes client against
the loopback API server (tests/fakekube.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import fakekube
from fakekube import FakeKube, write_kubeconfig
from fhtest import GIT_ENV, AgeKey, SourceRepo, clone, git, handshake, remote_files, run_cli, secret
from fleethandshake.core.ownership import BRANCH_ANNOTATION

fake_kube = fakekube.fake_kube
WS = "fleet-default"


@pytest.fixture
def env(fake_kube: FakeKube, tmp_path: Path, key_env: dict[str, str]) -> dict[str, str]:
    config = write_kubeconfig(tmp_path / "kubeconfig", {"mgmt": fake_kube}, "mgmt")
    return {**key_env, **GIT_ENV, "KUBECONFIG": str(config)}


def source(root: Path, key: AgeKey, **values: str) -> SourceRepo:
    """A downstream-mode source: handshake `h` delivers Secret `h-creds` holding `values[h]`."""
    src = SourceRepo(root, key)
    src.write(".fleet-handshake.yaml", "mode: downstream\n")
    for f in root.glob("*.yaml"):
        if f.name != ".fleet-handshake.yaml":
            f.unlink()
    for hs, value in values.items():
        src.handshakes(f"{hs}.yaml", handshake(hs, f"{hs}-creds", [{"clusterName": "c1"}]))
        src.encrypted(f"{hs}-secret.yaml", secret(f"{hs}-creds", stringData={"k": value}))
    return src


def publish_staging(tmp_path: Path, key: AgeKey, remote: Path, env: dict[str, str], **values: str) -> Path:
    """`publish --branch staging` of a source holding `values`, from a new clone; returns its OUT."""
    out = clone(remote, tmp_path / "o") / "bundles"
    staging = source(tmp_path / "src-staging", key, **values)
    assert run_cli("publish", staging.root, "--out", out, "--branch", "staging", env=env).code == 0
    return out


def annotation(kube: FakeKube, name: str) -> str | None:
    return (kube.secrets[(WS, name)]["metadata"].get("annotations") or {}).get(BRANCH_ANNOTATION)


def test_prune_keeps_the_secret_another_branch_of_the_output_wrote(
    tmp_path: Path, age_key: AgeKey, remote: Path, env: dict[str, str], fake_kube: FakeKube
) -> None:
    # One source repository: prod publishes a commit that descends from staging's, so the order
    # of sources (Guard) lets it write; before the fix its prune deleted staging's a-creds.
    work = tmp_path / "src"
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(work))
    source(work, age_key, a="v-a")
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "staging: a")
    out = clone(remote, tmp_path / "o") / "bundles"
    staging = run_cli("publish", work, "--out", out, "--branch", "staging", env=env)
    assert staging.code == 0, staging.stderr
    assert annotation(fake_kube, "a-creds") == "staging"

    source(work, age_key, b="v-b")  # a is gone, b is new
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "prod: b")
    prod = run_cli("publish", work, "--out", out, "--branch", "prod", env=env)
    assert prod.code == 0, prod.stderr

    assert fake_kube.secret_values(WS, "a-creds") == {"k": "v-a"}  # staging's bundles still name it
    assert annotation(fake_kube, "a-creds") == "staging"
    assert annotation(fake_kube, "b-creds") == "prod"
    assert "kept Secret fleet-default/a-creds on the management cluster" in prod.stderr
    assert "written for output branch staging, not prod" in prod.stderr
    assert "deleted  Secret" not in prod.stderr
    assert any(p.startswith("bundles/fleet-default/a-") for p in remote_files(remote, "staging"))


def test_a_handshake_wanting_a_secret_another_branch_wrote_is_error(
    tmp_path: Path, age_key: AgeKey, remote: Path, env: dict[str, str], fake_kube: FakeKube
) -> None:
    out = publish_staging(tmp_path, age_key, remote, env, a="v-staging")
    before = fake_kube.secrets[(WS, "a-creds")]["metadata"]["resourceVersion"]

    prod = source(tmp_path / "src-prod", age_key, a="v-prod", b="v-b")
    r = run_cli("publish", prod.root, "--out", out, "--branch", "prod", env=env)

    assert r.code == 1, r.stderr
    assert "written for output branch staging, and this run writes for branch prod" in r.stderr
    assert "need their own `source:` in .fleet-handshake.yaml" in r.stderr
    # nothing written for that handshake: staging's Secret as it was, no bundle of `a` on prod
    assert fake_kube.secrets[(WS, "a-creds")]["metadata"]["resourceVersion"] == before
    assert fake_kube.secret_values(WS, "a-creds") == {"k": "v-staging"}
    assert annotation(fake_kube, "a-creds") == "staging"
    prod_files = remote_files(remote, "prod")
    assert not any(p.startswith("bundles/fleet-default/a-") for p in prod_files)
    assert any(p.startswith("bundles/fleet-default/b-") for p in prod_files)  # the others are delivered
    assert fake_kube.secret_values(WS, "b-creds") == {"k": "v-b"}


def test_a_secret_that_records_no_branch_is_taken_and_pruned_as_before(
    tmp_path: Path, age_key: AgeKey, remote: Path, env: dict[str, str], fake_kube: FakeKube
) -> None:
    out = publish_staging(tmp_path, age_key, remote, env, a="v-staging", c="v-c")
    for name in ("a-creds", "c-creds"):  # as an earlier version wrote them: no branch recorded
        obj = fake_kube.secrets[(WS, name)]
        del obj["metadata"]["annotations"][BRANCH_ANNOTATION]
        fake_kube.put_object(obj)

    prod = source(tmp_path / "src-prod", age_key, a="v-prod", b="v-b")
    r = run_cli("publish", prod.root, "--out", out, "--branch", "prod", env=env)

    assert r.code == 0, r.stderr
    assert fake_kube.secret_values(WS, "a-creds") == {"k": "v-prod"}  # taken over, as before
    assert (WS, "c-creds") not in fake_kube.secrets  # pruned, as before
    assert "deleted  Secret fleet-default/c-creds on the management cluster" in r.stderr
    assert annotation(fake_kube, "a-creds") == "prod"  # and now recorded
    assert annotation(fake_kube, "b-creds") == "prod"


def test_generate_records_the_branch_out_is_on_and_none_when_detached(
    tmp_path: Path, age_key: AgeKey, remote: Path, env: dict[str, str], fake_kube: FakeKube
) -> None:
    out = publish_staging(tmp_path, age_key, remote, env, a="v-a")

    git(out.parent, "checkout", "--quiet", "-b", "prod")
    prod = source(tmp_path / "src-prod", age_key, b="v-b")
    r = run_cli("generate", prod.root, "--out", out, env=env)
    assert r.code == 0, r.stderr
    assert annotation(fake_kube, "b-creds") == "prod"
    assert fake_kube.secret_values(WS, "a-creds") == {"k": "v-a"}
    assert "kept Secret fleet-default/a-creds" in r.stderr

    git(out.parent, "checkout", "--quiet", "--detach")
    prod.encrypted("b-secret.yaml", secret("b-creds", stringData={"k": "v-b2"}))
    r = run_cli("generate", prod.root, "--out", out, env=env)
    assert r.code == 0, r.stderr
    assert fake_kube.secret_values(WS, "b-creds") == {"k": "v-b2"}
    assert annotation(fake_kube, "b-creds") is None  # no branch: none recorded
