"""A Secret created with `kubectl apply` carries the annotation
`kubectl.kubernetes.io/last-applied-configuration`: the whole Secret as last applied, its values
in clear text when it was written with `stringData`, and keys since removed (`kubectl patch`,
`kubectl edit` without the annotation kept in step). The controller copied the Secret's
annotations into the Bundle (plain mode: to every cluster) and into the downstream copy, so a
key removed so that it stops reaching the clusters reached them still, in clear text. generate
refuses such a Secret (validate_secret.LAST_APPLIED) and import strips it; the controller, which
reads the live Secret, now leaves that one annotation out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import fakekube
from controllertest import bundles, kubeconfig, put_handshake
from fakekube import FakeKube
from fleethandshake.adapters.kubeobjects import KubeObjects
from fleethandshake.app.reconcile import Reconciler

fake_kube = fakekube.fake_kube
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
REMOVED = "canary-removed-key-value-7f3a"


def applied_then_patched(fake: FakeKube) -> None:
    """`kubectl apply` of a Secret with two keys in stringData, then `kubectl patch` removing one."""
    applied = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "default"},
               "stringData": {"password": "kept", "legacy-token": REMOVED}}  # fmt: skip
    fake.put_secret("default", "db", {"password": "kept"})
    secret = fake.get_object("secrets", "default", "db") or {}
    secret["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(applied), "team": "payments"}
    fake.put_object(secret)


@pytest.mark.parametrize("mode", ["plain", "downstream"])
def test_the_last_applied_annotation_reaches_no_bundle_and_no_copy(
    fake_kube: FakeKube, tmp_path: Path, mode: str
) -> None:
    applied_then_patched(fake_kube)
    put_handshake(fake_kube, "app", "db", [{"clusterName": "c1"}])
    obj = fake_kube.get_object("fleethandshakes", "fleet-default", "app")
    assert obj is not None

    result = Reconciler(KubeObjects(kubeconfig=str(kubeconfig(fake_kube, tmp_path))), mode).reconcile(obj)

    assert result.status.value == "Synced", result.message
    written: list[Any] = list(bundles(fake_kube).values())
    if mode == "downstream":
        written.append(fake_kube.get_object("secrets", "fleet-default", "db"))
    text = json.dumps(written)
    assert REMOVED not in text and LAST_APPLIED not in text
    if mode == "plain":
        assert "payments" in text, "the Secret's other annotations are delivered, as generate does"
