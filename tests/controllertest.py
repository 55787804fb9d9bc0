"""Helpers for the controller's tests: a controller run in a thread against the loopback API
server, and waiting on the server's state (never on the clock)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fakekube import FakeKube, write_kubeconfig
from fhtest import handshake
from fleethandshake.adapters.kubeobjects import KubeObjects
from fleethandshake.app.controller import Controller, Settings

# Short timings, so that retries, watch renewals and Lease hand-overs happen within a test.
FAST = Settings(workers=4, resync=3600, watch_timeout=5, backoff=(0.05, 0.5), health_port=None,
                leader_election=False, lease_namespace="fleet-handshake", lease_timing=(3, 2, 1))  # fmt: skip


def kubeconfig(fake: FakeKube, tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", {"fake": fake})


@contextmanager
def running(fake: FakeKube, tmp_path: Path, settings: Settings = FAST) -> Iterator[Controller]:
    controller = Controller(KubeObjects(kubeconfig=str(kubeconfig(fake, tmp_path))), settings)
    outcome: list[int] = []
    thread = threading.Thread(target=lambda: outcome.append(controller.run()), daemon=True)
    thread.start()
    try:
        yield controller
    finally:
        controller.stop()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the controller stops when asked"


def wait_for(condition: Callable[[], Any], what: str, deadline: float = 60.0) -> Any:
    """Poll until `condition()` is truthy and return it; the deadline only guards against a hang."""
    end = time.monotonic() + deadline
    while not (found := condition()):
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)
    return found


def status(fake: FakeKube, namespace: str, name: str) -> dict[str, Any]:
    obj = fake.get_object("fleethandshakes", namespace, name) or {}
    return dict(obj.get("status") or {})


def put_handshake(fake: FakeKube, name: str, secret: str, targets: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return fake.put_object(handshake(name, secret, targets, **kw))


def bundles(fake: FakeKube, namespace: str = "fleet-default") -> dict[str, dict[str, Any]]:
    return {b["metadata"]["name"]: b for b in fake.objects_of("bundles") if b["metadata"]["namespace"] == namespace}
