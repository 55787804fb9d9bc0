"""Controller mode beside a Fleet GitRepo: the same handshake rendered by the controller and by
`generate` gives the same Bundle name, so after a move to git both write one Bundle. Fleet's
`fleet apply` (rancher/fleet internal/cmd/cli/apply/apply.go `save`) then replaces the Bundle's
spec, labels and annotations only: the controller's owner reference stays. The controller must
release such a Bundle (so deleting the handshake does not make the garbage collector delete what
git delivers), never apply over it and never delete it. Against the loopback API server with the
real client; each reconcile is called directly, so nothing waits on the clock."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from kubernetes import client, config

import fakekube
from controllertest import bundles, kubeconfig, status
from fakekube import APPLY_PATCH, FakeKube
from fhtest import handshake
from fleethandshake.adapters.kubeobjects import BUNDLES, HANDSHAKES, KubeObjects
from fleethandshake.app.marks import REPO_LABEL
from fleethandshake.app.reconcile import Reconciler, Result
from fleethandshake.core.bundleobject import handshake_of, owner_reference
from fleethandshake.core.bundles import bundles_for
from fleethandshake.core.models import LABEL_COPY_OF, Status
from fleethandshake.core.render import owner_labels

fake_kube = fakekube.fake_kube
TARGETS = [{"name": "one", "clusterName": "c1"}, {"name": "two", "clusterName": "c2"}]
GIT_SOURCE = "platform-secrets-0123456789"  # the source identity generate's fleet.yaml carries


def custom(fake: FakeKube, tmp_path: Path) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(config.new_client_from_config(str(kubeconfig(fake, tmp_path))))


def reconcile(fake: FakeKube, tmp_path: Path, name: str = "app") -> Result:
    """One reconcile of the handshake as it is stored now."""
    obj = fake.get_object("fleethandshakes", "fleet-default", name)
    assert obj is not None
    return Reconciler(KubeObjects(kubeconfig=str(kubeconfig(fake, tmp_path)))).reconcile(obj)


def synced(fake: FakeKube, tmp_path: Path, targets: list[dict[str, Any]]) -> dict[str, Any]:
    """The handshake `app` with these targets, reconciled once by the controller: Synced."""
    fake.put_secret("default", "db", {"password": "x"})
    hs = fake.put_object(handshake("app", "db", targets))
    assert reconcile(fake, tmp_path).status == Status.SYNCED
    return hs


def of_target(fake: FakeKube, target: str) -> str:
    """The name of the Bundle of the handshake target named `target`."""
    (name,) = [n for n, b in bundles(fake).items() if b["spec"]["targetRestrictions"][0]["name"] == target]
    return name


def git_labels(hs: dict[str, Any]) -> dict[str, str]:
    """The labels of the Bundle a GitRepo `secrets` writes from generate's folder of `hs`: its
    fleet.yaml's labels (generate's source identity) and Fleet's repo label."""
    parsed, _ = handshake_of(hs)
    assert parsed is not None
    return {**owner_labels(parsed, GIT_SOURCE), REPO_LABEL: "secrets"}


def fleet_apply(fake: FakeKube, tmp_path: Path, name: str, hs: dict[str, Any]) -> dict[str, Any]:
    """What `fleet apply` does to an existing Bundle (controllerutil.CreateOrUpdate): read it,
    replace spec, labels and annotations, update it (PUT); the owner reference stays."""
    api = custom(fake, tmp_path)
    current = api.get_namespaced_custom_object(*BUNDLES[:2], "fleet-default", "bundles", name)
    current["metadata"]["labels"] = git_labels(hs)
    current["metadata"]["annotations"] = {"objectset.rio.cattle.io/id": "fleet-apply"}
    api.replace_namespaced_custom_object(*BUNDLES[:2], "fleet-default", "bundles", name, current)
    stored = fake.get_object("bundles", "fleet-default", name)
    assert stored is not None and stored["metadata"].get("ownerReferences"), "Fleet's update keeps the owner"
    return stored


def delete_handshake(fake: FakeKube, tmp_path: Path) -> None:
    custom(fake, tmp_path).delete_namespaced_custom_object(*HANDSHAKES[:2], "fleet-default", "fleethandshakes", "app")


def applied_to(fake: FakeKube, name: str, since: int) -> list[str]:
    """The server-side applies of Bundle `name` after request number `since`."""
    return [
        r.path
        for r in fake.requests[since:]
        if r.method == "PATCH" and (r.content_type or "").startswith(APPLY_PATCH) and r.path.endswith(f"/{name}")
    ]


def test_a_bundle_fleet_apply_took_over_is_released_and_outlives_the_handshake(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    hs = synced(fake_kube, tmp_path, TARGETS)
    shared, alone = of_target(fake_kube, "one"), of_target(fake_kube, "two")
    before = fleet_apply(fake_kube, tmp_path, shared, hs)
    since = len(fake_kube.requests)

    result = reconcile(fake_kube, tmp_path)

    assert result.status == Status.ERROR and not result.retry
    said = status(fake_kube, "fleet-default", "app")
    assert said["status"] == "Error" and said["message"] == result.message
    where = f"Bundle fleet-default/{shared} (GitRepo fleet-default/secrets)"
    assert said["message"].startswith(f"{where} written by a Fleet GitRepo too: not applied"), said["message"]
    assert "delete the FleetHandshake object fleet-default/app" in said["message"]
    assert "released" in said["message"]
    assert applied_to(fake_kube, shared, since) == [] and applied_to(fake_kube, alone, since) == []
    now = fake_kube.get_object("bundles", "fleet-default", shared)
    assert now is not None and "ownerReferences" not in now["metadata"], "released: no owner reference"
    assert now["spec"] == before["spec"] and now["metadata"]["labels"] == before["metadata"]["labels"]
    assert reconcile(fake_kube, tmp_path).status == Status.ERROR, "and stays so"

    delete_handshake(fake_kube, tmp_path)
    assert set(bundles(fake_kube)) == {shared}, "git's Bundle stays; the controller's own one is collected"


def test_a_bundle_a_gitrepo_wrote_first_is_never_overwritten(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.put_secret("default", "db", {"password": "x"})
    hs = fake_kube.put_object(handshake("app", "db", TARGETS[:1]))
    parsed, _ = handshake_of(hs)
    assert parsed is not None
    (bundle,) = bundles_for(parsed, "plain")
    git = {"apiVersion": "fleet.cattle.io/v1alpha1", "kind": "Bundle",
           "metadata": {"name": bundle.name, "namespace": "fleet-default", "labels": git_labels(hs)},
           "spec": {"namespace": "apps", "resources": [{"name": "secret.yaml", "content": "from git"}]}}  # fmt: skip
    before = fake_kube.put_object(git)

    result = reconcile(fake_kube, tmp_path)

    assert result.status == Status.ERROR
    assert f"Bundle fleet-default/{bundle.name} (GitRepo fleet-default/secrets)" in result.message
    assert "released" not in result.message, "it never was this handshake's"
    assert bundles(fake_kube) == {bundle.name: before}, "not applied over, not changed at all"
    assert not [r for r in fake_kube.requests if r.method in ("PATCH", "DELETE") and "/bundles/" in r.path]


def test_a_dropped_targets_bundle_that_git_writes_too_is_released_not_deleted(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    hs = synced(fake_kube, tmp_path, TARGETS)
    kept, shared = of_target(fake_kube, "one"), of_target(fake_kube, "two")
    fleet_apply(fake_kube, tmp_path, shared, hs)
    changed = copy.deepcopy(fake_kube.get_object("fleethandshakes", "fleet-default", "app"))
    assert changed is not None
    changed["spec"]["targets"] = TARGETS[:1]
    fake_kube.put_object(changed)

    result = reconcile(fake_kube, tmp_path)

    assert result.status == Status.SYNCED, result.message
    assert f"released Bundle fleet-default/{shared} (GitRepo fleet-default/secrets)" in result.message
    assert set(bundles(fake_kube)) == {kept, shared}, "the dropped target's Bundle is git's too: not deleted"
    assert not [r for r in fake_kube.requests_of("DELETE") if "/bundles/" in r.path]
    delete_handshake(fake_kube, tmp_path)
    assert set(bundles(fake_kube)) == {shared}


def test_a_release_that_meets_a_changed_bundle_is_tried_again(fake_kube: FakeKube, tmp_path: Path) -> None:
    """Fleet writes the Bundle between the list and the release (a conditional patch, 409): the
    owner reference stays for now and the handshake is retried, never released blind."""
    hs = synced(fake_kube, tmp_path, TARGETS[:1])
    (shared,) = bundles(fake_kube)
    fleet_apply(fake_kube, tmp_path, shared, hs)

    def touched(fake: FakeKube) -> None:
        bundle = fake.get_object("bundles", "fleet-default", shared) or {}
        bundle["metadata"]["annotations"] = {"touched": "by Fleet"}
        fake.put_object(bundle)

    fake_kube.before_next("PATCH", touched)  # the first PATCH of the reconcile: the release
    result = reconcile(fake_kube, tmp_path)

    assert result.status == Status.ERROR and result.retry
    assert f"not released yet, changed since it was listed: Bundle fleet-default/{shared}" in result.message
    assert (fake_kube.get_object("bundles", "fleet-default", shared) or {})["metadata"].get("ownerReferences")
    assert reconcile(fake_kube, tmp_path).status == Status.ERROR
    assert "ownerReferences" not in (fake_kube.get_object("bundles", "fleet-default", shared) or {})["metadata"]


# Downstream mode: the copy in the workspace that a Bundle's downstreamResources names is written
# by the controller and by generate/publish alike (same name, same handshake labels); the source
# label tells them apart. The controller never writes over, owns or deletes a copy git wrote.
MODE = "fleethandshake.riverpointtechnology.com/mode"


def downstream(secret: str) -> dict[str, Any]:
    hs = handshake("app", secret, TARGETS[:1])
    hs["metadata"]["annotations"] = {MODE: "downstream"}
    return hs


def git_copy(fake: FakeKube, hs: dict[str, Any], name: str, owned: bool = False) -> dict[str, Any]:
    """The copy `generate` wrote for `hs` (its labels with generate's source identity); `owned`:
    with an owner reference to `hs` too (however it got one: the controller must not keep it)."""
    parsed, _ = handshake_of(hs)
    assert parsed is not None
    fake.put_secret("fleet-default", name, {"password": "from git"}, labels=owner_labels(parsed, GIT_SOURCE))
    stored = copy.deepcopy(fake.secrets[("fleet-default", name)])
    if owned:
        stored["metadata"]["ownerReferences"] = [owner_reference(hs)]
        stored = fake.put_object(stored)
    return stored


def secret_writes(fake: FakeKube, since: int = 0) -> list[tuple[str, str]]:
    return [
        (r.method, r.path) for r in fake.requests[since:] if r.method in ("PATCH", "DELETE") and "/secrets/" in r.path
    ]


def test_a_copy_generate_wrote_is_never_taken_over(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.put_secret("default", "db", {"password": "x"})
    hs = fake_kube.put_object(downstream("db"))
    before = git_copy(fake_kube, hs, "db")

    result = reconcile(fake_kube, tmp_path)

    assert result.status == Status.ERROR and not result.retry
    assert result.message.startswith(f"Secret fleet-default/db (source {GIT_SOURCE}) written by"), result.message
    assert "delete the FleetHandshake object fleet-default/app" in result.message
    assert "released" not in result.message, "it never was this handshake's"
    assert fake_kube.secrets[("fleet-default", "db")] == before, "not applied over, not owned"
    assert secret_writes(fake_kube) == [] and bundles(fake_kube) == {}, "nothing of the handshake applied"
    delete_handshake(fake_kube, tmp_path)
    assert fake_kube.secret_values("fleet-default", "db") == {"password": "from git"}


def test_a_copy_generate_wrote_that_the_handshake_owns_is_released(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.put_secret("default", "db", {"password": "x"})
    hs = fake_kube.put_object(downstream("db"))
    before = git_copy(fake_kube, hs, "db", owned=True)

    result = reconcile(fake_kube, tmp_path)

    assert result.status == Status.ERROR and not result.retry
    said = status(fake_kube, "fleet-default", "app")
    assert said["status"] == "Error" and said["message"] == result.message
    assert f"released Secret fleet-default/db (source {GIT_SOURCE})" in result.message, result.message
    now = fake_kube.secrets[("fleet-default", "db")]
    assert "ownerReferences" not in now["metadata"], "released: no owner reference"
    assert now["metadata"]["labels"] == before["metadata"]["labels"], "still git's: its labels kept"
    assert fake_kube.secret_values("fleet-default", "db") == {"password": "from git"}
    delete_handshake(fake_kube, tmp_path)
    assert ("fleet-default", "db") in fake_kube.secrets, "the garbage collector has no reason to take it"


def test_a_dropped_copy_generate_wrote_is_released_not_deleted(fake_kube: FakeKube, tmp_path: Path) -> None:
    """The handshake delivers db2 now; the copy db it owned is git's (source label): released,
    its labels kept, never deleted nor stripped."""
    fake_kube.put_secret("default", "db2", {"password": "x"})
    hs = fake_kube.put_object(downstream("db2"))
    before = git_copy(fake_kube, hs, "db", owned=True)

    result = reconcile(fake_kube, tmp_path)

    assert result.status == Status.SYNCED, result.message
    assert f"released Secret fleet-default/db (source {GIT_SOURCE})" in result.message, result.message
    now = fake_kube.secrets[("fleet-default", "db")]
    assert "ownerReferences" not in now["metadata"] and now["metadata"]["labels"] == before["metadata"]["labels"]
    assert not [path for method, path in secret_writes(fake_kube) if method == "DELETE"]
    delete_handshake(fake_kube, tmp_path)
    assert set(copies := {n for (ns, n) in fake_kube.secrets if ns == "fleet-default"}) == {"db"}, copies


def test_a_copy_generate_wrote_is_not_cleaned_up_after_a_gone_handshake(fake_kube: FakeKube, tmp_path: Path) -> None:
    """clean_up deletes what a deleted handshake kept for a reader (LABEL_COPY_OF, no owner
    reference); a copy with generate's source label is never the controller's to delete."""
    parsed, _ = handshake_of(downstream("db"))  # never stored: the handshake is gone
    assert parsed is not None
    labels = {**owner_labels(parsed, GIT_SOURCE), LABEL_COPY_OF: "uid-of-the-gone-handshake"}
    before = fake_kube.put_secret("fleet-default", "db", {"password": "from git"}, labels=labels)
    api = KubeObjects(kubeconfig=str(kubeconfig(fake_kube, tmp_path)))

    assert Reconciler(api).clean_up("fleet-default", "app") is None
    assert fake_kube.secrets[("fleet-default", "db")]["metadata"] == before["metadata"]
