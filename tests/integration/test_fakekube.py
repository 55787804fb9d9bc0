"""The loopback API server's Fleet and FleetHandshake resources, through the real `kubernetes`
client, so that the tests of status, import and the controller stand on a fake that behaves like
the API server in what they rely on: create, list across namespaces with label selectors, apply,
the status subresource, generation, and garbage collection through owner references."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

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


def test_deleting_an_owner_collects_what_it_owns(fake_kube: FakeKube, api: client.CustomObjectsApi) -> None:
    owner = api.create_namespaced_custom_object(*FH, "ns", "fleethandshakes", handshake("a", "ns"))
    reference = {
        "apiVersion": owner["apiVersion"],
        "kind": "FleetHandshake",
        "name": "a",
        "uid": owner["metadata"]["uid"],
    }
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
