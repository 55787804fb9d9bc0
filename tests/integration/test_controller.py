"""`fleet-handshake controller` against the loopback API server, with the real kubernetes
client and watch streams: Bundles and status from FleetHandshake objects and their Secrets."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from kubernetes import client, config

import fakekube
from controllertest import bundles, kubeconfig, put_handshake, running, status, wait_for
from fakekube import FakeKube

fake_kube = fakekube.fake_kube
TARGETS = [{"name": "one", "clusterName": "c1"}, {"clusterName": "c2", "doNotDeploy": True},
           {"name": "rest", "clusterSelector": {"matchLabels": {"env": "prod"}}}]  # fmt: skip


def synced(fake: FakeKube, name: str, generation: int = 1) -> bool:
    now = status(fake, "fleet-default", name)
    return now.get("status") == "Synced" and now.get("observedGeneration") == generation


def core(fake: FakeKube, tmp_path: Path) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(str(kubeconfig(fake, tmp_path))))


def custom(fake: FakeKube, tmp_path: Path) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(config.new_client_from_config(str(kubeconfig(fake, tmp_path))))


def test_a_handshake_becomes_synced_with_one_bundle_per_deploying_target(
    fake_kube: FakeKube, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_kube.put_secret("default", "db", {"password": "hunter2-value"})
    owner = put_handshake(fake_kube, "app", "db", TARGETS)
    with running(fake_kube, tmp_path):
        wait_for(lambda: synced(fake_kube, "app"), "the handshake Synced")
    found = bundles(fake_kube)
    assert len(found) == 2, "doNotDeploy targets have no bundle"
    first, rest = sorted(found.values(), key=lambda b: len(b["spec"]["targets"]))
    assert first["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "riverpointtechnology.com/v1alpha1",
            "kind": "FleetHandshake",
            "name": "app",
            "uid": owner["metadata"]["uid"],
            "controller": True,
        }
    ]
    labels = first["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "fleet-handshake"
    assert labels["fleethandshake.riverpointtechnology.com/handshake"] == "app"
    assert first["spec"]["namespace"] == "apps"
    assert first["spec"]["targets"] == [{"name": "one", "clusterName": "c1"}]
    assert first["spec"]["targetRestrictions"] == [{"name": "one", "clusterName": "c1"}]
    # First match wins: the later target's bundle skips the clusters earlier targets match.
    assert rest["spec"]["targets"] == [
        {"name": "one", "clusterName": "c1", "doNotDeploy": True},
        {"name": "target001", "clusterName": "c2", "doNotDeploy": True},
        {"name": "rest", "clusterSelector": {"matchLabels": {"env": "prod"}}},
    ]
    (resource,) = first["spec"]["resources"]
    assert resource["name"] == "secret.yaml"
    assert base64.b64encode(b"hunter2-value").decode() in resource["content"]
    assert status(fake_kube, "fleet-default", "app")["message"] == "2 Bundle(s) applied (plain mode)"
    assert "hunter2" not in caplog.text and "aHVudGVyMi" not in caplog.text, "logs never hold a value"


def test_secret_changes_reach_the_bundle_and_a_deleted_secret_makes_it_missing(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    fake_kube.put_secret("default", "db", {"password": "first"})
    put_handshake(fake_kube, "app", "db", TARGETS[:1])
    encoded = base64.b64encode(b"second").decode()
    with running(fake_kube, tmp_path):
        wait_for(lambda: synced(fake_kube, "app"), "the handshake Synced")
        fake_kube.put_secret("default", "db", {"password": "second"})
        wait_for(
            lambda: any(encoded in b["spec"]["resources"][0]["content"] for b in bundles(fake_kube).values()),
            "the Bundle updated with the Secret's new value",
        )
        before = bundles(fake_kube)
        core(fake_kube, tmp_path).delete_namespaced_secret("db", "default")
        wait_for(lambda: status(fake_kube, "fleet-default", "app").get("status") == "Missing", "Missing")
        assert "Secret default/db not found" in status(fake_kube, "fleet-default", "app")["message"]
        assert bundles(fake_kube) == before, "a Missing handshake keeps its Bundles as they are"
        fake_kube.put_secret("default", "db", {"password": "back"})
        wait_for(lambda: synced(fake_kube, "app"), "Synced again once the Secret is back")


def test_a_dropped_target_loses_its_bundle_and_only_that_one(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.put_secret("default", "db", {"password": "x"})
    put_handshake(fake_kube, "app", "db", [TARGETS[0], TARGETS[2]])
    api = custom(fake_kube, tmp_path)
    with running(fake_kube, tmp_path):
        wait_for(lambda: synced(fake_kube, "app"), "the handshake Synced")
        names = set(bundles(fake_kube))
        (kept,) = [n for n, b in bundles(fake_kube).items() if len(b["spec"]["targets"]) == 1]
        # A Bundle with the same labels that this handshake does not own (no owner reference) stays.
        stranger = {**bundles(fake_kube)[kept], "metadata": {"name": "stranger", "namespace": "fleet-default",
                    "labels": bundles(fake_kube)[kept]["metadata"]["labels"]}}  # fmt: skip
        fake_kube.put_object(stranger)
        patch = {"spec": {"targets": [TARGETS[0]]}}
        api.patch_namespaced_custom_object("riverpointtechnology.com", "v1alpha1", "fleet-default",
                                           "fleethandshakes", "app", patch)  # fmt: skip
        wait_for(lambda: synced(fake_kube, "app", generation=2), "Synced at generation 2")
    assert set(bundles(fake_kube)) == {kept, "stranger"}
    assert names - {kept} and "removed" in status(fake_kube, "fleet-default", "app")["message"]


def test_deleting_the_handshake_deletes_its_bundles(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.put_secret("default", "db", {"password": "x"})
    put_handshake(fake_kube, "app", "db", TARGETS)
    put_handshake(fake_kube, "other", "db", TARGETS[:1], target_namespace="others")  # app's would fight: app/rivals.py
    with running(fake_kube, tmp_path):
        wait_for(lambda: synced(fake_kube, "app") and synced(fake_kube, "other"), "both Synced")
        assert len(bundles(fake_kube)) == 3
        custom(fake_kube, tmp_path).delete_namespaced_custom_object(
            "riverpointtechnology.com", "v1alpha1", "fleet-default", "fleethandshakes", "app"
        )
        left = wait_for(lambda: len(bundles(fake_kube)) == 1 and bundles(fake_kube), "app's Bundles collected")
    assert [b["metadata"]["labels"]["fleethandshake.riverpointtechnology.com/handshake"] for b in left.values()] == [
        "other"
    ]


def test_an_api_error_gives_error_and_is_retried(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.put_secret("default", "db", {"password": "x"})
    put_handshake(fake_kube, "app", "db", TARGETS[:1])
    # The next apply of a Bundle fails (the status write after it does not).
    fake_kube.before_next("PATCH", lambda fake: fake.fail_next(503, "ServiceUnavailable", method="PATCH"))
    with running(fake_kube, tmp_path):
        wait_for(lambda: synced(fake_kube, "app"), "Synced after the retry")
    written = [r.json()["status"] for r in fake_kube.requests_of("PATCH") if r.path.endswith("/status")]
    assert written[0]["status"] == "Error" and "HTTP 503" in written[0]["message"], written
    assert written[-1]["status"] == "Synced"


def test_an_invalid_handshake_is_error_with_the_path(fake_kube: FakeKube, tmp_path: Path) -> None:
    put_handshake(fake_kube, "app", "db", [{"clusterName": "c1"}, {"clusterName": "c1"}])
    sops = put_handshake(fake_kube, "sealed", "db", TARGETS[:1])
    sops["metadata"]["annotations"] = {"fleethandshake.riverpointtechnology.com/mode": "sops"}
    fake_kube.put_object(sops)
    with running(fake_kube, tmp_path):
        wait_for(lambda: status(fake_kube, "fleet-default", "sealed").get("status") == "Error", "sops refused")
        wait_for(lambda: status(fake_kube, "fleet-default", "app").get("status") == "Error", "Error")
    assert "spec.targets[1]: repeats spec.targets[0]" in status(fake_kube, "fleet-default", "app")["message"]
    assert "sops is not available" in status(fake_kube, "fleet-default", "sealed")["message"]
    assert bundles(fake_kube) == {}


def test_an_unexpected_error_is_logged_without_its_message_and_retried(
    fake_kube: FakeKube, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in reconciling (here: a reconciler that raises) must not stop the worker, and its log
    line names the exception's type and where it was raised, never its message, which may quote
    a value."""
    from fleethandshake.adapters.kubeobjects import KubeObjects
    from fleethandshake.app.controller import Controller

    canary = "fh-canary-controller-log-4be1"
    calls: list[str] = []

    class Failing:
        def reconcile(self, obj: object, others: object) -> None:
            calls.append("reconcile")
            raise RuntimeError(f"the value was {canary}")

    controller = Controller(KubeObjects(kubeconfig=str(kubeconfig(fake_kube, tmp_path))))
    controller.reconciler = Failing()  # type: ignore[assignment]
    with caplog.at_level(logging.DEBUG, logger="fleet-handshake"):
        controller._reconcile(("fleet-default", "db"), {})
    assert calls == ["reconcile"]
    assert "unexpected RuntimeError; retrying" in caplog.text and "test_controller.py" in caplog.text
    assert canary not in caplog.text
    assert controller._failures[("fleet-default", "db")] == 1, "it is retried with backoff"
