"""Fleet's own words for where a bundle stands on one cluster, read from its BundleDeployment.

The labels, states and rules are Fleet's (rancher/fleet v0.16), so `status` says what Fleet's UI
and `kubectl get bundledeployments` say:
- labels: pkg/apis/fleet.cattle.io/v1alpha1/gitrepo_types.go (CommitLabel, RepoLabel,
  BundleLabel, BundleNamespaceLabel) and cluster_types.go (ClusterLabel, ClusterNamespaceLabel).
  `fleet apply`, which a GitRepo's job runs, labels every Bundle of the repository with the commit
  it read (internal/cmd/cli/apply.go); a BundleDeployment takes the Bundle's labels (those with
  `cattle.io` in their key only when they start with `fleet.cattle.io/`), plus the bundle and
  cluster it joins (internal/cmd/controller/target/target.go, BundleDeploymentLabels).
- states: pkg/apis/fleet.cattle.io/v1alpha1/bundle_types.go (BundleState); a cluster that a
  Bundle targets and that has no BundleDeployment yet is Pending (target.go, state()).
- deployment_state and deployment_message: internal/cmd/controller/summary/summary.go,
  GetDeploymentState and MessageFromDeployment; the fields are BundleDeploymentSpec and
  BundleDeploymentStatus of pkg/apis/fleet.cattle.io/v1alpha1/bundledeployment_types.go.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

COMMIT_LABEL = "fleet.cattle.io/commit"
REPO_LABEL = "fleet.cattle.io/repo-name"
BUNDLE_LABEL = "fleet.cattle.io/bundle-name"
BUNDLE_NAMESPACE_LABEL = "fleet.cattle.io/bundle-namespace"
CLUSTER_LABEL = "fleet.cattle.io/cluster"
CLUSTER_NAMESPACE_LABEL = "fleet.cattle.io/cluster-namespace"
CONTENT_LABEL = "fleet.cattle.io/content-name"

READY = "Ready"
NOT_READY = "NotReady"
WAIT_APPLIED = "WaitApplied"
ERR_APPLIED = "ErrApplied"
OUT_OF_SYNC = "OutOfSync"
PENDING = "Pending"
MODIFIED = "Modified"
STATES = (READY, NOT_READY, PENDING, WAIT_APPLIED, ERR_APPLIED, OUT_OF_SYNC, MODIFIED)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _condition(deployment: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in _mapping(deployment.get("status")).get("conditions") or ():
        if isinstance(cond, Mapping) and cond.get("type") == kind:
            return cond
    return None


def deployment_state(deployment: Mapping[str, Any]) -> str:
    """GetDeploymentState: the first that holds of a deployment not yet applied (ErrApplied when
    its Deployed condition is False, else WaitApplied), not ready, staged but not deployed, and
    modified on the cluster; else Ready."""
    spec, status = _mapping(deployment.get("spec")), _mapping(deployment.get("status"))
    deployment_id = spec.get("deploymentID") or ""
    if (status.get("appliedDeploymentID") or "") != deployment_id:
        deployed = _condition(deployment, "Deployed")
        return ERR_APPLIED if deployed is not None and deployed.get("status") == "False" else WAIT_APPLIED
    if not status.get("ready"):
        return NOT_READY
    if deployment_id != (spec.get("stagedDeploymentID") or ""):
        return OUT_OF_SYNC
    if not status.get("nonModified"):
        return MODIFIED
    return READY


def effective(deployment: Mapping[str, Any]) -> Mapping[str, Any]:
    """The deployment as Fleet's Bundle status judges it (target.go effectiveDeployment: the
    deploymentID the Bundle wants now). The Bundle controller writes the Bundle's labels (its
    commit) and its manifest's ID (`fleet.cattle.io/content-name`, for content kept in etcd) onto
    every deployment of the Bundle, also onto those of a rollout partition it does not stage yet
    (partition.go UpdatePartitions): their deploymentID, `<manifest ID>:<options hash>`, is still
    an earlier manifest's. Such a deployment wants a deploymentID it has not got. One with the
    manifest staged (paused, out of schedule) is left as it is: OutOfSync says so."""
    spec = _mapping(deployment.get("spec"))
    content = labels_of(deployment).get(CONTENT_LABEL, "")
    ids = (str(spec.get("deploymentID") or ""), str(spec.get("stagedDeploymentID") or ""))
    if not content or any(i.startswith(f"{content}:") for i in ids):
        return deployment
    return {**deployment, "spec": {**spec, "deploymentID": f"{content}:(not rolled out)"}}


# ModifiedStatus.String() (bundledeployment_types.go): `<kind>.<group> <namespace>/<name> modified
# <patch>`, the JSON merge patch from the object on the cluster to the one Fleet deploys
# (desiredset_compare.go): for a Secret changed on the cluster, its `data` holds the delivered values.
_MODIFIED = re.compile(r"(?P<what>\S+ \S+ modified) (?P<patch>\{.*)", re.DOTALL)
HIDDEN = "(hidden)"


def without_values(message: str) -> str:
    """Fleet's message with the values of every `data` and `stringData` of a patch hidden (a key
    the cluster has and should not keeps its null); a patch that cannot be read is left out."""
    found = _MODIFIED.search(message)
    if found is None:
        return message
    try:
        patch = json.loads(found["patch"])
    except ValueError:
        patch = None
    if not isinstance(patch, dict):
        return f"{message[: found.start('patch')]}(patch not shown: it may hold Secret values)"
    for section in ("data", "stringData"):
        values = patch.get(section)
        if isinstance(values, dict):
            patch[section] = {key: None if value is None else HIDDEN for key, value in values.items()}
        elif section in patch:
            patch[section] = HIDDEN
    return message[: found.start("patch")] + json.dumps(patch, separators=(",", ":"))


def deployment_message(deployment: Mapping[str, Any]) -> str:
    """MessageFromDeployment: the Deployed condition's message, else Installed's (only while it
    belongs to the applied deployment), else Monitored's; Secret values in it hidden."""
    spec, status = _mapping(deployment.get("spec")), _mapping(deployment.get("status"))
    kinds = ["Deployed"]
    if (status.get("appliedDeploymentID") or "") == (spec.get("deploymentID") or ""):
        kinds.append("Installed")
    kinds.append("Monitored")
    for kind in kinds:
        message = str(_mapping(_condition(deployment, kind)).get("message") or "")
        if message:
            return without_values(message)
    return ""


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    labels = _mapping(_mapping(obj.get("metadata")).get("labels"))
    return {str(k): str(v) for k, v in labels.items()}


def name_of(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of an object as the API server returns it."""
    meta = _mapping(obj.get("metadata"))
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")
