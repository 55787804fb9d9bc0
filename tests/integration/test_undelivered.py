"""What a delivery mode cannot deliver of a Secret is said, not passed over as Synced.

Fleet clones a downstream Secret's data and type only (rancher/fleet
internal/cmd/controller/reconciler/bundle_controller.go cloneSecret: no labels, annotations or
`immutable`), and the sops-secrets-operator's SopsSecret template has no `immutable`. A
service-account token Secret copied without its `kubernetes.io/service-account.name` annotation
is refused by the API server, so downstream mode refuses it (Error, nothing applied).
Downstream mode runs against the loopback API server (tests/fakekube.py) with the real client.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import fakekube
from controllertest import running, status, wait_for
from fakekube import FakeKube, write_kubeconfig
from fhtest import AgeKey, SourceRepo, handshake, make_age_key, run_cli, secret

fake_kube = fakekube.fake_kube
VALUE = "undelivered-canary-Tk40"
META = {"labels": {"team": "orders"}, "annotations": {"reloader.stakater.com/match": "true"}}


@pytest.fixture
def kube_env(fake_kube: FakeKube, tmp_path: Path, key_env: dict[str, str]) -> dict[str, str]:
    config = write_kubeconfig(tmp_path / "kubeconfig", {"mgmt": fake_kube}, "mgmt")
    return {**key_env, "KUBECONFIG": str(config)}


def secrets(repo: SourceRepo) -> None:
    repo.handshakes("hs.yaml", handshake("rich", "rich", [{"clusterName": "c1"}]),
                    handshake("bare", "bare", [{"clusterName": "c1"}]))  # fmt: skip
    rich = secret("rich", stringData={"password": VALUE}, immutable=True)
    rich["metadata"].update(META)
    repo.encrypted("rich.yaml", rich)
    repo.encrypted("bare.yaml", secret("bare", stringData={"password": VALUE}))


def test_downstream_mode_says_which_parts_of_a_secret_do_not_reach_the_clusters(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    repo.write(".fleet-handshake.yaml", "mode: downstream\n")
    secrets(repo)
    out = tmp_path / "out"

    first = run_cli("generate", repo.root, "--out", out, env=kube_env)

    assert first.code == 0, first.stderr
    warning = next(line for line in first.stderr.splitlines() if line.startswith("warning: 1 Secret(s)"))
    assert "fleet-default/rich (downstream: labels, annotations, immutable)" in warning
    assert "bare" not in warning
    assert VALUE not in first.stdout + first.stderr
    plan = run_cli("plan", repo.root, "--out", out, env=kube_env)
    assert "warning:" not in plan.stderr  # nothing written this time: said when it is written


def test_sops_mode_says_immutable_does_not_reach_the_clusters(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    (tmp_path / "cluster-key").mkdir()
    cluster: AgeKey = make_age_key(tmp_path / "cluster-key", "c1")
    repo.sops_mode(cluster)
    secrets(repo)

    result = run_cli("generate", repo.root, "--out", tmp_path / "out", env=key_env)

    assert result.code == 0, result.stderr
    assert "fleet-default/rich (sops: immutable)" in result.stderr  # labels and annotations it delivers


def test_plain_mode_delivers_everything_and_warns_of_nothing_partial(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    secrets(repo)
    result = run_cli("generate", repo.root, "--out", tmp_path / "out", env=key_env)
    assert result.code == 0, result.stderr
    assert "reach the clusters without part" not in result.stderr


def test_a_service_account_token_is_refused_in_downstream_mode(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    repo.write(".fleet-handshake.yaml", "mode: downstream\n")
    repo.handshakes("hs.yaml", handshake("sa", "sa-token", [{"clusterName": "c1"}]))
    token = secret("sa-token", type="kubernetes.io/service-account-token", stringData={"token": VALUE})
    token["metadata"]["annotations"] = {"kubernetes.io/service-account.name": "builder"}
    repo.encrypted("sa.yaml", token)

    result = run_cli("generate", repo.root, "--out", tmp_path / "out", env=kube_env)

    assert result.code == 1
    assert "Error" in result.stderr and "cannot be delivered in downstream mode" in result.stderr
    assert ("fleet-default", "sa-token") not in fake_kube.secrets
    assert VALUE not in result.stdout + result.stderr


def test_the_controller_says_it_in_the_handshakes_status(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.put_secret("default", "db", {"password": VALUE}, labels={"team": "orders"})
    hs = handshake("app", "db", [{"clusterName": "c1"}])
    hs["metadata"]["annotations"] = {"fleethandshake.riverpointtechnology.com/mode": "downstream"}
    fake_kube.put_object(hs)
    with running(fake_kube, tmp_path):
        wait_for(lambda: status(fake_kube, "fleet-default", "app").get("status") == "Synced", "Synced")
    message = status(fake_kube, "fleet-default", "app")["message"]
    assert message.endswith("; its labels do not reach the clusters in downstream mode"), message
