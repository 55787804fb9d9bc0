"""A management cluster running the original operator, for the tests of `import`: its
FleetHandshakes (the export in data/export plus a few that use more of the API) and their
Secrets, as the API server returns them (and `kubectl get fleethandshakes,secrets -A -o yaml`
prints them), and the Fleet clusters they reach."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import yaml

from fhtest import DATA
from fleethandshake.core.inventory import Inventory, parse_inventory

SERVER_META = {"uid": "3b9f6d21-0e47-4a8c-b5d2-000000000000", "resourceVersion": "48300", "generation": 1,
               "creationTimestamp": "2024-05-14T09:12:31Z"}  # fmt: skip


def _handshake(
    name: str, workspace: str, secret: tuple[str, str], target_ns: str, targets: list[Any]
) -> dict[str, Any]:
    spec = {"secretName": secret[1], "secretNamespace": secret[0], "targetNamespace": target_ns, "targets": targets}
    return {
        "apiVersion": "riverpointtechnology.com/v1alpha1",
        "kind": "FleetHandshake",
        "metadata": {"name": name, "namespace": workspace, **SERVER_META,
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": json.dumps({"spec": spec})}},
        "spec": spec,
        "status": {"status": "Synced"},
    }  # fmt: skip


def handshakes() -> list[dict[str, Any]]:
    """The export's two handshakes (the operator's samples) and four more."""
    exported = yaml.safe_load((DATA / "export" / "fleethandshakes-list.yaml").read_text())["items"]
    return [
        *exported,
        _handshake("orders-db", "fleet-default", ("orders", "db-credentials"), "orders", [
            {"name": "not-dev", "clusterSelector": {"matchLabels": {"env": "dev"}}, "doNotDeploy": True},
            {"name": "edge", "clusterGroup": "edge"},
            {"name": "everywhere-else", "clusterSelector": {}},
        ]),
        _handshake("sample-again", "fleet-default", ("default", "fleethandshake-sample"), "other", [
            {"clusterSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]}},
        ]),
        _handshake("registry", "fleet-local", ("default", "registry"), "kube-system", [{"clusterName": "local"}]),
        _handshake("tls", "fleet-default", ("default", "shop-tls"), "shop", [{"clusterName": "prod-a"}]),
    ]  # fmt: skip


def secret_objects(values: dict[str, str]) -> list[dict[str, Any]]:
    """The Secrets the handshakes reference, and one that none does, as the API server returns
    them: `data` in base64, server fields, kubectl apply's annotation holding the clear text."""

    def secret(namespace: str, name: str, kind: str, clear: dict[str, str]) -> dict[str, Any]:
        applied = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
                   "type": kind, "stringData": clear}  # fmt: skip
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, **SERVER_META, "labels": {"team": "platform"},
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied)}},
            "type": kind,
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in clear.items()},
        }  # fmt: skip

    return [
        secret("default", "fleethandshake-sample", "Opaque", {"fleet-handshake": values["sample"]}),
        secret("default", "fleethandshake-test-only", "Opaque", {"fleet-handshake": values["test"]}),
        secret("orders", "db-credentials", "Opaque", {"username": "orders", "password": values["db"]}),
        secret("default", "registry", "kubernetes.io/dockerconfigjson", {".dockerconfigjson": values["registry"]}),
        secret("default", "shop-tls", "kubernetes.io/tls", {"tls.crt": "CERT", "tls.key": values["tls"]}),
        secret("default", "unrelated", "Opaque", {"token": values["unrelated"]}),
    ]


VALUES = {"sample": "apply-Qz81", "test": "test-Lm27", "db": "db-pass-Xv90", "registry": '{"auths":{"r":"Rg44"}}',
          "tls": "tls-key-Hb63", "unrelated": "unrelated-Pk12"}  # fmt: skip


def export(values: dict[str, str] = VALUES, *, without: tuple[str, ...] = ()) -> str:
    """`kubectl get fleethandshakes,secrets -A -o yaml`: one v1 List; Secrets named in `without` left out."""
    items = [*handshakes(), *(s for s in secret_objects(values) if s["metadata"]["name"] not in without)]
    return yaml.safe_dump({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items})


def sops_config(root: Path, recipient: str, path_regex: str = r"secrets/.*\.yaml$") -> None:
    root.mkdir(parents=True, exist_ok=True)
    rule = f"  - path_regex: {path_regex}\n    encrypted_regex: ^(data|stringData)$\n    age: {recipient}\n"
    (root / ".sops.yaml").write_text(f"creation_rules:\n{rule}")


INVENTORY = """\
apiVersion: v1
kind: List
items:
- {apiVersion: fleet.cattle.io/v1alpha1, kind: Cluster, metadata: {name: test, namespace: fleet-default,
   labels: {managed: rancher, env: dev}}}
- {apiVersion: fleet.cattle.io/v1alpha1, kind: Cluster, metadata: {name: c-m-prod1, namespace: fleet-default,
   labels: {managed: rancher, env: prod, group: edge, management.cattle.io/cluster-display-name: prod-a}}}
- {apiVersion: fleet.cattle.io/v1alpha1, kind: Cluster, metadata: {name: staging, namespace: fleet-default,
   labels: {env: staging}}}
- {apiVersion: fleet.cattle.io/v1alpha1, kind: ClusterGroup, metadata: {name: edge, namespace: fleet-default},
   spec: {selector: {matchLabels: {group: edge}}}}
- {apiVersion: fleet.cattle.io/v1alpha1, kind: Cluster, metadata: {name: local, namespace: fleet-local}}
"""


def inventory() -> Inventory:
    inv, problems = parse_inventory(yaml.safe_load_all(INVENTORY))
    assert problems == [], problems
    return inv


def by_ref(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["metadata"]["namespace"], o["metadata"]["name"]): copy.deepcopy(o) for o in objects}
