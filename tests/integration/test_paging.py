"""Every list the tool makes reads all pages: the API server may answer a list with fewer items
than its `limit` and a `continue` token (the loopback server does so with `max_page`), and a
reader that stops after the first page would miss Secrets, handshakes or Bundles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import fakekube
from fakekube import FakeKube, write_kubeconfig
from fleethandshake.adapters.fleetapi import FleetReader
from fleethandshake.adapters.kube import SecretStore
from fleethandshake.adapters.kubeobjects import BUNDLES, SECRETS, KubeObjects
from fleethandshake.adapters.kuberead import ClusterReader

fake_kube = fakekube.fake_kube
NAMES = ["a", "b", "c", "d", "e"]
MANAGED = {"app.kubernetes.io/managed-by": "fleet-handshake"}


@pytest.fixture
def kubeconfig(fake_kube: FakeKube, tmp_path: Path) -> str:
    fake_kube.max_page = 2
    return str(write_kubeconfig(tmp_path / "kubeconfig", {"fake": fake_kube}))


def bundle(name: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": "fleet-default", "labels": MANAGED}
    return {"apiVersion": "fleet.cattle.io/v1alpha1", "kind": "Bundle", "metadata": meta, "spec": {}}


def test_the_loopback_server_pages(fake_kube: FakeKube, kubeconfig: str) -> None:
    for name in NAMES:
        fake_kube.put_object(bundle(name))
    KubeObjects(kubeconfig=kubeconfig).list(BUNDLES)
    lists = [r for r in fake_kube.requests_of("GET") if r.path.endswith("/bundles")]
    assert len(lists) == 3, "five items in pages of two: three requests"
    assert [bool(r.query.get("continue")) for r in lists] == [False, True, True]


def test_downstream_secret_lists_read_every_page(fake_kube: FakeKube, kubeconfig: str) -> None:
    for name in NAMES:
        fake_kube.put_secret("fleet-default", name, {"k": "v"}, labels=MANAGED)
    store = SecretStore(kubeconfig=kubeconfig)
    assert [s.name for s in store.list_owned("fleet-default", "app.kubernetes.io/managed-by")] == NAMES
    assert [s.name for s in store.list_names("fleet-default")] == NAMES
    lists = [r for r in fake_kube.requests_of("GET") if r.path.endswith("/secrets")]
    assert [bool(r.query.get("continue")) for r in lists] == [False, True, True] * 2, "two lists of three pages"


def test_import_reads_every_handshake(fake_kube: FakeKube, kubeconfig: str) -> None:
    for name in NAMES:
        meta = {"name": name, "namespace": "fleet-default"}
        fake_kube.put_object({"apiVersion": "riverpointtechnology.com/v1alpha1", "kind": "FleetHandshake",
                              "metadata": meta, "spec": {}})  # fmt: skip
    assert [h["metadata"]["name"] for h in ClusterReader(kubeconfig=kubeconfig).handshakes(None)] == NAMES


def test_status_reads_every_bundle(fake_kube: FakeKube, kubeconfig: str) -> None:
    for name in NAMES:
        fake_kube.put_object(bundle(name))
    found = FleetReader(kubeconfig=kubeconfig).read(["fleet-default"], "app.kubernetes.io/managed-by=fleet-handshake")
    assert [b["metadata"]["name"] for b in found.bundles] == NAMES


def test_the_controller_lists_every_object_and_the_version_to_watch_from(fake_kube: FakeKube, kubeconfig: str) -> None:
    for name in NAMES:
        fake_kube.put_secret("apps", name, {"k": "v"})
    items, version = KubeObjects(kubeconfig=kubeconfig).list(SECRETS)
    assert [i["metadata"]["name"] for i in items] == NAMES
    assert "data" not in items[0], "Secrets are listed as metadata only"
    assert version and int(version) >= max(int(i["metadata"]["resourceVersion"]) for i in items)
