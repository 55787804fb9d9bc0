"""Two FleetHandshake objects of one workspace that deliver one Secret name into one namespace
(`orders/db` and `payments/db`, both as Secret `db` into `app`) with targets that may reach one
cluster: there Helm refuses the second Bundle's Secret, so both cannot be Synced. The controller
applies `generate`'s rule (core/deliveries.py): the older keeps delivering, the newer is Error
and writes nothing until the conflict ends, and is then delivered without waiting for a resync
(FAST's resync is an hour, and an Error of this kind is not retried)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

import fakekube
from controllertest import bundles, kubeconfig, running, status, wait_for
from fakekube import FakeKube
from fhtest import handshake
from fleethandshake.adapters.kubeobjects import HANDSHAKES, KubeObjects
from fleethandshake.app.reconcile import Reconciler
from fleethandshake.app.rivals import refusal
from fleethandshake.core.bundleobject import handshake_of
from fleethandshake.core.models import LABEL_HANDSHAKE, Status

fake_kube = fakekube.fake_kube
VALUES = {"orders": "orders-value-never-shown", "payments": "payments-value-never-shown"}
C1, C2, C3 = [{"clusterName": "c1"}], [{"clusterName": "c2"}], [{"clusterName": "c3"}]


def delivering(name: str, targets: list[dict[str, Any]]) -> dict[str, Any]:
    """Handshake `name` delivering the Secret `name/db` as Secret `db` into namespace `app`."""
    return handshake(name, "db", targets, secret_namespace=name, target_namespace="app")


def put(fake: FakeKube, name: str, targets: list[dict[str, Any]]) -> dict[str, Any]:
    """Created (or changed, as `kubectl apply` would: a new generation), with its Secret."""
    if (name, "db") not in fake.secrets:
        fake.put_secret(name, "db", {"password": VALUES[name]})
    return fake.put_object(delivering(name, targets))


def now(fake: FakeKube, name: str) -> tuple[Any, Any]:
    found = status(fake, "fleet-default", name)
    return found.get("status"), found.get("observedGeneration")


def bundles_of(fake: FakeKube, name: str) -> set[str]:
    return {key for key, b in bundles(fake).items() if b["metadata"]["labels"].get(LABEL_HANDSHAKE) == name}


def delete(fake: FakeKube, tmp_path: Path, name: str) -> None:
    custom = client.CustomObjectsApi(config.new_client_from_config(str(kubeconfig(fake, tmp_path))))
    custom.delete_namespaced_custom_object(*HANDSHAKES[:2], "fleet-default", "fleethandshakes", name)


def assert_no_value(fake: FakeKube, caplog: pytest.LogCaptureFixture) -> None:
    said = [caplog.text, *(str(status(fake, "fleet-default", name)) for name in VALUES)]
    assert not [value for value in VALUES.values() for text in said if value in text]


def test_the_newer_of_two_that_may_fight_is_error_and_the_older_stays_synced(
    fake_kube: FakeKube, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    put(fake_kube, "orders", C1)
    put(fake_kube, "payments", C1)  # created after orders, or in the same second: the name decides
    with running(fake_kube, tmp_path):
        wait_for(lambda: now(fake_kube, "orders") == ("Synced", 1), "the older Synced")
        wait_for(lambda: now(fake_kube, "payments") == ("Error", 1), "the newer Error")
        # Each queues the other when it comes: the older, reconciled again, stays Synced.
        assert now(fake_kube, "orders") == ("Synced", 1)
    message = status(fake_kube, "fleet-default", "payments")["message"]
    assert "handshakes fleet-default/orders and fleet-default/payments both deliver Secret app/db" in message
    assert "deliver the Secret under one handshake, or make their targets provably disjoint" in message
    # Created in one second or not, by name or reconciled first: orders (test_controller_rivals_tie.py).
    assert "fleet-default/orders came first (created " in message and ") and keeps delivering it" in message
    assert "(fleet-default/orders is in the cluster since 20" in message
    assert bundles_of(fake_kube, "orders") and not bundles_of(fake_kube, "payments")
    assert_no_value(fake_kube, caplog)


def test_a_refused_handshake_writes_nothing_but_its_status(fake_kube: FakeKube, tmp_path: Path) -> None:
    orders, payments = put(fake_kube, "orders", C1), put(fake_kube, "payments", C1)
    reconciler = Reconciler(KubeObjects(kubeconfig=str(kubeconfig(fake_kube, tmp_path))))
    assert reconciler.reconcile(orders, [payments]).status is Status.SYNCED, "the newer does not refuse the older"
    before = len(fake_kube.requests)

    result = reconciler.reconcile(payments, [orders])

    assert (result.status, result.retry) == (Status.ERROR, False), "waits for a change, no retry"
    done = [(r.method, r.path) for r in fake_kube.requests[before:]]
    assert [path for method, path in done if method != "GET"] == [
        "/apis/riverpointtechnology.com/v1alpha1/namespaces/fleet-default/fleethandshakes/payments/status"
    ]
    assert not [path for _, path in done if "/secrets" in path or "/bundles" in path], "not even read"


def test_disjoint_targets_both_deliver(fake_kube: FakeKube, tmp_path: Path) -> None:
    put(fake_kube, "orders", C1)
    put(fake_kube, "payments", C2)  # another clusterName: provably another cluster
    with running(fake_kube, tmp_path):
        wait_for(lambda: now(fake_kube, "orders") == ("Synced", 1), "orders Synced")
        wait_for(lambda: now(fake_kube, "payments") == ("Synced", 1), "payments Synced")
    assert bundles_of(fake_kube, "orders") and bundles_of(fake_kube, "payments")


def test_deleting_the_older_delivers_the_newer_at_once(fake_kube: FakeKube, tmp_path: Path) -> None:
    put(fake_kube, "orders", C1)
    put(fake_kube, "payments", C1)
    with running(fake_kube, tmp_path):
        wait_for(lambda: now(fake_kube, "payments") == ("Error", 1), "the newer Error")
        wait_for(lambda: now(fake_kube, "orders") == ("Synced", 1), "the older Synced: its reconcile done")
        assert not bundles_of(fake_kube, "payments")
        delete(fake_kube, tmp_path, "orders")
        wait_for(lambda: now(fake_kube, "payments") == ("Synced", 1), "the newer Synced once the older is gone")
    assert bundles_of(fake_kube, "payments") and not bundles_of(fake_kube, "orders")


def test_a_newer_one_that_starts_to_fight_keeps_its_bundles_until_the_older_moves_away(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    put(fake_kube, "orders", C1)
    put(fake_kube, "payments", C2)
    with running(fake_kube, tmp_path):
        wait_for(lambda: now(fake_kube, "payments") == ("Synced", 1), "payments Synced on c2")
        kept = bundles_of(fake_kube, "payments")
        put(fake_kube, "payments", C1)  # now it may reach the cluster orders delivers to
        wait_for(lambda: now(fake_kube, "payments") == ("Error", 2), "the newer Error")
        assert bundles_of(fake_kube, "payments") == kept, "Error never removes"
        assert now(fake_kube, "orders") == ("Synced", 1)
        put(fake_kube, "orders", C3)  # the older moves away: the conflict ends
        wait_for(lambda: now(fake_kube, "payments") == ("Synced", 2), "the newer Synced on c1")
        wait_for(lambda: now(fake_kube, "orders") == ("Synced", 2), "the older Synced on c3")
    assert bundles_of(fake_kube, "payments") != kept, "the c2 Bundle replaced by the c1 one"


def test_the_older_is_the_one_created_first_then_the_first_by_name() -> None:
    def obj(name: str, created: str) -> dict[str, Any]:
        found = delivering(name, C1)
        found["metadata"]["creationTimestamp"] = created
        return found

    def refused(mine: dict[str, Any], *others: dict[str, Any]) -> str | None:
        hs, _ = handshake_of(mine)
        assert hs is not None
        return refusal(mine, hs, others)

    early, late = "2026-12-06T15:00:00Z", "2026-12-06T15:00:01Z"
    assert refused(obj("orders", late), obj("payments", early)) is not None, "created first, later by name"
    assert refused(obj("payments", early), obj("orders", late)) is None
    assert refused(obj("payments", early), obj("orders", early)) is not None, "a tie: the first by name"
    assert refused(obj("orders", early), obj("payments", early)) is None
    synced = {"status": "Synced", "message": "1 Bundle(s) applied (plain mode)"}
    assert refused(obj("orders", early), obj("payments", early) | {"status": synced}) is not None, "let deliver first"
    waits = {"status": "Error", "message": refused(obj("payments", early), obj("orders", early))}
    assert refused(obj("orders", early) | {"status": waits}, obj("payments", early) | {"status": synced}) is not None
    assert refused(obj("payments", early) | {"status": synced}, obj("orders", early) | {"status": waits}) is None
    assert refused(obj("payments", early) | {"status": synced}, obj("orders", late) | {"status": synced}) is None
    invalid = obj("payments", early) | {"spec": {"secretName": "db", "targetNamespace": "app"}}
    assert refused(obj("orders", late), invalid) is None, "an invalid one writes nothing: no rival"
