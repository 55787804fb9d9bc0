"""A handshake deleted and created again under its name (`kubectl replace --force`, or delete and
apply) while the controller still reconciles the old object: nothing is written for the old one.
Its Bundles would name a uid that is gone, the garbage collector would delete them (and Fleet the
Secret on every cluster), and nothing would queue the new object again until the next resync."""

from __future__ import annotations

from pathlib import Path

import fakekube
from controllertest import bundles, kubeconfig, put_handshake, status
from fakekube import FakeKube
from fhtest import handshake
from fleethandshake.adapters.kubeobjects import KubeObjects
from fleethandshake.app.reconcile import REPLACED, Reconciler

fake_kube = fakekube.fake_kube
KEY = ("fleethandshakes", "fleet-default", "app")


def replace(fake: FakeKube) -> str:
    """Delete the handshake (its dependents go, as the garbage collector does) and create it
    again: a new uid."""
    with fake._lock:  # held already when it runs inside the server (a reentrant lock)
        fake._collect(KEY)
    return fake.put_object(handshake("app", "db", [{"clusterName": "c1"}]))["metadata"]["uid"]


def test_an_old_object_the_cache_still_holds_writes_nothing(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.put_secret("default", "db", {"password": "x"})
    old = put_handshake(fake_kube, "app", "db", [{"clusterName": "c1"}])
    replace(fake_kube)
    reconciler = Reconciler(KubeObjects(kubeconfig=str(kubeconfig(fake_kube, tmp_path))))

    result = reconciler.reconcile(old)

    assert (result.message, result.retry) == (REPLACED, True)
    assert not fake_kube.requests_of("PATCH") and not fake_kube.requests_of("DELETE")
    assert status(fake_kube, "fleet-default", "app") == {}  # the new object's status is its own reconcile's


def test_an_object_replaced_during_its_reconcile_leaves_the_bundles_to_the_new_one(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    fake_kube.put_secret("default", "db", {"password": "x"})
    old = put_handshake(fake_kube, "app", "db", [{"clusterName": "c1"}])
    uids: list[str] = []
    fake_kube.before_next("PATCH", lambda fake: uids.append(replace(fake)))  # before the Bundle is applied
    reconciler = Reconciler(KubeObjects(kubeconfig=str(kubeconfig(fake_kube, tmp_path))))

    result = reconciler.reconcile(old)

    assert (result.message, result.retry) == (REPLACED, True)  # the retry reconciles the new object
    assert not [r for r in fake_kube.requests_of("PATCH") if r.path.endswith("/status")]
    new = fake_kube.get_object(*KEY)
    assert new is not None and reconciler.reconcile(new).status.value == "Synced"
    (bundle,) = bundles(fake_kube).values()
    assert [ref["uid"] for ref in bundle["metadata"]["ownerReferences"]] == uids
