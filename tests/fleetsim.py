"""Fleet's objects as Fleet writes them, stored in the loopback API server (tests/fakekube.py).

Shapes from Fleet's own code (rancher/fleet v0.16, the CRDs in tests/data/fleet/):
- Cluster: in its workspace, labelled by Rancher with its display name
  (`management.cattle.io/cluster-display-name`); `status.namespace` is the cluster's own namespace,
  where its BundleDeployments live (pkg/apis/fleet.cattle.io/v1alpha1/cluster_types.go).
- Bundle: what `fleet apply` makes of a fleet.yaml (internal/bundlereader/read.go): `name:` as its
  name, the GitRepo's namespace, fleet.yaml's `labels:` plus `fleet.cattle.io/repo-name` and
  `fleet.cattle.io/commit` (internal/cmd/cli/apply.go); status summary (bundle_types.go).
- BundleDeployment: named as the Bundle, in the cluster's namespace, with the Bundle's labels and
  the bundle and cluster labels (internal/cmd/controller/target/target.go BundleDeploymentLabels);
  spec and status per state as internal/cmd/controller/summary/summary.go GetDeploymentState
  reads them (bundledeployment_types.go).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from fakekube import FakeKube

API = "fleet.cattle.io/v1alpha1"
DISPLAY = "management.cattle.io/cluster-display-name"
COMMIT = "fleet.cattle.io/commit"
CONTENT = "fleet.cattle.io/content-name"
REPO = "fleet-handshake-bundles"
STATES = ("Ready", "NotReady", "WaitApplied", "ErrApplied", "OutOfSync", "Modified")  # Pending: no deployment

# Fleet's messages for each state, as its agent writes them into the conditions.
MESSAGES = {
    "NotReady": ("Monitored", "secret.v1 apps/registry-pull not ready"),
    "WaitApplied": (None, ""),
    "ErrApplied": ("Deployed", 'failed to install: namespaces "apps" is forbidden'),
    "OutOfSync": (None, ""),
    "Modified": ("Monitored", 'secret.v1 apps/registry-pull modified {"data":{"token":null}}'),
}


def cluster_namespace(workspace: str, name: str) -> str:
    return f"cluster-{workspace}-{name}-5f1c2b"


def put_cluster(
    fake: FakeKube, name: str, display: str, labels: Mapping[str, str], workspace: str = "fleet-default"
) -> None:
    fake.put_object({
        "apiVersion": API,
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": workspace, "labels": {DISPLAY: display, **labels}},
        "spec": {"kubeConfigSecret": f"{name}-kubeconfig"},
        "status": {"namespace": cluster_namespace(workspace, name), "display": {"readyBundles": "1/1"}},
    })  # fmt: skip


def bundles_of(tree: Mapping[str, bytes]) -> list[tuple[str, dict[str, Any]]]:
    """(workspace, fleet.yaml) of every bundle folder of an output tree."""
    found = []
    for path, content in sorted(tree.items()):
        parts = path.split("/")
        if len(parts) == 3 and parts[2] == "fleet.yaml" and not parts[0].startswith("."):
            found.append((parts[0], yaml.safe_load(content)))
    return found


def put_bundle(fake: FakeKube, workspace: str, fleet: Mapping[str, Any], commit: str, clusters: int = 1) -> None:
    labels = {**fleet.get("labels", {}), "fleet.cattle.io/repo-name": REPO, COMMIT: commit}
    fake.put_object({
        "apiVersion": API,
        "kind": "Bundle",
        "metadata": {"name": fleet["name"], "namespace": workspace, "labels": labels},
        "spec": {"namespace": fleet.get("namespace"), "targets": fleet.get("overrideTargets", []),
                 "resources": [{"name": "secret.yaml", "content": "(not read by status)"}]},
        "status": {"summary": {"desiredReady": clusters, "ready": clusters}, "observedGeneration": 1,
                   "unavailable": 0, "unavailablePartitions": 0, "maxUnavailable": 1, "maxUnavailablePartitions": 0},
    })  # fmt: skip


def deployment(workspace: str, bundle: Mapping[str, Any], cluster: str, state: str, commit: str) -> dict[str, Any]:
    """A BundleDeployment of `bundle` (its fleet.yaml) on `cluster` that Fleet reads as `state`."""
    labels = {**bundle.get("labels", {}), "fleet.cattle.io/repo-name": REPO, COMMIT: commit,
              "fleet.cattle.io/bundle-name": bundle["name"], "fleet.cattle.io/bundle-namespace": workspace,
              "fleet.cattle.io/managed": "true", "fleet.cattle.io/cluster-namespace": workspace,
              "fleet.cattle.io/cluster": cluster}  # fmt: skip
    # The manifest's ID, which the Bundle controller writes on each deployment with the Bundle's labels
    # (bundle_controller.go handleMatchedTarget); the deployment ID is `<manifest ID>:<options hash>`.
    labels[CONTENT] = f"s-{commit[:10]}"
    new, old = f"s-{commit[:10]}:opts", "s-0000000000:opts"
    spec = {"deploymentID": new, "stagedDeploymentID": new, "options": {"namespace": bundle.get("namespace")}}
    status: dict[str, Any] = {"appliedDeploymentID": new, "ready": True, "nonModified": True, "release": "x",
                              "display": {"deployed": "Yes", "monitored": "Yes", "state": state}}  # fmt: skip
    conditions = [{"type": "Ready", "status": "True"}, {"type": "Deployed", "status": "True"}]
    if state in ("WaitApplied", "ErrApplied"):
        status["appliedDeploymentID"] = old
    if state == "ErrApplied":
        conditions[1] = {"type": "Deployed", "status": "False", "message": MESSAGES[state][1], "reason": "Error"}
    if state == "NotReady":
        status["ready"] = False
        status["nonReadyStatus"] = [{"kind": "Secret", "apiVersion": "v1", "namespace": "apps", "name": "registry-pull",
                                     "summary": {"state": "in-progress", "transitioning": True}}]  # fmt: skip
    if state == "OutOfSync":
        spec["stagedDeploymentID"] = f"s-{'f' * 10}:opts"
    if state == "Modified":
        status["nonModified"] = False
        status["modifiedStatus"] = [{"kind": "Secret", "apiVersion": "v1", "namespace": "apps", "name": "registry-pull",
                                     "patch": '{"data":{"token":null}}'}]  # fmt: skip
    kind, message = MESSAGES.get(state, (None, ""))
    if kind == "Monitored":
        conditions.append({"type": "Monitored", "status": "False", "message": message})
    status["conditions"] = conditions
    return {"apiVersion": API, "kind": "BundleDeployment",
            "metadata": {"name": bundle["name"], "namespace": cluster_namespace(workspace, cluster), "labels": labels},
            "spec": spec, "status": status}  # fmt: skip


def put_deployment(fake: FakeKube, workspace: str, bundle: Mapping[str, Any], cluster: str, state: str,
                   commit: str) -> None:  # fmt: skip
    fake.put_object(deployment(workspace, bundle, cluster, state, commit))
