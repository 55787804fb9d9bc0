"""Controller mode: a Bundle whose Secret would change its type, or change anything but metadata
while it was delivered immutable, is not applied (the API server refuses that update on the
clusters, so Helm's upgrade fails and the old Secret stays): the handshake is Error, its Bundles
kept. Against the loopback API server with the real kubernetes client."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

import fakekube
from controllertest import bundles, put_handshake, running, status, wait_for
from fakekube import FakeKube

fake_kube = fakekube.fake_kube
VALUE = "ctl-in-place-canary-Wd38"


def _secret(fake: FakeKube, **fields: Any) -> None:
    """The handshake's Secret, replaced (delete and create, as kubectl replace --force would)."""
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "default"},
           "type": "Opaque", **fields}  # fmt: skip
    fake.put_object(obj)


def _data(value: str) -> dict[str, str]:
    return {"password": base64.b64encode(value.encode()).decode()}


@pytest.mark.parametrize(
    ("first", "then", "words"),
    [
        ({}, {"type": "kubernetes.io/basic-auth"}, "type Opaque -> kubernetes.io/basic-auth"),
        ({"immutable": True}, {"immutable": True, "data": _data(VALUE + "2")}, "immutable Secret's data changed"),
    ],
    ids=["type", "immutable-data"],
)
def test_the_controller_refuses_a_change_kubernetes_refuses_in_place(
    fake_kube: FakeKube, tmp_path: Path, first: dict[str, Any], then: dict[str, Any], words: str
) -> None:
    _secret(fake_kube, data=_data(VALUE), **first)
    put_handshake(fake_kube, "app", "db", [{"clusterName": "c1"}])
    with running(fake_kube, tmp_path):
        wait_for(lambda: status(fake_kube, "fleet-default", "app").get("status") == "Synced", "Synced")
        before = bundles(fake_kube)
        _secret(fake_kube, **{"data": _data(VALUE), **then})
        wait_for(lambda: status(fake_kube, "fleet-default", "app").get("status") == "Error", "Error")
    message = status(fake_kube, "fleet-default", "app")["message"]
    assert "cannot change Secret apps/db in place" in message
    assert words in message and "let the controller delete its Bundle" in message
    assert VALUE not in message
    assert bundles(fake_kube) == before, "the Bundles are kept as they are"
