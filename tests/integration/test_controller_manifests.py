"""examples/controller: the controller's install, deployable as a Fleet bundle of its own.

The Kubernetes objects are validated against Kubernetes' own OpenAPI schemas, offline, by the
`kubernetes-validate` package (PyPI; it ships the schemas of each Kubernetes release; strict:
unknown fields are errors), as kubectl cannot validate without an API server. fleet.yaml is
validated against Fleet's JSON schema. The RBAC is checked to be enough by running the controller
against the loopback API server with exactly the verbs the manifests grant."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from test_repo_bundle import bundle_content

import fakekube
from controllertest import FAST, bundles, running, status, wait_for
from fakekube import FakeKube
from fhtest import DATA, REPO, handshake
from fleethandshake import cli
from fleethandshake.adapters import lease
from fleethandshake.app import controller as controller_app

fake_kube = fakekube.fake_kube
FOLDER = REPO / "examples/controller"
KUBERNETES = "1.31.0"  # the oldest release Rancher's current Fleet supports, with the schemas it brings


def documents() -> list[dict[str, Any]]:
    return [doc for path in sorted(FOLDER.glob("*.yaml")) if path.name != "fleet.yaml"
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))]  # fmt: skip


def test_every_manifest_is_valid_to_kubernetes() -> None:
    kinds = sorted(d["kind"] for d in documents())
    assert kinds == ["ClusterRole", "ClusterRole", "ClusterRoleBinding", "Deployment", "Role", "RoleBinding",
                     "RoleBinding", "ServiceAccount"]  # fmt: skip
    for doc in documents():
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_validation_catches_a_wrong_field() -> None:
    (deployment,) = [d for d in documents() if d["kind"] == "Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


def test_fleet_yaml_is_valid_to_fleet_and_waits_for_the_crd_bundle() -> None:
    fleet = yaml.safe_load((FOLDER / "fleet.yaml").read_text(encoding="utf-8"))
    schema = yaml.safe_load((DATA / "fleet/fleet.yaml.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(fleet)
    root = yaml.safe_load((REPO / "fleet.yaml").read_text(encoding="utf-8"))
    assert fleet["dependsOn"] == [{"name": root["name"]}]
    assert "namespace" not in fleet, "a forced namespace would break the cluster-scoped RBAC objects"
    # Fleet's GetContent walks from the bundle's own folder: its .fleetignore counts, the root's
    # (whose `examples/*` keeps this folder out of the root bundle) does not.
    files = [path.relative_to(FOLDER).as_posix() for path in FOLDER.rglob("*") if path.is_file()]
    assert "Dockerfile" in files
    assert bundle_content(FOLDER, files) == {"deployment.yaml", "rbac.yaml", "serviceaccount.yaml"}
    assert not any(d["kind"] == "CustomResourceDefinition" for d in documents()), "the CRD is the root bundle's"


def test_the_deployment_runs_the_controller_with_options_it_has() -> None:
    (deployment,) = [d for d in documents() if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    options = vars(cli.parser().parse_args(container["args"]))
    assert options["subcommand"] == "controller" and options["health_port"] == 8080
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_the_pod_is_given_the_time_a_clean_stop_takes() -> None:
    """The kubelet kills the pod terminationGracePeriodSeconds after SIGTERM: a stopping controller
    waits for its workers, then releases the Lease with two API calls."""
    (deployment,) = [d for d in documents() if d["kind"] == "Deployment"]
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > controller_app.WORKER_GRACE + 2 * sum(lease.RELEASE_TIMEOUT)


def granted() -> dict[str, set[str]]:
    """Verbs per resource (subresources folded into their resource, as the fake checks them)."""
    verbs: dict[str, set[str]] = {}
    for doc in documents():
        for rule in doc.get("rules") or []:
            for resource in rule["resources"]:
                verbs.setdefault(resource.split("/")[0], set()).update(rule["verbs"])
    return verbs


def test_the_rbac_is_enough_for_the_controller(fake_kube: FakeKube, tmp_path: Path) -> None:
    rights = granted()
    assert rights["secrets"] == {"get", "list", "watch", "create", "patch", "delete"}
    fake_kube.allowed_verbs = rights.pop("secrets")
    fake_kube.allowed = rights
    fake_kube.put_secret("default", "db", {"password": "x"})
    fake_kube.put_secret("default", "db2", {"password": "y"})
    fake_kube.put_object(handshake("plain", "db", [{"clusterName": "c1"}, {"clusterName": "c2"}]))
    # Into another namespace: two Secrets `db` in one namespace of c1 would fight (app/rivals.py).
    downstream = handshake("copied", "db", [{"clusterName": "c1"}], target_namespace="copied")
    downstream["metadata"]["annotations"] = {"fleethandshake.riverpointtechnology.com/mode": "downstream"}
    fake_kube.put_object(downstream)
    with running(fake_kube, tmp_path, dataclasses.replace(FAST, leader_election=True)) as controller:
        wait_for(controller.ready, "leading with the Lease")
        for name in ("plain", "copied"):
            wait_for(lambda n=name: status(fake_kube, "fleet-default", n).get("status") == "Synced", name)
        fake_kube.put_object(handshake("plain", "db", [{"clusterName": "c1"}]))  # a target dropped: delete
        wait_for(lambda: len(bundles(fake_kube)) == 2, "the dropped target's Bundle deleted")
        downstream["spec"]["secretName"] = "db2"  # the old copy is deleted
        fake_kube.put_object(downstream)
        wait_for(lambda: ("fleet-default", "db") not in fake_kube.secrets, "the old copy deleted")
        assert ("fleet-default", "db2") in fake_kube.secrets
    assert fake_kube.verbs_used == fake_kube.allowed_verbs, "every verb granted on Secrets is used: no more"
