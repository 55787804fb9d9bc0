"""The Bundle the original FleetHandshake operator created for a handshake, and what Fleet then
delivered to each cluster: the reference that `import` followed by `generate` is compared with.

Read from the operator's source, rptcloud/fleet-handshake at commit
708edf26851924092cc314d28b2348dfc927b71e (the same Bundle at dd12e0858c5560fd0743f359a1d65563b5ebf5f8),
operator/internal/controller/fleethandshake_controller.go, `Reconcile`:

- the Secret is read from `spec.secretNamespace` / `spec.secretName`;
- the delivered Secret is `json.Marshal(&corev1.Secret{TypeMeta{v1, Secret}, ObjectMeta{Name:
  secret.Name, Namespace: spec.targetNamespace}, Data, StringData, Type})`: no labels, no
  annotations, the source Secret's name in the handshake's target namespace;
- one Bundle per handshake, named as the handshake, in the handshake's namespace, owned by it
  (ownerReferences), with `Spec.Resources = [{Name: "<secret>.json", Content: <that JSON>}]` and
  `Spec.Targets = fleetHandshake.Spec.Targets`, the handshake's targets in order and unchanged.
  No targetRestrictions, no namespace/defaultNamespace.

The blog post that introduced it (RPT, "Fleet Handshake", the project's seed/blog-post.txt) shows
the same Bundle. What Fleet deploys for such a Bundle: tests/fleetmatch.py `bundle_deploys`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from fleethandshake.core.inventory import Inventory
from fleethandshake.core.models import Target
from fleethandshake.core.validate_handshake import parse_target
from fleetmatch import BundleTarget, bundle_deploys, groups_for_cluster

# (namespace, name, type, data decoded) of one delivered Secret
Delivered = tuple[str, str, str, tuple[tuple[str, str], ...]]


def operator_bundle(handshake: Mapping[str, Any], secret: Mapping[str, Any]) -> dict[str, Any]:
    """The Bundle object `Reconcile` creates for `handshake`, whose Secret is `secret` (as read from the API)."""
    meta, spec = handshake["metadata"], handshake["spec"]
    delivered: dict[str, Any] = {
        "kind": "Secret",
        "apiVersion": "v1",
        "metadata": {"name": secret["metadata"]["name"], "namespace": spec["targetNamespace"]},
    }
    for field in ("data", "stringData", "type"):  # omitempty in corev1.Secret
        if secret.get(field):
            delivered[field] = secret[field]
    return {
        "apiVersion": "fleet.cattle.io/v1alpha1",
        "kind": "Bundle",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "ownerReferences": [
                {
                    "apiVersion": handshake["apiVersion"],
                    "kind": handshake["kind"],
                    "name": meta["name"],
                    "uid": meta.get("uid", ""),
                }
            ],
        },
        "spec": {
            "resources": [{"name": f"{secret['metadata']['name']}.json", "content": json.dumps(delivered)}],
            "targets": list(spec["targets"]),
        },
    }


def _target(entry: Mapping[str, Any]) -> Target:
    target, problems = parse_target({k: v for k, v in entry.items() if k != "doNotDeploy"}, "target")
    assert target is not None and problems == [], problems
    return target


def _secret(doc: Mapping[str, Any], namespace: str) -> Delivered:
    data = {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}
    data |= dict(doc.get("stringData") or {})  # the API server folds stringData into data
    return (namespace, doc["metadata"]["name"], doc.get("type") or "Opaque", tuple(sorted(data.items())))


def operator_deliveries(bundles: list[dict[str, Any]], inventory: Inventory) -> dict[str, list[Delivered]]:
    """Per cluster (workspace/name), the Secrets the operator's Bundles put there."""
    out: dict[str, list[Delivered]] = {}
    for bundle in bundles:
        workspace = bundle["metadata"]["namespace"]
        targets = [BundleTarget(_target(t), bool(t.get("doNotDeploy"))) for t in bundle["spec"]["targets"]]
        secret = json.loads(bundle["spec"]["resources"][0]["content"])
        for c in inventory.clusters_in(workspace):
            if bundle_deploys(c, groups_for_cluster(c, inventory.groups), targets, []):
                out.setdefault(f"{workspace}/{c.name}", []).append(_secret(secret, secret["metadata"]["namespace"]))
    return {k: sorted(v) for k, v in out.items()}


def output_deliveries(out_dir: Path, inventory: Inventory) -> dict[str, list[Delivered]]:
    """Per cluster, the Secrets fleet-handshake's bundle folders put there, read from the files as
    Fleet reads them (bundlereader: targetCustomizations, then overrideTargets, which are also the
    restrictions; `namespace:` forces the Secret's namespace)."""
    out: dict[str, list[Delivered]] = {}
    for fleet_yaml in sorted(out_dir.glob("*/*/fleet.yaml")):
        workspace = fleet_yaml.parent.parent.name
        doc = yaml.safe_load(fleet_yaml.read_text())
        custom = [
            BundleTarget(_target(t), bool(t.get("doNotDeploy")), True) for t in doc.get("targetCustomizations", [])
        ]
        overrides = [_target(t) for t in doc["overrideTargets"]]
        targets = [*custom, *(BundleTarget(t, False, False) for t in overrides)]
        secret = yaml.safe_load((fleet_yaml.parent / "secret.yaml").read_text())
        for c in inventory.clusters_in(workspace):
            if bundle_deploys(c, groups_for_cluster(c, inventory.groups), targets, overrides):
                out.setdefault(f"{workspace}/{c.name}", []).append(_secret(secret, doc["namespace"]))
    return {k: sorted(v) for k, v in out.items()}
