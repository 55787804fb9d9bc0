"""Controller mode and Bundles it did not write: a Bundle in the workspace under a name the
controller wants for a handshake, made by someone else (by hand, another tool, `fleet apply` of
generate's folder), is never applied over, owned nor deleted; the handshake turns Error naming
it, and nothing of the handshake is written. Against the loopback API server with the real
client; each reconcile is called directly, so nothing waits on the clock."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import fakekube
from controllertest import bundles, kubeconfig, status
from fakekube import FakeKube
from fhtest import handshake
from fleethandshake.adapters.kubeobjects import KubeObjects
from fleethandshake.app.reconcile import Reconciler, Result
from fleethandshake.core.bundleobject import handshake_of, owner_reference
from fleethandshake.core.bundles import bundles_for
from fleethandshake.core.models import Status
from fleethandshake.core.render import owner_labels

fake_kube = fakekube.fake_kube
TARGETS = [{"name": "one", "clusterName": "c1"}, {"name": "two", "clusterName": "c2"}]
MODE = "fleethandshake.riverpointtechnology.com/mode"


def reconcile(fake: FakeKube, tmp_path: Path, name: str = "app") -> Result:
    obj = fake.get_object("fleethandshakes", "fleet-default", name)
    assert obj is not None
    return Reconciler(KubeObjects(kubeconfig=str(kubeconfig(fake, tmp_path)))).reconcile(obj)


def names_of(hs: dict[str, Any], mode: str = "plain") -> list[str]:
    parsed, _ = handshake_of(hs)
    assert parsed is not None
    return [b.name for b in bundles_for(parsed, mode)]


def stranger(name: str, labels: dict[str, str] | None, owners: list[dict[str, Any]] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "fleet-default"}
    if labels is not None:
        meta["labels"] = labels
    if owners is not None:
        meta["ownerReferences"] = owners
    spec = {"namespace": "elsewhere", "resources": [{"name": "cm.yaml", "content": "someone else's"}]}
    return {"apiVersion": "fleet.cattle.io/v1alpha1", "kind": "Bundle", "metadata": meta, "spec": spec}


def writes(fake: FakeKube, since: int = 0) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.requests[since:] if r.method in ("PATCH", "DELETE", "POST", "PUT")
            and "/status" not in r.path]  # fmt: skip


def other_owner() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": "someone", "uid": "0000-other", "controller": True}


def parsed_labels(hs: dict[str, Any], source: str) -> dict[str, str]:
    parsed, _ = handshake_of(hs)
    assert parsed is not None
    return owner_labels(parsed, source)


CONTROLLER = "fleet-handshake-controller"
CASES: dict[str, Callable[[dict[str, Any]], tuple[dict[str, str] | None, list[dict[str, Any]] | None]]] = {
    "unlabelled": lambda hs: (None, None),
    "another tool's labels": lambda hs: ({"app": "mine"}, None),
    "generate's labels (fleet apply by hand)": lambda hs: (parsed_labels(hs, "platform-secrets-0123456789"), None),
    "another handshake's labels": lambda hs: (parsed_labels(handshake("other", "db", TARGETS), CONTROLLER), None),
    "this handshake's labels, another owner": lambda hs: (parsed_labels(hs, CONTROLLER), [other_owner()]),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("mode", ["plain", "downstream"])
def test_a_bundle_of_that_name_the_controller_did_not_write_is_left_alone(
    fake_kube: FakeKube, tmp_path: Path, case: str, mode: str
) -> None:
    fake_kube.put_secret("default", "db", {"password": "x"})
    hs = handshake("app", "db", TARGETS)
    hs["metadata"]["annotations"] = {MODE: mode}
    hs = fake_kube.put_object(hs)
    first, second = names_of(hs, mode)
    labels, owners = CASES[case](hs)
    before = fake_kube.put_object(stranger(second, labels, owners))
    since = len(fake_kube.requests)

    result = reconcile(fake_kube, tmp_path)

    assert result.status == Status.ERROR and not result.retry, result.message
    assert result.message.startswith(f"Bundle fleet-default/{second}")
    git = "generate's" in case  # generate's labels: git delivers it too (as with a GitRepo's, released if owned)
    said_why = "written by generate's or publish's output too" if git else "was not written by fleet-handshake's"
    assert said_why in result.message, result.message
    said = status(fake_kube, "fleet-default", "app")
    assert said["status"] == "Error" and said["message"] == result.message
    assert bundles(fake_kube) == {second: before}, "not applied over, and nothing else of the handshake applied"
    assert writes(fake_kube, since) == [], "no write but the status: no copy, no Bundle, no deletion"
    assert first not in bundles(fake_kube)


def test_it_delivers_once_the_other_bundle_is_gone(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.put_secret("default", "db", {"password": "x"})
    hs = fake_kube.put_object(handshake("app", "db", TARGETS[:1]))
    (name,) = names_of(hs)
    fake_kube.put_object(stranger(name, None, None))
    assert reconcile(fake_kube, tmp_path).status == Status.ERROR
    fake_kube.objects.pop(("bundles", "fleet-default", name))

    assert reconcile(fake_kube, tmp_path).status == Status.SYNCED
    assert bundles(fake_kube)[name]["metadata"]["ownerReferences"] == [owner_reference(hs)]


def test_a_bundle_the_controller_wrote_for_an_earlier_object_of_this_name_is_taken_over(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    """`kubectl delete fleethandshake app --cascade=orphan`, then app created again: its Bundles
    (this handshake's labels, the controller's source, no owner reference) are its own again."""
    fake_kube.put_secret("default", "db", {"password": "x"})
    hs = fake_kube.put_object(handshake("app", "db", TARGETS[:1]))
    assert reconcile(fake_kube, tmp_path).status == Status.SYNCED
    (name,) = bundles(fake_kube)
    orphan = copy.deepcopy(bundles(fake_kube)[name])
    orphan["metadata"].pop("ownerReferences")
    fake_kube.put_object(orphan)

    assert reconcile(fake_kube, tmp_path).status == Status.SYNCED
    assert bundles(fake_kube)[name]["metadata"]["ownerReferences"] == [owner_reference(hs)]


def test_a_dropped_targets_bundle_that_another_tool_took_over_is_not_deleted(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    """`fleet apply` of generate's folder (no GitRepo, so no repo label) over the controller's
    Bundle keeps the owner reference and replaces the labels: generate's source. Its target
    dropped, the controller releases it, never deletes it."""
    fake_kube.put_secret("default", "db", {"password": "x"})
    hs = fake_kube.put_object(handshake("app", "db", TARGETS))
    assert reconcile(fake_kube, tmp_path).status == Status.SYNCED
    kept, taken = names_of(hs)
    bundle = copy.deepcopy(bundles(fake_kube)[taken])
    bundle["metadata"]["labels"] = parsed_labels(hs, "platform-secrets-0123456789")
    fake_kube.put_object(bundle)
    changed = fake_kube.get_object("fleethandshakes", "fleet-default", "app")
    assert changed is not None
    changed["spec"]["targets"] = TARGETS[:1]
    fake_kube.put_object(changed)

    result = reconcile(fake_kube, tmp_path)

    assert result.status == Status.SYNCED, result.message
    assert set(bundles(fake_kube)) == {kept, taken}
    assert "ownerReferences" not in bundles(fake_kube)[taken]["metadata"], "released: it outlives the handshake"
    assert f"released Bundle fleet-default/{taken}" in result.message
