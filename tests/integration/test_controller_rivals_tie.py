"""Two rival handshakes (app/rivals.py) created in the same second: creationTimestamp has whole
seconds, so it does not tell which came first. The one the controller let deliver first keeps
delivering (the other, refused, writes nothing), only then does the name decide; the order never
flips on later reconciles, and the refused one delivers once the other is gone.

The case: `zeta` is reconciled (and delivers) before `alpha`, created in the same second, reaches
the controller's cache. `alpha` sorts first by name; counted as the older it would deliver too,
and `zeta` would turn Error keeping its Bundles (Error never removes): both Secrets `db` on the
same cluster, each with its own value."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from kubernetes import client, config

import fakekube
from controllertest import bundles, kubeconfig, running, status, wait_for
from fakekube import FakeKube
from fhtest import handshake
from fleethandshake.adapters.kubeobjects import HANDSHAKES, KubeObjects
from fleethandshake.app.controller import Controller, Settings
from fleethandshake.app.reconcile import Reconciler
from fleethandshake.core.models import LABEL_HANDSHAKE, Status

fake_kube = fakekube.fake_kube
SECOND = "2026-12-06T15:00:00Z"  # both created in it
C1 = [{"clusterName": "c1"}]
FIRST = "fleet-default/zeta came first (created in the same second, and the controller let it deliver first)"


def put(fake: FakeKube, name: str) -> dict[str, Any]:
    """Handshake `name` delivering its Secret `name/db` as Secret `db` into `apps` on c1."""
    fake.put_secret(name, "db", {"password": f"{name}-value"})
    return fake.put_object(handshake(name, "db", C1, secret_namespace=name))


def stored(fake: FakeKube, name: str) -> dict[str, Any]:
    obj = fake.get_object("fleethandshakes", "fleet-default", name)
    assert obj is not None
    return obj


def bundles_of(fake: FakeKube, name: str) -> set[str]:
    return {key for key, b in bundles(fake).items() if b["metadata"]["labels"].get(LABEL_HANDSHAKE) == name}


def delete(fake: FakeKube, tmp_path: Path, name: str) -> None:
    custom = client.CustomObjectsApi(config.new_client_from_config(str(kubeconfig(fake, tmp_path))))
    custom.delete_namespaced_custom_object(*HANDSHAKES[:2], "fleet-default", "fleethandshakes", name)


def test_the_one_delivering_first_in_a_tied_second_keeps_delivering(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.second = SECOND
    api = KubeObjects(kubeconfig=str(kubeconfig(fake_kube, tmp_path)))
    reconciler = Reconciler(api)
    zeta = put(fake_kube, "zeta")
    assert reconciler.reconcile(zeta, []).status is Status.SYNCED, "alpha not in the cache yet"
    alpha = put(fake_kube, "alpha")
    assert alpha["metadata"]["creationTimestamp"] == zeta["metadata"]["creationTimestamp"] == SECOND
    delivered = bundles_of(fake_kube, "zeta")
    assert delivered

    # The cache may not show zeta's status yet: the object as it was before its reconcile.
    result = reconciler.reconcile(alpha, [zeta])

    assert result.status is Status.ERROR
    assert "handshakes fleet-default/alpha and fleet-default/zeta both deliver Secret apps/db" in result.message
    assert f"{FIRST} and keeps delivering it" in result.message, result.message
    assert not bundles_of(fake_kube, "alpha"), "the refused one writes nothing"
    # Later reconciles, by this controller and by a new one (which knows the statuses only):
    # the order stays.
    for again in (reconciler, Reconciler(api), Reconciler(api)):
        for name, other in (("zeta", "alpha"), ("alpha", "zeta")):
            again.reconcile(stored(fake_kube, name), [stored(fake_kube, other)])
        assert status(fake_kube, "fleet-default", "zeta")["status"] == "Synced"
        assert status(fake_kube, "fleet-default", "alpha")["status"] == "Error"
        assert FIRST in status(fake_kube, "fleet-default", "alpha")["message"]
        assert bundles_of(fake_kube, "zeta") == delivered and not bundles_of(fake_kube, "alpha")


def test_deleting_the_one_delivering_lets_its_twin_deliver(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.second = SECOND
    put(fake_kube, "zeta")
    with running(fake_kube, tmp_path):
        wait_for(lambda: status(fake_kube, "fleet-default", "zeta").get("status") == "Synced", "zeta Synced")
        put(fake_kube, "alpha")  # created in zeta's second, after zeta delivered
        wait_for(lambda: status(fake_kube, "fleet-default", "alpha").get("status") == "Error", "alpha Error")
        assert FIRST in status(fake_kube, "fleet-default", "alpha")["message"]
        assert status(fake_kube, "fleet-default", "zeta")["status"] == "Synced", "queued again by alpha: stays"
        assert bundles_of(fake_kube, "zeta") and not bundles_of(fake_kube, "alpha")
        delete(fake_kube, tmp_path, "zeta")
        wait_for(lambda: status(fake_kube, "fleet-default", "alpha").get("status") == "Synced", "alpha Synced")
        # zeta's clean-up is another worker's: alpha may be Synced before it has deleted zeta's Bundles.
        wait_for(lambda: not bundles_of(fake_kube, "zeta"), "zeta's Bundles deleted")
    assert bundles_of(fake_kube, "alpha") and not bundles_of(fake_kube, "zeta")


def test_neither_delivering_yet_the_first_by_name_delivers(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.second = SECOND
    zeta, alpha = put(fake_kube, "zeta"), put(fake_kube, "alpha")
    reconciler = Reconciler(KubeObjects(kubeconfig=str(kubeconfig(fake_kube, tmp_path))))

    refused = reconciler.reconcile(zeta, [alpha])  # both in the cache, neither reconciled yet

    assert refused.status is Status.ERROR
    assert "fleet-default/alpha came first (created in the same second: the first by name)" in refused.message
    assert reconciler.reconcile(alpha, [zeta]).status is Status.SYNCED
    assert reconciler.reconcile(stored(fake_kube, "zeta"), [stored(fake_kube, "alpha")]).status is Status.ERROR
    assert bundles_of(fake_kube, "alpha") and not bundles_of(fake_kube, "zeta")


def test_rivals_reconciled_at_once_by_two_workers_never_both_deliver(fake_kube: FakeKube, tmp_path: Path) -> None:
    """zeta's worker read its rivals (none yet) and is writing its Bundle when alpha, created in
    the same second, reaches the cache and a second worker. alpha read zeta without a status
    (neither let deliver yet), won by name and delivered too. Rivals now reconcile one at a time."""
    fake_kube.second = SECOND
    api = KubeObjects(kubeconfig=str(kubeconfig(fake_kube, tmp_path)))
    ctl = Controller(api, Settings(leader_election=False, health_port=None))
    zeta = put(fake_kube, "zeta")
    ctl._handshake_event("ADDED", zeta)
    held = fake_kube.hold_next("PATCH", "/bundles/zeta-")  # zeta's worker writes its Bundle
    first = threading.Thread(target=ctl._reconcile, args=(("fleet-default", "zeta"), zeta), daemon=True)
    first.start()
    assert held.arrived.wait(60), "zeta writes its Bundle"
    alpha = put(fake_kube, "alpha")
    ctl._handshake_event("ADDED", alpha)
    second = threading.Thread(target=ctl._reconcile, args=(("fleet-default", "alpha"), alpha), daemon=True)
    second.start()
    # alpha either delivers meanwhile (the defect), or waits for zeta's reconcile to end.
    wait_for(lambda: not second.is_alive() or ctl.deliveries.waiting > 0, "alpha done or waiting")
    held.release.set()
    first.join(60)
    second.join(60)

    assert status(fake_kube, "fleet-default", "zeta")["status"] == "Synced"
    assert bundles_of(fake_kube, "zeta")
    assert status(fake_kube, "fleet-default", "alpha")["status"] == "Error"
    assert FIRST in status(fake_kube, "fleet-default", "alpha")["message"]
    assert not bundles_of(fake_kube, "alpha"), "one Secret db on c1, one value"
