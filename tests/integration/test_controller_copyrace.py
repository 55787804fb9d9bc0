"""Controller mode, downstream: two handshakes of one workspace that read Secrets of one name from
different namespaces (their targets apart, so app/rivals.py lets both deliver) want one copy in
the workspace, `fleet-default/<secretName>`. The first to write it holds it; the other is Error
(the copy is not written for it). Two workers reconcile them at once: each read the copy's name
free, and the later apply wrote over the earlier one, so the first handshake's Bundles delivered
the other's values to its clusters, both Synced. Against the loopback API server, with one
Reconciler shared by two threads as the controller's workers share it; no sleeps."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import fakekube
from controllertest import kubeconfig, wait_for
from fakekube import FakeKube
from fhtest import handshake
from fleethandshake.adapters.kubeobjects import KubeObjects
from fleethandshake.app.reconcile import Reconciler, Result
from fleethandshake.core.models import LABEL_HANDSHAKE, Status

fake_kube = fakekube.fake_kube
MODE = "fleethandshake.riverpointtechnology.com/mode"


def downstream(name: str, secret_namespace: str, cluster: str) -> dict[str, Any]:
    hs = handshake(name, "db", [{"clusterName": cluster}], secret_namespace=secret_namespace, target_namespace=name)
    hs["metadata"]["annotations"] = {MODE: "downstream"}
    return hs


def test_two_handshakes_reconciled_at_once_never_share_one_copy(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.put_secret("orders", "db", {"password": "orders-value"})
    fake_kube.put_secret("payments", "db", {"password": "payments-value"})
    first = fake_kube.put_object(downstream("orders", "orders", "c1"))
    second = fake_kube.put_object(downstream("payments", "payments", "c2"))
    reconciler = Reconciler(KubeObjects(kubeconfig=str(kubeconfig(fake_kube, tmp_path))))
    results: dict[str, Result] = {}

    def work(obj: dict[str, Any]) -> None:
        results[obj["metadata"]["name"]] = reconciler.reconcile(obj)

    held = fake_kube.hold_next("PATCH", "/namespaces/fleet-default/secrets/db")  # orders' write of the copy
    orders = threading.Thread(target=work, args=(first,), daemon=True)
    orders.start()
    assert held.arrived.wait(60), "orders writes the copy"
    payments = threading.Thread(target=work, args=(second,), daemon=True)
    payments.start()
    # payments either writes the copy meanwhile (its name read free), or waits for orders' write.
    wait_for(lambda: not payments.is_alive() or reconciler.copies.waiting > 0, "payments done or waiting")
    held.release.set()
    orders.join(60)
    payments.join(60)

    copy = fake_kube.secrets[("fleet-default", "db")]
    holder = copy["metadata"]["labels"][LABEL_HANDSHAKE]
    assert holder == "orders", "the first to write it holds it"
    assert fake_kube.secret_values("fleet-default", "db") == {"password": "orders-value"}
    assert results["orders"].status == Status.SYNCED, results["orders"].message
    assert results["payments"].status == Status.ERROR, "its Bundles would name orders' copy"
    assert "Secret fleet-default/db exists and was not written by fleet-handshake" in results["payments"].message
    assert not [b for b in fake_kube.objects_of("bundles") if b["metadata"]["name"].startswith("payments-")]
