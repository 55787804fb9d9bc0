"""The loopback API server's Fleet and FleetHandshake resources, through the real `kubernetes`
client, so that the tests of status, import and the controller stand on a fake that behaves like
the API server in what they rely on: create, list across namespaces with label selectors, apply,
the status subresource, generation, and garbage collection through owner references."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch

import fakekube
from fakekube import FakeKube, write_kubeconfig

fake_kube = fakekube.fake_kube

FLEET = ("fleet.cattle.io", "v1alpha1")
FH = ("riverpointtechnology.com", "v1alpha1")


@pytest.fixture
def api(fake_kube: FakeKube, tmp_path: Path) -> client.CustomObjectsApi:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"fake": fake_kube})
    return client.CustomObjectsApi(config.new_client_from_config(str(kubeconfig)))


def handshake(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "riverpointtechnology.com/v1alpha1",
        "kind": "FleetHandshake",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"secretName": "db", "secretNamespace": "apps", "targets": [{"clusterName": "c1"}]},
    }


def test_create_list_across_namespaces_and_select_by_label(api: client.CustomObjectsApi) -> None:
    api.create_namespaced_custom_object(*FH, "fleet-default", "fleethandshakes", handshake("a", "fleet-default"))
    api.create_namespaced_custom_object(
        *FH, "fleet-local", "fleethandshakes", handshake("b", "fleet-local", {"t": "x"})
    )
    everywhere = api.list_cluster_custom_object(*FH, "fleethandshakes")
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in everywhere["items"]] == [
        ("fleet-default", "a"),
        ("fleet-local", "b"),
    ]
    assert everywhere["kind"] == "FleetHandshakeList"
    selected = api.list_cluster_custom_object(*FH, "fleethandshakes", label_selector="t=x")
    assert [o["metadata"]["name"] for o in selected["items"]] == ["b"]
    one_namespace = api.list_namespaced_custom_object(*FH, "fleet-default", "fleethandshakes")
    assert [o["metadata"]["name"] for o in one_namespace["items"]] == ["a"]
    with pytest.raises(client.ApiException) as raised:
        api.create_namespaced_custom_object(*FH, "fleet-default", "fleethandshakes", handshake("a", "fleet-default"))
    assert raised.value.status == 409


def test_status_is_written_apart_and_does_not_move_the_generation(api: client.CustomObjectsApi) -> None:
    created = api.create_namespaced_custom_object(*FH, "ns", "fleethandshakes", handshake("a", "ns"))
    assert created["metadata"]["generation"] == 1 and "status" not in created
    api.patch_namespaced_custom_object_status(*FH, "ns", "fleethandshakes", "a", {"status": {"status": "Synced"}})
    read = api.get_namespaced_custom_object(*FH, "ns", "fleethandshakes", "a")
    assert read["status"] == {"status": "Synced"} and read["metadata"]["generation"] == 1
    api.patch_namespaced_custom_object(*FH, "ns", "fleethandshakes", "a", {"spec": {"secretName": "other"}})
    read = api.get_namespaced_custom_object(*FH, "ns", "fleethandshakes", "a")
    assert read["spec"]["secretName"] == "other" and read["metadata"]["generation"] == 2
    assert read["status"] == {"status": "Synced"}, "a spec patch leaves the status alone"


def _reference(owner: dict[str, Any]) -> dict[str, Any]:
    name, uid = owner["metadata"]["name"], owner["metadata"]["uid"]
    return {"apiVersion": owner["apiVersion"], "kind": "FleetHandshake", "name": name, "uid": uid}


def test_deleting_an_owner_collects_what_it_owns(fake_kube: FakeKube, api: client.CustomObjectsApi) -> None:
    owner = api.create_namespaced_custom_object(*FH, "ns", "fleethandshakes", handshake("a", "ns"))
    reference = _reference(owner)
    for name, refs in (("owned", [reference]), ("other", [])):
        bundle = {
            "apiVersion": "fleet.cattle.io/v1alpha1",
            "kind": "Bundle",
            "metadata": {"name": name, "namespace": "ns", "ownerReferences": refs},
            "spec": {"resources": [{"name": "secret.yaml", "content": "x"}]},
        }
        fake_kube.put_object(bundle)
    api.delete_namespaced_custom_object(*FH, "ns", "fleethandshakes", "a")
    assert [b["metadata"]["name"] for b in fake_kube.objects_of("bundles")] == ["other"]


def test_apply_of_a_bundle_owns_its_fields(api: client.CustomObjectsApi) -> None:
    bundle: dict[str, Any] = {
        "apiVersion": "fleet.cattle.io/v1alpha1",
        "kind": "Bundle",
        "metadata": {"name": "b", "namespace": "ns", "labels": {"a": "1"}},
        "spec": {"targets": [{"clusterName": "c1"}], "resources": [{"name": "s.yaml", "content": "one"}]},
    }
    apply = {"field_manager": "fh", "_content_type": fakekube.APPLY_PATCH}
    # An apply that creates answers 201, which the generated client reads as no body (its patch
    # methods map only 200), as against a real API server.
    _, code, _ = api.patch_namespaced_custom_object_with_http_info(*FLEET, "ns", "bundles", "b", bundle, **apply)
    assert code == 201
    first = api.get_namespaced_custom_object(*FLEET, "ns", "bundles", "b")
    assert first["spec"]["resources"][0]["content"] == "one" and first["metadata"]["generation"] == 1
    same = api.patch_namespaced_custom_object(*FLEET, "ns", "bundles", "b", bundle, **apply)
    assert same["metadata"]["generation"] == 1, "an apply that changes nothing leaves the generation"
    bundle["spec"] = {"resources": [{"name": "s.yaml", "content": "two"}]}
    second = api.patch_namespaced_custom_object(*FLEET, "ns", "bundles", "b", bundle, **apply)
    assert second["spec"] == {"resources": [{"name": "s.yaml", "content": "two"}]}, "targets no longer applied go"
    assert second["metadata"]["generation"] == 2


def test_rbac_on_other_resources(fake_kube: FakeKube, api: client.CustomObjectsApi) -> None:
    fake_kube.allowed = {"bundles": {"list"}}
    api.list_cluster_custom_object(*FLEET, "bundles")
    with pytest.raises(client.ApiException) as raised:
        api.list_cluster_custom_object(*FH, "fleethandshakes")
    assert raised.value.status == 403


# Watch streams and Leases: what the controller's informers and leader election stand on.


def _watch(api: Any, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every event of one watch request (it ends at timeout_seconds), read by the client's Watch, as
    JSON. (`deserialize=False` would be the way, but client 37 then fails on an ERROR event.)"""
    return [{"type": e["type"], "object": e["raw_object"]} for e in watch.Watch().stream(api, *args, **kwargs)]


def _seen(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"]["name"]) for e in events if e["type"] != "BOOKMARK"]


def test_watch_from_a_list_replays_every_change_after_it(api: client.CustomObjectsApi) -> None:
    api.create_namespaced_custom_object(*FH, "ns", "fleethandshakes", handshake("before", "ns"))
    version = api.list_cluster_custom_object(*FH, "fleethandshakes")["metadata"]["resourceVersion"]
    api.create_namespaced_custom_object(*FH, "ns", "fleethandshakes", handshake("a", "ns"))
    api.patch_namespaced_custom_object(*FH, "ns", "fleethandshakes", "a", {"spec": {"secretName": "other"}})
    api.delete_namespaced_custom_object(*FH, "ns", "fleethandshakes", "a")
    events = _watch(api.list_cluster_custom_object, *FH, "fleethandshakes", resource_version=version, timeout_seconds=1)
    assert _seen(events) == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions) and versions[0] > int(version)
    assert events[1]["object"]["spec"]["secretName"] == "other"


def test_watch_without_a_version_starts_with_the_current_objects(api: client.CustomObjectsApi) -> None:
    api.create_namespaced_custom_object(*FH, "ns", "fleethandshakes", handshake("a", "ns", {"t": "x"}))
    api.create_namespaced_custom_object(*FH, "ns", "fleethandshakes", handshake("b", "ns"))
    api.create_namespaced_custom_object(*FH, "other", "fleethandshakes", handshake("c", "other", {"t": "x"}))
    everywhere = _watch(api.list_cluster_custom_object, *FH, "fleethandshakes", label_selector="t=x", timeout_seconds=1)
    assert _seen(everywhere) == [("ADDED", "a"), ("ADDED", "c")]
    one = _watch(api.list_namespaced_custom_object, *FH, "ns", "fleethandshakes", timeout_seconds=1)
    assert _seen(one) == [("ADDED", "a"), ("ADDED", "b")]


def test_a_live_watch_sees_changes_as_they_happen_and_ends_with_the_server(
    fake_kube: FakeKube, api: client.CustomObjectsApi
) -> None:
    events: list[dict[str, Any]] = []

    def read() -> None:
        for event in watch.Watch().stream(api.list_cluster_custom_object, *FLEET, "bundles", timeout_seconds=600):
            events.append({"type": event["type"], "object": event["raw_object"]})

    stream = threading.Thread(target=read, daemon=True)
    stream.start()
    wait_for(lambda: any(r.query.get("watch") == "true" for r in fake_kube.requests), "the watch request")
    owner = api.create_namespaced_custom_object(*FH, "ns", "fleethandshakes", handshake("a", "ns"))
    reference = _reference(owner)
    bundle = {"apiVersion": "fleet.cattle.io/v1alpha1", "kind": "Bundle",
              "metadata": {"name": "b", "namespace": "ns", "ownerReferences": [reference]}}  # fmt: skip
    api.create_namespaced_custom_object(*FLEET, "ns", "bundles", bundle)
    api.delete_namespaced_custom_object(*FH, "ns", "fleethandshakes", "a")  # the bundle is collected
    wait_for(lambda: len(events) == 2, "two events")
    fake_kube.stop()
    stream.join(timeout=30)
    assert not stream.is_alive(), "the stream ends when the server stops"
    assert _seen(events) == [("ADDED", "b"), ("DELETED", "b")]


def test_bookmarks_and_metadata_only_watches(fake_kube: FakeKube, tmp_path: Path) -> None:
    core = client.CoreV1Api(config.new_client_from_config(str(write_kubeconfig(tmp_path / "k", {"f": fake_kube}))))
    fake_kube.put_secret("apps", "db", {"password": "s3cret"})
    fake_kube.bookmark_seconds = 0.1
    metadata = {"Accept": "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"}
    events = _watch(
        core.list_secret_for_all_namespaces, allow_watch_bookmarks=True, timeout_seconds=1, _headers=metadata
    )
    assert _seen(events) == [("ADDED", "db")]
    assert events[0]["object"]["kind"] == "PartialObjectMetadata" and "data" not in events[0]["object"]
    assert any(e["type"] == "BOOKMARK" for e in events)


def test_a_watch_from_a_compacted_version_is_gone(fake_kube: FakeKube, api: client.CustomObjectsApi) -> None:
    created = api.create_namespaced_custom_object(*FH, "ns", "fleethandshakes", handshake("a", "ns"))
    api.create_namespaced_custom_object(*FH, "ns", "fleethandshakes", handshake("b", "ns"))
    fake_kube.compact()
    old = created["metadata"]["resourceVersion"]
    with pytest.raises(client.ApiException) as raised:
        _watch(api.list_cluster_custom_object, *FH, "fleethandshakes", resource_version=old, timeout_seconds=1)
    assert raised.value.status == 410


def test_watching_needs_the_watch_verb(fake_kube: FakeKube, api: client.CustomObjectsApi) -> None:
    fake_kube.allowed = {"fleethandshakes": {"list"}}
    with pytest.raises(client.ApiException) as raised:
        _watch(api.list_cluster_custom_object, *FH, "fleethandshakes", timeout_seconds=1)
    assert raised.value.status == 403


def test_leases_are_replaced_under_resource_version_conflicts(fake_kube: FakeKube, tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"fake": fake_kube})
    leases = client.CoordinationV1Api(config.new_client_from_config(str(kubeconfig)))
    spec = client.V1LeaseSpec(holder_identity="one", lease_duration_seconds=15)
    leases.create_namespaced_lease("ns", client.V1Lease(metadata=client.V1ObjectMeta(name="lock"), spec=spec))
    first = leases.read_namespaced_lease("lock", "ns")
    assert first.spec.holder_identity == "one" and first.kind == "Lease"
    first.spec.holder_identity = "two"
    leases.replace_namespaced_lease("lock", "ns", first)
    assert leases.read_namespaced_lease("lock", "ns").spec.holder_identity == "two"
    first.spec.holder_identity = "three"  # written from a resourceVersion that is no longer current
    with pytest.raises(client.ApiException) as raised:
        leases.replace_namespaced_lease("lock", "ns", first)
    assert raised.value.status == 409
    assert leases.read_namespaced_lease("lock", "ns").spec.holder_identity == "two"


def wait_for(condition: Callable[[], bool], what: str, deadline: float = 30.0) -> None:
    """Poll until `condition` holds; the deadline only guards against a hang."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)
