"""core/bundleobject.py: a bundle folder as the Bundle Fleet makes of it, and the work queue."""

from __future__ import annotations

import base64
import gzip
import threading
from collections.abc import Mapping
from typing import Any

from fleethandshake.app.workqueue import WorkQueue
from fleethandshake.core.bundleobject import COMPRESS_AT, bundle_files, bundle_object

FLEET = {
    "name": "b",
    "labels": {"a": "1"},
    "namespace": "apps",
    "helm": {"takeOwnership": True},
    "overrideTargets": [{"name": "t", "clusterSelector": {}}],
    "targetCustomizations": [{"clusterName": "c1", "doNotDeploy": True}, {"name": "n", "clusterGroup": "g"}],
}


def resource_text(resource: Mapping[str, Any]) -> str:
    """A Bundle resource's content as text, whatever its encoding (Fleet's content.go)."""
    content = str(resource.get("content") or "")
    if resource.get("encoding") == "base64+gz":
        return gzip.decompress(base64.b64decode(content)).decode()
    return content


def test_fleet_yaml_fields_become_the_bundle_as_read_go_makes_it() -> None:
    bundle = bundle_object(FLEET, {"fleet.yaml": b"ignored", "z.yaml": b"z", "secret.yaml": b"s"}, "ws")
    assert bundle["metadata"] == {"name": "b", "namespace": "ws", "labels": {"a": "1"}}
    spec = bundle["spec"]
    assert spec["namespace"] == "apps" and spec["helm"] == {"takeOwnership": True}
    assert spec["targets"] == [
        {"clusterName": "c1", "doNotDeploy": True, "name": "target000"},  # setTargetNames: by position
        {"name": "n", "clusterGroup": "g"},
        {"name": "t", "clusterSelector": {}},  # an empty selector matches every cluster: kept
    ]
    assert spec["targetRestrictions"] == [{"name": "t", "clusterSelector": {}}]
    assert spec["resources"] == [{"name": "secret.yaml", "content": "s"}, {"name": "z.yaml", "content": "z"}]
    assert "overrideTargets" not in spec and "targetCustomizations" not in spec and "name" not in spec


def test_a_bundle_of_a_megabyte_is_stored_compressed_as_fleet_does() -> None:
    big = ("x" * COMPRESS_AT).encode()
    (resource,) = bundle_object(FLEET, {"secret.yaml": big}, "ws")["spec"]["resources"]
    assert resource["encoding"] == "base64+gz" and len(resource["content"]) < 10_000
    assert resource_text(resource) == big.decode()
    (small,) = bundle_object(FLEET, {"secret.yaml": b"x"}, "ws")["spec"]["resources"]
    assert "encoding" not in small and resource_text(small) == "x"


def test_the_work_queue_hands_a_key_to_one_worker_at_a_time() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    queue.add("a")  # waiting once
    assert queue.get() == "a"
    queue.add("a")  # added while worked on: handed out again after done, not before
    queue.add("b")
    assert queue.get() == "b"
    queue.done("b")
    queue.done("a")
    assert queue.get() == "a"
    queue.add_after("c", 0.01)
    assert queue.get() == "c"
    done = threading.Event()
    threading.Thread(target=lambda: (queue.get(), done.set()), daemon=True).start()
    queue.shutdown()
    assert done.wait(30), "shutdown wakes a waiting worker"


def test_a_bundles_files_read_back_plain_and_compressed() -> None:
    """What controller mode compares a new rendering with (core/secretupdate.py)."""
    small = {"fleet.yaml": b"ignored", "secret.yaml": b"s"}
    big = {"fleet.yaml": b"ignored", "secret.yaml": base64.b64encode(bytes(range(256)) * 3000)}
    for files in (small, big):
        bundle = bundle_object(FLEET, files, "ws")
        assert bundle_files(bundle) == {"ws/b/secret.yaml": files["secret.yaml"]}
    assert bundle_object(FLEET, big, "ws")["spec"]["resources"][0]["encoding"] == "base64+gz"
