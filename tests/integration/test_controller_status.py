"""The status the controller writes tells the truth even when its cache of the handshake lags
behind the status it has just written (the watch event of that write not yet arrived)."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client, config

import fakekube
from controllertest import kubeconfig, put_handshake, status
from fakekube import FakeKube
from fleethandshake.adapters.kubeobjects import KubeObjects
from fleethandshake.app.controller import Controller

fake_kube = fakekube.fake_kube


def test_a_status_written_since_the_cached_copy_is_written_over_when_it_changes_back(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    """Synced, then the Secret is deleted (Missing written) and created again before the watch
    brought the Missing status into the cache: the next reconcile, still on the cached copy that
    says Synced, must write Synced, or the handshake stays Missing (nothing queues a reconcile
    for a status-only change) until the next resync."""
    fake_kube.put_secret("default", "db", {"password": "x"})
    put_handshake(fake_kube, "app", "db", [{"clusterName": "c1"}])
    controller = Controller(KubeObjects(kubeconfig=str(kubeconfig(fake_kube, tmp_path))))
    key = ("fleet-default", "app")
    first = fake_kube.get_object("fleethandshakes", *key)
    controller._reconcile(key, first)
    cached = fake_kube.get_object("fleethandshakes", *key)  # the cache, once the watch brought Synced
    assert cached is not None and cached["status"]["status"] == "Synced"
    core = client.CoreV1Api(config.new_client_from_config(str(kubeconfig(fake_kube, tmp_path))))
    core.delete_namespaced_secret("db", "default")
    controller._reconcile(key, cached)
    assert status(fake_kube, *key)["status"] == "Missing"
    fake_kube.put_secret("default", "db", {"password": "y"})
    controller._reconcile(key, cached)  # the Missing status's watch event has not arrived yet
    assert status(fake_kube, *key)["status"] == "Synced"
