"""The controller as a process and as a service: one active replica (Lease), the command with
its health endpoint and SIGTERM, downstream mode, a thousand handshakes, and the done-when
comparison with the folders `generate` writes."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

import fakekube
from controllertest import FAST, bundles, kubeconfig, put_handshake, running, status, wait_for
from fakekube import FakeKube
from fhtest import SourceRepo, handshake, read_tree, run_cli, secret
from fleethandshake.adapters.kubeobjects import KubeObjects
from fleethandshake.app.controller import Controller

fake_kube = fakekube.fake_kube
LEASE = ("leases", "fleet-handshake", "fleet-handshake-controller")
SOURCE_LABEL = "fleethandshake.riverpointtechnology.com/source"


def synced(fake: FakeKube, name: str) -> bool:
    return status(fake, "fleet-default", name).get("status") == "Synced"


def test_two_controllers_one_works_and_the_other_takes_over(fake_kube: FakeKube, tmp_path: Path) -> None:
    settings = dataclasses.replace(FAST, leader_election=True)
    fake_kube.put_secret("default", "db", {"password": "x"})
    put_handshake(fake_kube, "app", "db", [{"clusterName": "c1"}])
    (tmp_path / "second").mkdir()
    with running(fake_kube, tmp_path, settings) as first:
        wait_for(first.ready, "the first controller leading")
        with running(fake_kube, tmp_path / "second", settings) as second:
            wait_for(lambda: synced(fake_kube, "app"), "Synced by the leader")
            lease = fake_kube.get_object(*LEASE)
            assert lease is not None and lease["spec"]["holderIdentity"] == first.identity
            assert not second.ready() and not second.synced.is_set(), "the follower does not work"
            first.stop()  # releases the Lease: the follower takes over at its next try
            wait_for(second.ready, "the second controller leading")
            put_handshake(fake_kube, "later", "db", [{"clusterName": "c2"}])
            wait_for(lambda: synced(fake_kube, "later"), "Synced by the new leader")
            lease = fake_kube.get_object(*LEASE)
            assert lease is not None and lease["spec"]["holderIdentity"] == second.identity


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # a local URL
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def test_the_command_serves_health_and_stops_cleanly_on_sigterm(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.put_secret("default", "db", {"password": "never-logged-value"})
    put_handshake(fake_kube, "app", "db", [{"clusterName": "c1"}])
    port = _free_port()
    config = str(kubeconfig(fake_kube, tmp_path))
    command = [sys.executable, "-m", "fleethandshake", "controller", "--kubeconfig", config,
               "--health-port", str(port), "--lease-namespace", "fleet-handshake"]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/healthz") == 200, "/healthz answering 200")
        wait_for(lambda: synced(fake_kube, "app"), "Synced")
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/readyz") == 200, "/readyz answering 200")
        assert _get(f"http://127.0.0.1:{port}/other") == 404
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in err and "FleetHandshake fleet-default/app: Synced" in err
    assert "never-logged-value" not in out + err
    assert base64.b64encode(b"never-logged-value").decode() not in out + err
    lease = fake_kube.get_object(*LEASE)
    assert lease is not None and not lease["spec"].get("holderIdentity"), "the Lease is released on SIGTERM"


def test_downstream_mode_keeps_values_out_of_the_bundles(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.put_secret("default", "db", {"password": "downstream-value"})
    hs = handshake("app", "db", [{"clusterName": "c1"}])
    hs["metadata"]["annotations"] = {"fleethandshake.riverpointtechnology.com/mode": "downstream"}
    owner = fake_kube.put_object(hs)
    with running(fake_kube, tmp_path):
        wait_for(lambda: synced(fake_kube, "app"), "Synced")
    (bundle,) = bundles(fake_kube).values()
    assert bundle["spec"]["downstreamResources"] == [{"kind": "Secret", "name": "db"}]
    assert [r["name"] for r in bundle["spec"]["resources"]] == ["marker.yaml"]
    assert "ZG93bnN0cmVhbS12YWx1ZQ" not in json.dumps(bundle), "no value in the Bundle"
    copy = fake_kube.get_object("secrets", "fleet-default", "db")
    assert copy is not None and fake_kube.secret_values("fleet-default", "db") == {"password": "downstream-value"}
    assert copy["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]
    assert copy["metadata"]["labels"]["fleethandshake.riverpointtechnology.com/handshake"] == "app"


def test_a_thousand_handshakes_all_become_synced(fake_kube: FakeKube, tmp_path: Path) -> None:
    count = 1000
    for i in range(count):
        fake_kube.put_secret("default", f"s{i}", {"password": f"v{i}"})
        put_handshake(fake_kube, f"h{i}", f"s{i}", [{"clusterName": f"c{i % 7}"}])
    started = time.monotonic()
    with running(fake_kube, tmp_path):
        # The deadline is a hang guard only; the README states the time this takes.
        wait_for(lambda: sum(synced(fake_kube, f"h{i}") for i in range(0, count, 50)) == count // 50,
                 "a sample Synced", deadline=900)  # fmt: skip
        wait_for(
            lambda: all(o.get("status", {}).get("status") == "Synced" for o in fake_kube.objects_of("fleethandshakes")),
            "all Synced",
            deadline=900,
        )
    print(f"{count} handshakes Synced in {time.monotonic() - started:.1f}s")
    assert len(bundles(fake_kube)) == count


def _fleet_bundle(folder: Path) -> dict[str, Any]:
    """A generated folder as Fleet reads it into a Bundle (rancher/fleet v0.16
    internal/bundlereader/read.go bundleFromDir: targetCustomizations, unnamed ones named
    target%03d, then overrideTargets appended to targets and targetRestrictions;
    resources.go: every file but fleet.yaml, by path, sorted), written here apart from the
    controller's core/bundleobject.py so that the comparison checks it."""
    fleet = yaml.safe_load((folder / "fleet.yaml").read_text())  # every string is double-quoted
    targets = fleet.pop("targetCustomizations", [])
    for i, target in enumerate(targets):
        target.setdefault("name", f"target{i:03d}")
    override = fleet.pop("overrideTargets")
    name, labels = fleet.pop("name"), fleet.pop("labels")
    resources = [{"name": p.name, "content": p.read_text()} for p in sorted(folder.iterdir()) if p.name != "fleet.yaml"]
    spec = {**fleet, "targets": targets + override, "targetRestrictions": override, "resources": resources}
    return {"name": name, "labels": labels, "spec": spec}


def test_the_controller_applies_the_bundles_generate_writes(
    fake_kube: FakeKube, tmp_path: Path, repo: SourceRepo, key_env: dict[str, str]
) -> None:
    """Done when: the same handshake and Secret give the same Bundles (names, targets, resources)."""
    targets = [{"name": "one", "clusterName": "c1"}, {"clusterGroup": "g", "doNotDeploy": True},
               {"clusterSelector": {"matchLabels": {"env": "prod"}}},
               {"name": "all", "clusterSelector": {}}]  # fmt: skip
    values = {"password": "p@ss: word", "yes": "y", "flag": "true", "multi": "line1\nline2\n"}
    repo.handshakes("handshakes.yaml", handshake("app", "db", targets))
    labels = {"team": "payments"}
    repo.encrypted("secrets/db.yaml", secret("db", metadata={"name": "db", "namespace": "default", "labels": labels},
                                                 stringData=values))  # fmt: skip
    out = tmp_path / "out"
    ran = run_cli("generate", repo.root, "--out", out, env=key_env)
    assert ran.code == 0, ran.stderr
    fake_kube.put_secret("default", "db", values, labels=labels)
    fake_kube.put_object(handshake("app", "db", targets))
    with running(fake_kube, tmp_path):
        wait_for(lambda: synced(fake_kube, "app"), "Synced")
    folders = sorted({Path(p).parent for p in read_tree(out) if p.startswith("fleet-default/")})
    expected = {b["name"]: b for b in (_fleet_bundle(out / f) for f in folders)}
    applied = bundles(fake_kube)
    assert set(applied) == set(expected) and len(expected) == 3
    for name, want in expected.items():
        got = applied[name]
        assert got["spec"] == want["spec"], name
        ours = {k: v for k, v in got["metadata"]["labels"].items() if k != SOURCE_LABEL}
        assert ours == {k: v for k, v in want["labels"].items() if k != SOURCE_LABEL}


def test_downstream_mode_never_overwrites_a_secret_it_did_not_write(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.put_secret("default", "db", {"password": "x"})
    fake_kube.put_secret("fleet-default", "db", {"password": "someone else's"})  # where the copy would go
    fake_kube.put_secret("fleet-default", "local", {"password": "y"})  # already where Fleet reads it
    annotations = {"fleethandshake.riverpointtechnology.com/mode": "downstream"}
    for name, secret_name, namespace in (("taken", "db", "default"), ("local", "local", "fleet-default")):
        hs = handshake(name, secret_name, [{"clusterName": "c1"}], secret_namespace=namespace)
        hs["metadata"]["annotations"] = annotations
        fake_kube.put_object(hs)
    with running(fake_kube, tmp_path):
        wait_for(lambda: status(fake_kube, "fleet-default", "taken").get("status") == "Error", "taken: Error")
        wait_for(lambda: synced(fake_kube, "local"), "local: Synced")
    assert "was not written by fleet-handshake" in status(fake_kube, "fleet-default", "taken")["message"]
    assert fake_kube.secret_values("fleet-default", "db") == {"password": "someone else's"}
    local = fake_kube.get_object("secrets", "fleet-default", "local")
    assert local is not None and "ownerReferences" not in local["metadata"], "the handshake's own Secret is not taken"
    assert [b["metadata"]["labels"]["fleethandshake.riverpointtechnology.com/handshake"]
            for b in bundles(fake_kube).values()] == ["local"]  # fmt: skip


def test_an_expired_watch_lists_again_and_sees_what_changed_meanwhile(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.put_secret("default", "db", {"password": "x"})
    put_handshake(fake_kube, "app", "db", [{"clusterName": "c1"}])

    def while_not_watching(fake: FakeKube) -> None:
        """Before the handshakes' next watch: a handshake is created, then the history is
        compacted, so the watch from the informer's last version is 410 Gone and only a new
        list can show the new handshake."""
        if "/fleethandshakes" not in fake.requests[-1].path:
            fake.before_next("GET", while_not_watching)  # another request: wait for the watch
            return
        put_handshake(fake, "meanwhile", "db", [{"clusterName": "c2"}])
        fake.compact()

    def handshake_lists() -> int:
        gets = fake_kube.requests_of("GET")
        return sum(r.path.endswith("/fleethandshakes") and r.query.get("watch") != "true" for r in gets)

    with running(fake_kube, tmp_path):
        wait_for(lambda: synced(fake_kube, "app"), "app Synced")
        lists = handshake_lists()
        fake_kube.before_next("GET", while_not_watching)
        wait_for(lambda: synced(fake_kube, "meanwhile"), "the handshake created while not watching Synced")
    assert handshake_lists() > lists, "listed again after the 410"


def test_a_lost_lease_stops_the_controller_with_exit_code_1(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.put_secret("default", "db", {"password": "x"})
    put_handshake(fake_kube, "app", "db", [{"clusterName": "c1"}])
    settings = dataclasses.replace(FAST, leader_election=True)
    controller = Controller(KubeObjects(kubeconfig=str(kubeconfig(fake_kube, tmp_path))), settings)
    outcome: list[int] = []
    thread = threading.Thread(target=lambda: outcome.append(controller.run()), daemon=True)
    thread.start()
    try:
        wait_for(lambda: synced(fake_kube, "app") and controller.ready(), "Synced by the leader")
        lease = fake_kube.get_object(*LEASE)
        assert lease is not None
        lease["spec"]["holderIdentity"] = "another-replica"  # taken over: renewing it fails from now on
        fake_kube.put_object(lease)
        thread.join(timeout=60)
        assert outcome == [1], "a lost Lease ends the run with 1: the pod restarts and takes part again"
        assert not controller.ready() and controller.stopping.is_set()
    finally:
        controller.stop()
        thread.join(timeout=60)
    lease = fake_kube.get_object(*LEASE)
    assert lease is not None and lease["spec"]["holderIdentity"] == "another-replica", "the other's Lease is kept"


def test_a_stopping_controller_releases_the_lease_only_after_its_workers_finished(
    fake_kube: FakeKube, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Asked to stop while a worker reconciles, the leader keeps the Lease until that worker has
    finished: released earlier, the next leader could apply a Bundle that this worker, acting on
    its old copy of the handshake, then deletes. The loopback server keeps the worker inside its
    Bundle apply until the test lets it go; nothing here waits on the clock."""
    caplog.set_level(logging.INFO, logger="fleet-handshake")
    fake_kube.put_secret("default", "db", {"password": "x"})
    put_handshake(fake_kube, "app", "db", [{"clusterName": "c1"}])
    held = fake_kube.hold_next("PATCH", "/bundles/")
    settings = dataclasses.replace(FAST, leader_election=True, workers=1)
    controller = Controller(KubeObjects(kubeconfig=str(kubeconfig(fake_kube, tmp_path))), settings)
    thread = threading.Thread(target=controller.run, daemon=True)

    def holder() -> str | None:
        lease = fake_kube.get_object(*LEASE)
        return lease["spec"].get("holderIdentity") if lease is not None else None

    def waiting() -> bool:
        return any(r.getMessage().startswith("stopping: waiting for") for r in caplog.records)

    thread.start()
    try:
        wait_for(held.arrived.is_set, "the worker inside its Bundle apply")
        assert holder() == controller.identity
        controller.stop()
        wait_for(lambda: waiting() or not thread.is_alive(), "the controller waiting for its worker, or ended")
        assert thread.is_alive(), "the controller waits for the worker"
        assert holder() == controller.identity, "the Lease is kept while a worker reconciles"
    finally:
        held.release.set()
        thread.join(timeout=60)
    assert not thread.is_alive() and holder() is None, "released once the worker finished"
    requests = fake_kube.requests
    applied = [i for i, r in enumerate(requests) if r.method == "PATCH" and "/bundles/" in r.path]
    leases = [(i, r.json()["spec"]) for i, r in enumerate(requests) if r.method == "PUT" and "/leases/" in r.path]
    released = [i for i, spec in leases if not spec.get("holderIdentity")]
    assert applied and released and applied[0] < released[0], "the Bundle applied, then the Lease released"
