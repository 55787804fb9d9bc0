"""The controller's downstream copies in the workspace: the copy of a Secret the handshake no
longer delivers (its secretName changed, or it left downstream mode) is deleted, after the new
copy and the Bundles are applied; only a Secret with both marks (the handshake's labels and an
owner reference to its uid), never the handshake's own Secret, and nothing while it is Missing.
A copy another handshake reads has no owner reference (LABEL_COPY_OF instead), so it outlives
its handshake and is then released."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

import fakekube
from controllertest import bundles, kubeconfig, running, status, wait_for
from fakekube import FakeKube
from fhtest import handshake
from fleethandshake.adapters.kubeobjects import HANDSHAKES, KubeObjects
from fleethandshake.app.reconcile import Reconciler
from fleethandshake.core.models import (
    LABEL_COPY_OF,
    LABEL_HANDSHAKE,
    LABEL_MANAGED_BY,
    LABEL_SOURCE,
    LABEL_WORKSPACE,
    MANAGER,
)
from fleethandshake.core.ownership import CONTROLLER_SOURCE

fake_kube = fakekube.fake_kube
MODE = "fleethandshake.riverpointtechnology.com/mode"
TARGETS = [{"name": "one", "clusterName": "c1"}, {"name": "two", "clusterName": "c2"}]
# What the controller labels a copy with (it always records its source identity).
LABELS = {
    LABEL_MANAGED_BY: MANAGER,
    LABEL_WORKSPACE: "fleet-default",
    LABEL_HANDSHAKE: "app",
    LABEL_SOURCE: CONTROLLER_SOURCE,
}


def downstream(secret: str, targets: list[dict[str, Any]] = TARGETS, name: str = "app") -> dict[str, Any]:
    hs = handshake(name, secret, targets)
    hs["metadata"]["annotations"] = {MODE: "downstream"}
    return hs


def change(fake: FakeKube, hs: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """The handshake as `kubectl apply` would leave it with `spec` changed (a new generation)."""
    changed = copy.deepcopy(fake.get_object("fleethandshakes", "fleet-default", "app") or hs)
    changed["spec"].update(spec)
    changed.pop("status", None)
    return fake.put_object(changed)


def synced(fake: FakeKube, generation: int) -> bool:
    now = status(fake, "fleet-default", "app")
    return now.get("status") == "Synced" and now.get("observedGeneration") == generation


def copies(fake: FakeKube) -> set[str]:
    return {name for (ns, name) in fake.secrets if ns == "fleet-default"}


def marks(fake: FakeKube, name: str) -> tuple[list[str], str | None, bool]:
    """The copy's owner uids, its LABEL_COPY_OF and whether it has the copy labels at all."""
    meta = fake.secrets[("fleet-default", name)]["metadata"]
    labels = meta.get("labels") or {}
    owners = [ref["uid"] for ref in meta.get("ownerReferences") or []]
    return owners, labels.get(LABEL_COPY_OF), bool(set(LABELS) & set(labels))


def delete_handshake(fake: FakeKube, tmp_path: Path, name: str = "app") -> None:
    custom = client.CustomObjectsApi(config.new_client_from_config(str(kubeconfig(fake, tmp_path))))
    custom.delete_namespaced_custom_object(*HANDSHAKES[:2], "fleet-default", "fleethandshakes", name)


def reader(name: str, secret: str, namespace: str = "fleet-default") -> dict[str, Any]:
    """A plain-mode handshake that reads `namespace/secret`, into another namespace than app's
    (two Secrets of one name in one namespace of c1 would fight: app/rivals.py)."""
    return handshake(name, secret, TARGETS[:1], secret_namespace=namespace, target_namespace="readers")


def test_a_changed_secret_name_removes_the_old_copy_after_the_new_copy_and_bundles(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    fake_kube.put_secret("default", "db", {"password": "old"})
    fake_kube.put_secret("default", "db2", {"password": "new"})
    owner = fake_kube.put_object(downstream("db"))
    uid = owner["metadata"]["uid"]
    ref = {"apiVersion": owner["apiVersion"], "kind": "FleetHandshake", "name": "app", "uid": uid}
    # Each with one mark only: not what this controller wrote for this handshake, so they stay.
    fake_kube.put_secret("fleet-default", "lookalike", {"k": "v"}, labels=LABELS)  # the labels, no owner
    adopted = fake_kube.put_secret("fleet-default", "adopted", {"k": "v"})  # an owner, not the labels
    adopted["metadata"]["ownerReferences"] = [ref]
    fake_kube.put_object(adopted)
    with running(fake_kube, tmp_path):
        wait_for(lambda: synced(fake_kube, 1), "Synced with the copy db")
        assert copies(fake_kube) == {"db", "lookalike", "adopted"}
        first = len(fake_kube.requests)
        change(fake_kube, owner, secretName="db2", targets=TARGETS[:1])  # and a target dropped
        wait_for(lambda: synced(fake_kube, 2), "Synced with the copy db2")
    assert copies(fake_kube) == {"db2", "lookalike", "adopted"}, "the old copy goes, the others stay"
    assert fake_kube.secret_values("fleet-default", "db2") == {"password": "new"}
    assert status(fake_kube, "fleet-default", "app")["message"].endswith(", Secret fleet-default/db")
    (bundle,) = bundles(fake_kube).values()
    assert bundle["spec"]["downstreamResources"] == [{"kind": "Secret", "name": "db2"}]
    order = [(r.method, r.path.rsplit("/", 2)[-2]) for r in fake_kube.requests[first:]
             if r.method in ("PATCH", "DELETE") and not r.path.endswith("/status")]  # fmt: skip
    # Fleet never sees a Bundle naming a Secret that is gone: the new copy, the new Bundle, the
    # two old ones (a bundle's name changes with the Secret's; both name the old copy), and only
    # then the old copy.
    deletes = [("DELETE", "bundles")] * 2
    assert order == [("PATCH", "secrets"), ("PATCH", "bundles"), *deletes, ("DELETE", "secrets")], order
    deleted = [r.path for r in fake_kube.requests_of("DELETE") if "/secrets/" in r.path]
    assert deleted == ["/api/v1/namespaces/fleet-default/secrets/db"]


def test_missing_keeps_the_old_copy_until_the_new_secret_is_there(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.put_secret("default", "db", {"password": "old"})
    owner = fake_kube.put_object(downstream("db"))
    with running(fake_kube, tmp_path):
        wait_for(lambda: synced(fake_kube, 1), "Synced with the copy db")
        before = bundles(fake_kube)
        change(fake_kube, owner, secretName="db2")
        wait_for(lambda: status(fake_kube, "fleet-default", "app").get("observedGeneration") == 2, "generation 2")
        assert status(fake_kube, "fleet-default", "app")["status"] == "Missing"
        assert copies(fake_kube) == {"db"} and bundles(fake_kube) == before, "Missing keeps everything"
        fake_kube.put_secret("default", "db2", {"password": "new"})
        wait_for(lambda: copies(fake_kube) == {"db2"}, "the old copy removed once db2 is delivered")
    assert synced(fake_kube, 2)


def test_a_user_secret_that_took_the_old_copys_place_is_not_removed(fake_kube: FakeKube, tmp_path: Path) -> None:
    """The copy is deleted only as it was listed: one a user changed (here: relabelled as their
    own) between the list and the delete stays (the retry's list no longer finds it)."""
    fake_kube.put_secret("default", "db", {"password": "old"})
    fake_kube.put_secret("default", "db2", {"password": "new"})
    owner = fake_kube.put_object(downstream("db"))

    def taken_over(fake: FakeKube) -> None:
        """Just before the old copy's delete (after it was listed), it becomes the user's."""
        if "/secrets/" not in fake.requests[-1].path:  # an old Bundle's delete: wait for the Secret's
            fake.before_next("DELETE", taken_over)
            return
        fake.put_secret("fleet-default", "db", {"password": "the user's own"})

    with running(fake_kube, tmp_path):
        wait_for(lambda: synced(fake_kube, 1), "Synced with the copy db")
        fake_kube.before_next("DELETE", taken_over)
        change(fake_kube, owner, secretName="db2")
        wait_for(lambda: synced(fake_kube, 2), "Synced with the copy db2")
        # Tried again from a new list, which no longer holds the user's Secret (no marks left).
        wait_for(lambda: "Secret" not in status(fake_kube, "fleet-default", "app")["message"], "retried")
    assert fake_kube.secret_values("fleet-default", "db") == {"password": "the user's own"}
    assert [r.path.rsplit("/", 1)[-1] for r in fake_kube.requests_of("DELETE")][-1] == "db", "it was tried"


def test_leaving_downstream_mode_removes_the_copy_but_never_the_handshakes_own_secret(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    fake_kube.put_secret("default", "db", {"password": "x"})
    fake_kube.put_secret("default", "api", {"token": "y"})
    owner = fake_kube.put_object(downstream("db"))
    api = fake_kube.put_object(downstream("api", name="api"))
    with running(fake_kube, tmp_path):
        wait_for(lambda: synced(fake_kube, 1), "Synced with the copy db")
        wait_for(lambda: status(fake_kube, "fleet-default", "api").get("status") == "Synced", "api Synced")
        assert copies(fake_kube) == {"db", "api"}
        # app now delivers the copy itself, in plain mode: that Secret has both marks but is its own.
        plain = copy.deepcopy(fake_kube.get_object("fleethandshakes", "fleet-default", "app") or owner)
        plain["metadata"]["annotations"] = {MODE: "plain"}
        plain["spec"]["secretNamespace"] = "fleet-default"
        plain.pop("status")
        fake_kube.put_object(plain)
        wait_for(lambda: synced(fake_kube, 2), "Synced in plain mode")
        api = fake_kube.get_object("fleethandshakes", "fleet-default", "api") or api
        api["metadata"]["annotations"] = {MODE: "plain"}
        api.pop("status")
        fake_kube.put_object(api)
        wait_for(lambda: "api" not in copies(fake_kube), "api's copy removed when it left downstream mode")
    assert copies(fake_kube) == {"db"}, "app's own Secret stays"
    assert "Secret" not in status(fake_kube, "fleet-default", "app")["message"].split("; released")[0]
    assert status(fake_kube, "fleet-default", "api")["message"].endswith(", Secret fleet-default/api")


def test_a_handshake_pointed_at_its_copy_releases_it_so_the_copy_outlives_the_handshake(
    fake_kube: FakeKube, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The user points the handshake at its copy in the workspace (the first Secret is then
    redundant): the copy is now the user's Secret. It keeps neither the owner reference (the
    garbage collector would delete it with the handshake) nor the marks (a later change of
    secretName would delete it as a copy no longer delivered)."""
    caplog.set_level(logging.INFO, logger="fleet-handshake.controller")
    fake_kube.put_secret("default", "db", {"password": "x"})
    owner = fake_kube.put_object(downstream("db"))
    with running(fake_kube, tmp_path):
        wait_for(lambda: synced(fake_kube, 1), "Synced with the copy db")
        change(fake_kube, owner, secretNamespace="fleet-default")
        wait_for(lambda: synced(fake_kube, 2), "Synced from its former copy")
        released = fake_kube.secrets[("fleet-default", "db")]["metadata"]
        assert not released.get("ownerReferences"), "no owner: the garbage collector leaves it"
        assert not set(LABELS) & set(released.get("labels") or {}), "no marks: not taken for a copy"
        # Logged (after the status write): the release is an event of the Secret, whose
        # reconcile may rewrite the status.
        wait_for(lambda: "; released Secret fleet-default/db (" in caplog.text, "the release logged")
        fake_kube.put_secret("default", "db2", {"password": "y"})
        change(fake_kube, owner, secretNamespace="default", secretName="db2")
        wait_for(lambda: synced(fake_kube, 3), "Synced with the copy db2")
        assert copies(fake_kube) == {"db", "db2"}, "the user's Secret db is not a copy to remove"
        custom = client.CustomObjectsApi(config.new_client_from_config(str(kubeconfig(fake_kube, tmp_path))))
        custom.delete_namespaced_custom_object(*HANDSHAKES[:2], "fleet-default", "fleethandshakes", "app")
        wait_for(lambda: "db2" not in copies(fake_kube), "the copy db2 collected with the handshake")
    assert fake_kube.secret_values("fleet-default", "db") == {"password": "x"}, "the user's Secret stays"


def test_a_copy_another_handshake_reads_is_released_not_removed(
    fake_kube: FakeKube, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another handshake names the copy as its Secret: when this one stops delivering it, the
    copy is kept and released (no owner, no marks), so that neither this change nor deleting
    this handshake takes the other's Secret; the status message says so."""
    caplog.set_level(logging.INFO, logger="fleet-handshake.controller")
    fake_kube.put_secret("default", "db", {"password": "x"})
    fake_kube.put_secret("default", "db2", {"password": "y"})
    owner = fake_kube.put_object(downstream("db"))
    with running(fake_kube, tmp_path):
        wait_for(lambda: synced(fake_kube, 1), "Synced with the copy db")
        reader = handshake("reader", "db", TARGETS[:1], target_namespace="readers")  # not app's: app/rivals.py
        reader["spec"]["secretNamespace"] = "fleet-default"  # the copy itself
        fake_kube.put_object(reader)
        wait_for(lambda: status(fake_kube, "fleet-default", "reader").get("status") == "Synced", "reader Synced")
        change(fake_kube, owner, secretName="db2")
        wait_for(lambda: synced(fake_kube, 2), "Synced with the copy db2")

        def released_logged() -> list[str]:  # after the status write
            logged = [r.getMessage() for r in caplog.records]
            return [m for m in logged if m.startswith("FleetHandshake fleet-default/app: Synced") and "released" in m]

        (message,) = wait_for(released_logged, "the release logged")
        removed, released = message.split("; released ")
        assert "Secret" not in removed and released.startswith("Secret fleet-default/db "), message
        custom = client.CustomObjectsApi(config.new_client_from_config(str(kubeconfig(fake_kube, tmp_path))))
        custom.delete_namespaced_custom_object(*HANDSHAKES[:2], "fleet-default", "fleethandshakes", "app")
        wait_for(lambda: "db2" not in copies(fake_kube), "the copy db2 collected with the handshake")
    assert fake_kube.secret_values("fleet-default", "db") == {"password": "x"}, "reader's Secret stays"
    assert status(fake_kube, "fleet-default", "reader")["status"] == "Synced"


def test_a_copy_another_handshake_reads_outlives_its_handshake_and_is_released(
    fake_kube: FakeKube, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The copy is applied without the owner reference as soon as another handshake reads it, so
    the garbage collector leaves it when its handshake is deleted; it is then released (the
    reader's Secret from then on) and the reader stays Synced."""
    caplog.set_level(logging.INFO, logger="fleet-handshake.controller")
    fake_kube.put_secret("default", "db", {"password": "x"})
    uid = fake_kube.put_object(downstream("db"))["metadata"]["uid"]
    with running(fake_kube, tmp_path):
        wait_for(lambda: synced(fake_kube, 1) and marks(fake_kube, "db")[0] == [uid], "the copy, owned")
        fake_kube.put_object(reader("reader", "db"))
        wait_for(lambda: marks(fake_kube, "db") == ([], uid, True), "the copy kept without its owner reference")
        wait_for(lambda: status(fake_kube, "fleet-default", "reader").get("status") == "Synced", "reader Synced")
        wait_for(lambda: "read by another handshake" in app_message(fake_kube), "said")
        delete_handshake(fake_kube, tmp_path)
        wait_for(lambda: marks(fake_kube, "db") == ([], None, False), "the copy released")
        assert all(name.startswith("reader-") for name in bundles(fake_kube)), "app's Bundles go with it"
        logged = "FleetHandshake fleet-default/app (deleted): released Secret fleet-default/db ("
        wait_for(lambda: logged in caplog.text, "the release logged")
        wait_for(lambda: status(fake_kube, "fleet-default", "reader").get("status") == "Synced", "reader Synced")
    assert fake_kube.secret_values("fleet-default", "db") == {"password": "x"}
    assert status(fake_kube, "fleet-default", "reader")["status"] == "Synced"


def test_a_copy_nobody_reads_any_more_gets_its_owner_reference_back(fake_kube: FakeKube, tmp_path: Path) -> None:
    """The reader turns to another Secret while the handshake exists: the copy is owned again, and
    deleting the handshake deletes it (garbage collection), as for a copy nobody ever read."""
    fake_kube.put_secret("default", "db", {"password": "x"})
    fake_kube.put_secret("default", "other", {"password": "y"})
    uid = fake_kube.put_object(downstream("db"))["metadata"]["uid"]
    with running(fake_kube, tmp_path):
        fake_kube.put_object(reader("reader", "db"))
        wait_for(lambda: "db" in copies(fake_kube) and marks(fake_kube, "db") == ([], uid, True), "kept")
        fake_kube.put_object(reader("reader", "other", namespace="default"))
        wait_for(lambda: marks(fake_kube, "db") == ([uid], None, True), "owned again, LABEL_COPY_OF gone")
        delete_handshake(fake_kube, tmp_path)
        wait_for(lambda: "db" not in copies(fake_kube), "the copy collected with the handshake")
        wait_for(lambda: status(fake_kube, "fleet-default", "reader").get("status") == "Synced", "reader Synced")


def test_what_an_earlier_handshake_kept_is_released_or_removed_but_only_its_copies(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    """Copies kept (LABEL_COPY_OF, no owner) for handshakes deleted while no controller ran: the
    one a handshake reads is released, the others deleted, both for a handshake that is gone and
    for one recreated under the same name (another uid); a Secret with the labels alone stays."""
    fake_kube.put_secret("default", "db", {"password": "x"})
    fake_kube.put_object(downstream("db"))  # app, recreated: its earlier self kept app-old
    fake_kube.put_object(reader("reader", "gone-read"))
    gone = {**LABELS, LABEL_HANDSHAKE: "gone", LABEL_COPY_OF: "uid-of-gone"}
    fake_kube.put_secret("fleet-default", "gone-read", {"k": "v"}, labels=gone)
    fake_kube.put_secret("fleet-default", "gone-unread", {"k": "v"}, labels=gone)
    fake_kube.put_secret("fleet-default", "gone-lookalike", {"k": "v"}, labels={**LABELS, LABEL_HANDSHAKE: "gone"})
    fake_kube.put_secret("fleet-default", "app-old", {"k": "v"}, labels={**LABELS, LABEL_COPY_OF: "uid-of-old-app"})
    with running(fake_kube, tmp_path):
        wait_for(lambda: copies(fake_kube) == {"db", "gone-read", "gone-lookalike"}, "the unread ones removed")
        wait_for(lambda: marks(fake_kube, "gone-read") == ([], None, False), "the one read released")
        wait_for(lambda: status(fake_kube, "fleet-default", "reader").get("status") == "Synced", "reader Synced")
        wait_for(lambda: "Secret fleet-default/app-old" in app_message(fake_kube), "said")
    assert marks(fake_kube, "gone-lookalike")[1:] == (None, True), "one mark only: not a copy, left alone"


def test_a_release_that_meets_a_changed_copy_is_tried_again(
    fake_kube: FakeKube, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The copy changes between the list and the release (a conditional patch, 409): the
    handshake is queued again, and says so meanwhile, rather than leave the copy owned."""
    caplog.set_level(logging.INFO, logger="fleet-handshake.controller")
    fake_kube.put_secret("default", "db", {"password": "x"})
    fake_kube.put_secret("default", "db2", {"password": "y"})
    owner = fake_kube.put_object(downstream("db"))
    uid = owner["metadata"]["uid"]

    def touched(fake: FakeKube) -> None:
        """Just before the release's merge patch, someone annotates the copy."""
        last = fake.requests[-1]
        if not (last.path.endswith("/secrets/db") and (last.content_type or "").startswith("application/merge")):
            fake.before_next("PATCH", touched)
            return
        copy_ = fake.get_object("secrets", "fleet-default", "db") or {}
        copy_["metadata"]["annotations"] = {"touched": "by a user"}
        fake.put_object(copy_)

    with running(fake_kube, tmp_path):
        fake_kube.put_object(reader("reader", "db"))
        wait_for(lambda: synced(fake_kube, 1) and marks(fake_kube, "db") == ([], uid, True), "kept for the reader")
        fake_kube.before_next("PATCH", touched)
        change(fake_kube, owner, secretName="db2")
        wait_for(
            lambda: "not released yet, changed since it was listed: Secret fleet-default/db" in caplog.text, "said"
        )
        wait_for(lambda: marks(fake_kube, "db") == ([], None, False), "released on the retry", deadline=20)
        wait_for(lambda: synced(fake_kube, 2), "Synced with the copy db2")
    assert fake_kube.secrets[("fleet-default", "db")]["metadata"]["annotations"] == {"touched": "by a user"}


def test_a_copy_name_freed_by_another_handshakes_copy_is_taken_at_once(fake_kube: FakeKube, tmp_path: Path) -> None:
    """`other` is Error while app's copy holds the name of its own copy; app's copy removed (app
    delivers another one now), `other` is reconciled at once, not at the next resync."""
    fake_kube.put_secret("default", "db", {"password": "x"})
    fake_kube.put_secret("default", "db2", {"password": "y"})
    fake_kube.put_secret("elsewhere", "db", {"password": "z"})
    owner = fake_kube.put_object(downstream("db"))
    other = downstream("db", TARGETS[1:], name="other")
    other["spec"]["secretNamespace"] = "elsewhere"
    with running(fake_kube, tmp_path):  # FAST: resync only every hour
        wait_for(lambda: synced(fake_kube, 1), "app Synced with the copy db")
        fake_kube.put_object(other)
        wait_for(lambda: status(fake_kube, "fleet-default", "other").get("status") == "Error", "other Error")
        change(fake_kube, owner, secretName="db2")
        wait_for(lambda: synced(fake_kube, 2), "app Synced with the copy db2")
        wait_for(lambda: status(fake_kube, "fleet-default", "other").get("status") == "Synced", "other", deadline=20)
    assert fake_kube.secret_values("fleet-default", "db") == {"password": "z"}


def test_clean_up_leaves_what_a_handshake_of_that_name_holds_again(fake_kube: FakeKube, tmp_path: Path) -> None:
    """A clean-up queued for a deleted handshake runs after one of the same name was created
    again (the controller's cache not yet told): the API says it exists, so nothing is touched;
    its own reconcile takes over what is labelled for it."""
    uid = fake_kube.put_object(downstream("db"))["metadata"]["uid"]
    fake_kube.put_secret("fleet-default", "db", {"k": "v"}, labels={**LABELS, LABEL_COPY_OF: uid})
    api = KubeObjects(kubeconfig=str(kubeconfig(fake_kube, tmp_path)))
    assert Reconciler(api).clean_up("fleet-default", "app") is None
    assert marks(fake_kube, "db") == ([], uid, True)
    assert not fake_kube.requests_of("DELETE") and not fake_kube.requests_of("PATCH")


def app_message(fake: FakeKube) -> str:
    """The status message of the handshake `app` ("" until the controller has written one)."""
    return str(status(fake, "fleet-default", "app").get("message", ""))


def test_a_clean_up_whose_delete_meets_a_changed_copy_is_tried_again(fake_kube: FakeKube, tmp_path: Path) -> None:
    """The kept copy of a deleted handshake changes between the list and its delete (a
    conditional delete, 409): the clean-up is retried, not dropped. Nothing else queues a
    deleted handshake again (the resync queues the handshakes that exist), so the copy, the
    clear-text Secret nobody delivers, stayed until the controller restarted."""
    kept = {**LABELS, LABEL_COPY_OF: "uid-of-deleted-app"}
    fake_kube.put_secret("fleet-default", "db", {"k": "v"}, labels=kept)

    def touched(fake: FakeKube) -> None:
        copy_ = fake.get_object("secrets", "fleet-default", "db") or {}
        copy_["metadata"]["annotations"] = {"touched": "by a tool"}
        fake.put_object(copy_)

    fake_kube.before_next("DELETE", touched)
    reconciler = Reconciler(KubeObjects(kubeconfig=str(kubeconfig(fake_kube, tmp_path))))

    first = reconciler.clean_up("fleet-default", "app")

    assert first is not None and first.retry, "the skipped delete is tried again"
    assert "not removed yet, changed since it was listed: Secret fleet-default/db" in first.message
    assert copies(fake_kube) == {"db"}
    second = reconciler.clean_up("fleet-default", "app")
    assert second is not None and (second.message, second.retry) == ("removed Secret fleet-default/db", False)
    assert copies(fake_kube) == set()
