"""`publish --wait` and the Action's `wait`: real git (a bare remote), the loopback API server with
the real kubernetes client, Fleet's objects as Fleet writes them (tests/fleetsim.py). What Fleet
does after the push is driven by request hooks of the fake, never by time: one look at Fleet is
one list of Bundles, BundleDeployments, Clusters and ClusterGroups per workspace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import fakekube
from fakekube import FakeKube, write_kubeconfig
from fhtest import Run, SourceRepo, clone, git, handshake, read_tree, run_cli, secret
from fleetsim import bundles_of, put_bundle, put_cluster, put_deployment

fake_kube = fakekube.fake_kube
VALUE = "wait-canary-7c0"
LOOK = 4  # requests per look at one workspace


@pytest.fixture
def kube_env(fake_kube: FakeKube, tmp_path: Path, env_keys: dict[str, str]) -> dict[str, str]:
    config = write_kubeconfig(tmp_path / "kubeconfig", {"mgmt": fake_kube}, "mgmt")
    return {**env_keys, "KUBECONFIG": str(config)}


@pytest.fixture
def work(repo: SourceRepo, remote: Path, tmp_path: Path, fake_kube: FakeKube) -> Path:
    repo.handshakes(
        "hs.yaml", handshake("registry", "registry-pull", [{"clusterSelector": {"matchLabels": {"env": "prod"}}}])
    )
    repo.encrypted("s.yaml", secret("registry-pull", stringData={"token": VALUE}))
    put_cluster(fake_kube, "c-m-eu", "eu-west", {"env": "prod"})
    put_cluster(fake_kube, "c-m-us", "us-east", {"env": "prod"})
    return clone(remote, tmp_path / "work")


def fleet_deploys(remote: Path, out: Path, clusters: tuple[str, ...]) -> Callable[[FakeKube], None]:
    """Fleet reads the branch's head and deploys it Ready to `clusters`."""

    def deploy(fake: FakeKube) -> None:
        commit = git(remote, "rev-parse", "main")
        for workspace, fleet in bundles_of(read_tree(out)):
            put_bundle(fake, workspace, fleet, commit)
            for cluster in clusters:
                put_deployment(fake, workspace, fleet, cluster, "Ready", commit)

    return deploy


def after_looks(fake: FakeKube, looks: int, hook: Callable[[FakeKube], None]) -> None:
    """Run `hook` once `looks` whole looks at Fleet are done, before the next one starts."""
    for _ in range(looks * LOOK):
        fake.before_next("GET", lambda _: None)
    fake.before_next("GET", hook)


def publish(env: dict[str, str], repo: SourceRepo, work: Path, *args: str) -> Run:
    result = run_cli("publish", repo.root, "--out", work / "bundles", *args, env=env)
    assert "Traceback" not in result.stderr and VALUE not in result.stdout + result.stderr
    return result


def test_publish_waits_until_fleet_reports_the_pushed_commit_ready(
    repo: SourceRepo, remote: Path, work: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    after_looks(fake_kube, 1, fleet_deploys(remote, work / "bundles", ("c-m-eu", "c-m-us")))

    result = publish(kube_env, repo, work, "--wait", "600", "--wait-interval", "0")

    assert result.code == 0, result.stdout + result.stderr
    pushed = git(remote, "rev-parse", "main")
    assert f"committed {pushed[:12]} and pushed" in result.stderr
    assert (
        f"Ready: every targeted cluster is Ready at OUT's commit {pushed[:12]} (2 bundle deployment(s))."
        in result.stdout
    )
    assert len(fake_kube.requests_of("GET")) == 2 * LOOK, "the first look saw nothing Ready: it looked again"
    assert "waiting for Fleet" not in result.stderr, "progress only on a terminal"

    # Nothing to publish: it waits for the branch's commit, which Fleet reports Ready at once.
    again = publish(kube_env, repo, work, "--wait", "--wait-interval", "0")
    assert again.code == 0 and "nothing to commit" in again.stderr
    assert len(fake_kube.requests_of("GET")) == 3 * LOOK


def test_publish_wait_times_out_naming_the_clusters_not_ready(
    repo: SourceRepo, remote: Path, work: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    # Fleet reads the commit, but only eu-west gets there.
    after_looks(fake_kube, 0, fleet_deploys(remote, work / "bundles", ("c-m-eu",)))

    result = publish(kube_env, repo, work, "--wait", "0")

    assert result.code == 11
    pushed = git(remote, "rev-parse", "main")
    assert git(remote, "rev-parse", "main") == git(work, "rev-parse", "HEAD"), "published before waiting"
    assert f"fleet-handshake: not Ready after 0 s at commit {pushed[:12]}; not Ready: us-east" in result.stderr
    assert "  us-east  Pending      -             no BundleDeployment" in result.stdout
    assert len(fake_kube.requests_of("GET")) == LOOK, "a timeout of 0 looks once"


def test_publish_wait_refuses_no_push_and_a_missing_kubeconfig_before_publishing(
    repo: SourceRepo, remote: Path, work: Path, env_keys: dict[str, str], tmp_path: Path
) -> None:
    head = git(remote, "rev-parse", "main")
    result = publish(env_keys, repo, work, "--wait", "--no-push")
    assert result.code == 2 and "cannot be used with --no-push" in result.stderr
    result = publish({**env_keys, "KUBECONFIG": str(tmp_path / "none")}, repo, work, "--wait")
    assert result.code == 2 and "cannot load the Kubernetes configuration" in result.stderr
    assert git(remote, "rev-parse", "main") == head and git(work, "rev-parse", "HEAD") == head


def test_the_action_waits_and_writes_the_status_to_the_job_summary(
    repo: SourceRepo, remote: Path, work: Path, kube_env: dict[str, str], fake_kube: FakeKube, tmp_path: Path
) -> None:
    after_looks(fake_kube, 0, fleet_deploys(remote, work / "bundles", ("c-m-eu",)))
    summary = tmp_path / "summary.md"
    env = {**kube_env, "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(tmp_path / "output.txt")}
    common = ("--command", "publish", "--source", repo.root, "--out", work / "bundles", "--repo-root", tmp_path)

    result = run_cli("action", *common, "--wait", "0", env=env)

    assert result.code == 11, result.stderr
    pushed = git(remote, "rev-parse", "main")
    assert (
        f"::error title=fleet-handshake::not Ready after 0 s at commit {pushed[:12]}; not Ready: us-east"
        in result.stdout
    )
    text = summary.read_text()
    assert "### fleet-handshake publish" in text and "<!-- fleet-handshake-status -->" in text
    assert "| us-east | Pending | `-` |" in text and f"| eu-west | ✅ Ready | `{pushed[:12]}` |" in text
    assert VALUE not in text + result.stdout + result.stderr
