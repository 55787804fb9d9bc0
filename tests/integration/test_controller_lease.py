"""A replica that no longer holds the Lease writes nothing: not the rest of the reconcile it was
in when it lost it, and not while its renewals hang (a stalled connection, a paused process),
when another replica may already lead and have applied a newer version of the handshake."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import fakekube
from controllertest import FAST, bundles, kubeconfig, put_handshake, running, status, wait_for
from fakekube import FakeKube
from fleethandshake.adapters.kubeobjects import KubeObjects
from fleethandshake.app.controller import Controller

fake_kube = fakekube.fake_kube
LEASE = ("leases", "fleet-handshake", "fleet-handshake-controller")
LEADER = dataclasses.replace(FAST, leader_election=True, workers=1)
WRITES = ("PATCH", "DELETE", "POST")


def _controller(fake: FakeKube, tmp_path: Path) -> tuple[Controller, threading.Thread, list[int]]:
    controller = Controller(KubeObjects(kubeconfig=str(kubeconfig(fake, tmp_path))), LEADER)
    outcome: list[int] = []
    thread = threading.Thread(target=lambda: outcome.append(controller.run()), daemon=True)
    thread.start()
    return controller, thread, outcome


def _take_over(fake: FakeKube) -> None:
    """Another replica holds the Lease now (renewing it, as far as the first one can tell)."""
    lease = fake.get_object(*LEASE)
    assert lease is not None
    lease["spec"]["holderIdentity"] = "the-next-leader"
    fake.put_object(lease)


def _writes_after(fake: FakeKube, start: int) -> list[str]:
    """Writes to the handshakes, Bundles and Secrets since request number `start`."""
    writes = [r for r in fake.requests[start:] if r.method in WRITES and "/leases" not in r.path]
    return [f"{r.method} {r.path}" for r in writes]


def _edit_targets(fake: FakeKube, targets: list[dict[str, Any]]) -> None:
    hs = fake.get_object("fleethandshakes", "fleet-default", "app")
    assert hs is not None
    hs["spec"]["targets"] = targets
    hs["metadata"]["generation"] = 2
    fake.put_object(hs)


def test_a_reconcile_that_outlives_the_lease_writes_nothing_after_it(fake_kube: FakeKube, tmp_path: Path) -> None:
    """The first leader is inside a reconcile of the handshake's first version (reading its
    Secret) when it loses the Lease; the next leader reconciles the second version (target c1
    dropped, c2 added). Finishing its reconcile, the first must neither bring c1's Bundle back
    (shipping the Secret where it is no longer asked for) nor delete c2's, nor write a status
    of the old generation."""
    fake_kube.put_secret("default", "db", {"password": "x"})
    put_handshake(fake_kube, "app", "db", [{"clusterName": "c1"}])
    held = fake_kube.hold_next("GET", "/namespaces/default/secrets/db")
    first, thread, outcome = _controller(fake_kube, tmp_path)
    try:
        wait_for(held.arrived.is_set, "the first leader reading the Secret")
        _take_over(fake_kube)
        wait_for(lambda: first.stopping.is_set(), "the first leader noticing it lost the Lease")
        _edit_targets(fake_kube, [{"clusterName": "c2"}])
        (tmp_path / "next").mkdir()
        with running(fake_kube, tmp_path / "next"):  # the next leader
            wait_for(lambda: status(fake_kube, "fleet-default", "app").get("observedGeneration") == 2, "gen 2")
        wanted = bundles(fake_kube)
        assert [b["spec"]["targets"][0]["clusterName"] for b in wanted.values()] == ["c2"]
        start = len(fake_kube.requests)
    finally:
        held.release.set()
        thread.join(timeout=60)
    assert not thread.is_alive() and outcome == [1]
    assert _writes_after(fake_kube, start) == [], "no write once the Lease is lost"
    assert bundles(fake_kube) == wanted
    assert status(fake_kube, "fleet-default", "app")["observedGeneration"] == 2


def test_a_leader_whose_renewal_hangs_stops_writing_and_ends(fake_kube: FakeKube, tmp_path: Path) -> None:
    """The Lease renewal request never returns (the election's thread is stuck in it) while
    another replica takes the Lease over: the replica must not go on leading on the strength of
    its last renewal; past the renew deadline it writes nothing and ends with 1."""
    fake_kube.put_secret("default", "db", {"password": "x"})
    put_handshake(fake_kube, "app", "db", [{"clusterName": "c1"}])
    first, thread, outcome = _controller(fake_kube, tmp_path)
    renewal = None
    try:
        wait_for(lambda: status(fake_kube, "fleet-default", "app").get("status") == "Synced", "Synced")
        renewal = fake_kube.hold_next("PUT", "/leases/")
        wait_for(renewal.arrived.is_set, "a renewal hanging")
        _take_over(fake_kube)
        thread.join(timeout=60)
        assert not thread.is_alive(), "a leader that cannot renew stops"
        assert outcome == [1]
        assert not first.ready()
    finally:
        first.stop()
        if renewal is not None:
            renewal.release.set()
        thread.join(timeout=60)
