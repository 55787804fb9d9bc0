"""A handshake being deleted (metadata.deletionTimestamp set, held by a finalizer) gets nothing
written. `kubectl delete fleethandshake app --cascade=orphan` is the way to keep its Bundles (and
its Secret on every cluster): the API server sets deletionTimestamp and the `orphan` finalizer
(and bumps the generation, so the controller is told), the garbage collector removes the
handshake's owner reference from every Bundle, then the handshake goes. A reconcile of the
handshake in that moment applied its Bundles again with the owner reference (server-side apply,
forced), and once the handshake was gone the garbage collector deleted them: the Secret removed
from every cluster that the user asked to keep. A foreground deletion (its dependents deleted
first) had its Bundles created again."""

from __future__ import annotations

from pathlib import Path

import fakekube
from controllertest import bundles, kubeconfig, put_handshake, status
from fakekube import FakeKube
from fhtest import handshake
from fleethandshake.adapters.kubeobjects import KubeObjects
from fleethandshake.app.reconcile import DELETING, Reconciler

fake_kube = fakekube.fake_kube
KEY = ("fleethandshakes", "fleet-default", "app")


def reconciler(fake: FakeKube, tmp_path: Path) -> Reconciler:
    return Reconciler(KubeObjects(kubeconfig=str(kubeconfig(fake, tmp_path))))


def in_deletion(fake: FakeKube, finalizer: str) -> dict[str, object]:
    """The handshake as the API server leaves it while `finalizer` holds its deletion."""
    obj = fake.get_object(*KEY)
    assert obj is not None
    obj["metadata"] |= {"deletionTimestamp": "2026-12-06T15:00:00Z", "finalizers": [finalizer]}
    return fake.put_object(obj)


def test_a_handshake_deleted_with_orphan_cascade_gets_no_owner_reference_back(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    fake_kube.put_secret("default", "db", {"password": "x"})
    put_handshake(fake_kube, "app", "db", [{"clusterName": "c1"}])
    assert reconciler(fake_kube, tmp_path).reconcile(fake_kube.get_object(*KEY) or {}).status.value == "Synced"
    deleting = in_deletion(fake_kube, "orphan")
    (name,) = bundles(fake_kube)
    orphaned = fake_kube.get_object("bundles", "fleet-default", name)
    assert orphaned is not None
    orphaned["metadata"].pop("ownerReferences")  # what the garbage collector does for `orphan`
    fake_kube.put_object(orphaned)
    before = len(fake_kube.requests)
    written = status(fake_kube, "fleet-default", "app")

    result = reconciler(fake_kube, tmp_path).reconcile(deleting)

    assert (result.message, result.retry) == (DELETING, False)
    assert [r.method for r in fake_kube.requests[before:]] == ["GET"], "nothing written, only the handshake read"
    assert "ownerReferences" not in bundles(fake_kube)[name]["metadata"]
    assert status(fake_kube, "fleet-default", "app") == written


def test_a_stale_copy_of_a_handshake_now_in_deletion_writes_nothing(fake_kube: FakeKube, tmp_path: Path) -> None:
    """The cache may still hold the object from before its deletion began: the one read decides."""
    fake_kube.put_secret("default", "db", {"password": "x"})
    cached = put_handshake(fake_kube, "app", "db", [{"clusterName": "c1"}])
    in_deletion(fake_kube, "foregroundDeletion")  # the garbage collector deletes the dependents first

    result = reconciler(fake_kube, tmp_path).reconcile(cached)

    assert (result.message, result.retry) == (DELETING, False)
    assert not bundles(fake_kube), "no Bundle created for a handshake that is going"
    assert not fake_kube.requests_of("PATCH") and not fake_kube.requests_of("DELETE")


def test_a_handshake_not_in_deletion_is_reconciled_as_before(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.put_secret("default", "db", {"password": "x"})
    fake_kube.put_object(handshake("app", "db", [{"clusterName": "c1"}]))
    obj = fake_kube.get_object(*KEY)
    assert obj is not None
    obj["metadata"]["finalizers"] = ["example.com/keep"]  # a finalizer alone: not being deleted
    obj = fake_kube.put_object(obj)

    assert reconciler(fake_kube, tmp_path).reconcile(obj).status.value == "Synced"
    assert len(bundles(fake_kube)) == 1
