"""The Kubernetes adapter through the real `kubernetes` client against a fake API server.

Everything above HTTP is real: kubeconfig loading, the generated client, urllib3. The fake
(tests/fakekube.py) answers like an API server for core/v1 Secrets.
"""

from __future__ import annotations

import base64
import re
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fakekube
from fakekube import APPLY_PATCH, FakeKube, closed_port_url, write_kubeconfig
from fleethandshake.adapters.kube import KubeOwnershipError, OwnedSecret, SecretStore
from fleethandshake.adapters.kubeclient import KubeConfigError, KubeError
from fleethandshake.core.models import SecretValue
from fleethandshake.errors import EXIT_USAGE, UserError

fake_kube = fakekube.fake_kube  # the fixture: a running fake API server

CANARY = "fh-canary-5be1f0a7-do-not-print"
NS = "fleet-default"
OWNER = {"app.kubernetes.io/managed-by": "fleet-handshake", "fleethandshake.io/handshake": "apps.db"}


def secret(
    name: str, values: dict[str, str], labels: dict[str, str] | None = None, section: str = "data"
) -> dict[str, Any]:
    """A Secret manifest as render writes it (`data`, base64), or with `stringData` to show why not."""
    encode = (lambda v: base64.b64encode(v.encode()).decode()) if section == "data" else (lambda v: v)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS, "labels": dict(labels or OWNER)},
        "type": "Opaque",
        section: {k: SecretValue(encode(v)) for k, v in values.items()},
    }


@pytest.fixture
def store(fake_kube: FakeKube, tmp_path: Path) -> SecretStore:
    return SecretStore(kubeconfig=str(write_kubeconfig(tmp_path / "kubeconfig", {"fake": fake_kube})))


@pytest.fixture
def other_kube() -> Iterator[FakeKube]:
    with FakeKube(token="other-token") as server:
        yield server


def exception_texts(error: BaseException) -> str:
    """Everything a user or a log could see of an exception: str, repr, chain and traceback."""
    seen: list[str] = ["".join(traceback.format_exception(error))]
    current: BaseException | None = error
    while current is not None:
        seen += [str(current), repr(current), *map(str, current.args)]
        current = current.__cause__ or current.__context__
    return "\n".join(seen)


# -- apply ----------------------------------------------------------------------------------------


def test_apply_creates_then_updates_by_server_side_apply(store: SecretStore, fake_kube: FakeKube) -> None:
    store.apply(secret("db", {"password": "one"}))
    created = fake_kube.secrets[(NS, "db")]
    assert fake_kube.secret_values(NS, "db") == {"password": "one"}
    assert created["metadata"]["labels"] == OWNER

    store.apply(secret("db", {"password": "two", "user": "admin"}))
    updated = fake_kube.secrets[(NS, "db")]
    assert fake_kube.secret_values(NS, "db") == {"password": "two", "user": "admin"}
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]

    patches = fake_kube.requests_of("PATCH")
    assert [p.path for p in patches] == [f"/api/v1/namespaces/{NS}/secrets/db"] * 2
    assert {p.content_type for p in patches} == {APPLY_PATCH}
    assert {p.field_manager for p in patches} == {"fleet-handshake"}
    assert {p.query.get("force") for p in patches} == {"true"}
    sent = patches[-1].json()  # the full object, values revealed only here
    assert sent["kind"] == "Secret" and sent["data"] == {"password": b64("two"), "user": b64("admin")}
    assert [m["manager"] for m in updated["metadata"]["managedFields"]] == ["fleet-handshake"]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_key_no_longer_applied_in_data_is_removed(store: SecretStore, fake_kube: FakeKube) -> None:
    """Server-side apply removes a field its manager set before and no longer sets: why render writes data."""
    store.apply(secret("db", {"password": "one", "user": "admin"}))
    store.apply(secret("db", {"password": "one"}))
    assert fake_kube.secret_values(NS, "db") == {"password": "one"}


def test_a_key_no_longer_applied_in_string_data_stays(store: SecretStore, fake_kube: FakeKube) -> None:
    """The API server's behaviour the fake models (kubernetes/kubernetes#108008): stringData is stored
    as data that no manager owns, so a key dropped from stringData is never removed."""
    store.apply(secret("db", {"password": "one", "user": "admin"}, section="stringData"))
    store.apply(secret("db", {"password": "one"}, section="stringData"))
    assert fake_kube.secret_values(NS, "db") == {"password": "one", "user": "admin"}


def test_a_field_another_manager_owns_is_not_removed(store: SecretStore, fake_kube: FakeKube) -> None:
    fake_kube.put_secret(NS, "db", {"extra": "theirs"}, labels=OWNER)
    store.apply(secret("db", {"password": "one", "extra": "mine"}))
    store.apply(secret("db", {"password": "one"}))  # force took "extra" over: it was ours, now dropped
    assert fake_kube.secret_values(NS, "db") == {"password": "one"}
    fake_kube.put_secret(NS, "db2", {"extra": "theirs"}, labels=OWNER)
    store.apply(secret("db2", {"password": "one"}))
    assert fake_kube.secret_values(NS, "db2") == {"password": "one", "extra": "theirs"}


def test_apply_with_owner_labels_refuses_a_secret_it_does_not_own(store: SecretStore, fake_kube: FakeKube) -> None:
    fake_kube.put_secret(NS, "db", {"password": "theirs"}, labels={"team": "other"})
    with pytest.raises(KubeOwnershipError, match=rf"{NS}/db.*not managed by fleet-handshake") as caught:
        store.apply(secret("db", {"password": CANARY}), owner_labels=OWNER)
    assert fake_kube.secret_values(NS, "db") == {"password": "theirs"}
    assert fake_kube.requests_of("PATCH") == []
    assert CANARY not in exception_texts(caught.value)


def test_apply_with_owner_labels_updates_its_own_secret_at_the_version_it_checked(
    store: SecretStore, fake_kube: FakeKube
) -> None:
    owned = fake_kube.put_secret(NS, "db", {"password": "old"}, labels=OWNER)
    store.apply(secret("db", {"password": "new"}, labels={"extra": "x"}), owner_labels=OWNER)
    assert fake_kube.secret_values(NS, "db") == {"password": "new"}
    sent = fake_kube.requests_of("PATCH")[0].json()
    assert sent["metadata"]["resourceVersion"] == owned["metadata"]["resourceVersion"]
    assert sent["metadata"]["labels"] == {"extra": "x", **OWNER}
    assert "PartialObjectMetadata" in (fake_kube.requests_of("GET")[0].accept or "")


def test_apply_with_owner_labels_conflicts_when_the_secret_changes_after_the_check(
    store: SecretStore, fake_kube: FakeKube
) -> None:
    fake_kube.put_secret(NS, "db", {"password": "old"}, labels=OWNER)
    fake_kube.before_next("PATCH", lambda kube: kube.put_secret(NS, "db", {"password": "raced"}, labels=OWNER))
    with pytest.raises(KubeError, match=r"HTTP 409.*conflict") as caught:
        store.apply(secret("db", {"password": CANARY}), owner_labels=OWNER)
    assert caught.value.status == 409
    assert fake_kube.secret_values(NS, "db") == {"password": "raced"}
    assert CANARY not in exception_texts(caught.value)


# -- list -----------------------------------------------------------------------------------------


def test_list_owned_returns_only_matching_secrets_metadata_only(store: SecretStore, fake_kube: FakeKube) -> None:
    fake_kube.put_secret(NS, "b-owned", {"k": CANARY}, labels=OWNER)
    fake_kube.put_secret(NS, "a-owned", {"k": CANARY}, labels={**OWNER, "fleethandshake.io/handshake": "apps.web"})
    fake_kube.put_secret(NS, "unowned", {"k": "v"}, labels={"app.kubernetes.io/managed-by": "helm"})
    fake_kube.put_secret(NS, "unlabelled", {"k": "v"})
    fake_kube.put_secret("elsewhere", "owned-elsewhere", {"k": "v"}, labels=OWNER)

    found = store.list_owned(NS, "app.kubernetes.io/managed-by=fleet-handshake")
    assert [(s.namespace, s.name) for s in found] == [(NS, "a-owned"), (NS, "b-owned")]
    assert found[1] == OwnedSecret(NS, "b-owned", OWNER)
    assert CANARY not in repr(found)

    listing = fake_kube.requests_of("GET")[0]
    assert listing.path == f"/api/v1/namespaces/{NS}/secrets"
    assert listing.query["labelSelector"] == "app.kubernetes.io/managed-by=fleet-handshake"
    assert "as=PartialObjectMetadataList" in (listing.accept or "")

    selector = "app.kubernetes.io/managed-by=fleet-handshake,fleethandshake.io/handshake!=apps.web"
    assert [s.name for s in store.list_owned(NS, selector)] == ["b-owned"]
    assert [s.name for s in store.list_owned(NS, "fleethandshake.io/handshake")] == ["a-owned", "b-owned"]
    assert store.list_owned("empty", "app.kubernetes.io/managed-by=fleet-handshake") == []


# -- delete ---------------------------------------------------------------------------------------


def test_delete_owned_deletes_an_owned_secret_with_preconditions(store: SecretStore, fake_kube: FakeKube) -> None:
    owned = fake_kube.put_secret(NS, "db", {"password": "x"}, labels=OWNER)
    assert store.delete_owned(NS, "db", OWNER) is True
    assert (NS, "db") not in fake_kube.secrets
    [delete] = fake_kube.requests_of("DELETE")
    assert delete.json()["preconditions"] == {
        "uid": owned["metadata"]["uid"],
        "resourceVersion": owned["metadata"]["resourceVersion"],
    }


@pytest.mark.parametrize("labels", [{}, {"app.kubernetes.io/managed-by": "fleet-handshake"}, {**OWNER, "x": "y"}])
def test_delete_owned_never_touches_a_secret_without_every_owner_label(
    store: SecretStore, fake_kube: FakeKube, labels: dict[str, str]
) -> None:
    fake_kube.put_secret(NS, "db", {"password": "theirs"}, labels=labels)
    owned = all(labels.get(k) == v for k, v in OWNER.items())
    assert store.delete_owned(NS, "db", OWNER) is owned
    assert ((NS, "db") in fake_kube.secrets) is not owned
    assert len(fake_kube.requests_of("DELETE")) == int(owned)


def test_delete_owned_asks_check_with_the_metadata_it_read_and_a_refusal_deletes_nothing(
    store: SecretStore, fake_kube: FakeKube
) -> None:
    manifest = secret("db", {"password": CANARY})
    manifest["metadata"]["annotations"] = {"from": "newer"}
    store.apply(manifest, owner_labels=OWNER)
    seen: list[Any] = []

    def refuse(metadata: Any) -> None:
        seen.append(dict(metadata.get("annotations") or {}))
        raise RuntimeError("newer")

    with pytest.raises(RuntimeError):
        store.delete_owned(NS, "db", OWNER, check=refuse)

    assert seen == [{"from": "newer"}] and fake_kube.requests_of("DELETE") == []
    assert store.delete_owned(NS, "db", OWNER, check=seen.append) is True


def test_delete_owned_of_an_absent_secret_is_false(store: SecretStore, fake_kube: FakeKube) -> None:
    assert store.delete_owned(NS, "missing", OWNER) is False
    assert fake_kube.requests_of("DELETE") == []


def test_delete_owned_spares_a_secret_replaced_after_the_check(store: SecretStore, fake_kube: FakeKube) -> None:
    fake_kube.put_secret(NS, "db", {"password": "ours"}, labels=OWNER)
    fake_kube.before_next("DELETE", lambda kube: kube.put_secret(NS, "db", {"password": "theirs"}, labels={}))
    assert store.delete_owned(NS, "db", OWNER) is False
    assert fake_kube.secret_values(NS, "db") == {"password": "theirs"}
    assert len(fake_kube.requests_of("DELETE")) == 1  # refused by the precondition, not retried


def test_delete_owned_retries_when_its_own_secret_changed(store: SecretStore, fake_kube: FakeKube) -> None:
    fake_kube.put_secret(NS, "db", {"password": "v1"}, labels=OWNER)
    fake_kube.before_next("DELETE", lambda kube: kube.put_secret(NS, "db", {"password": "v2"}, labels=OWNER))
    assert store.delete_owned(NS, "db", OWNER) is True
    assert (NS, "db") not in fake_kube.secrets
    assert len(fake_kube.requests_of("DELETE")) == 2


def test_delete_owned_gives_up_after_repeated_conflicts(store: SecretStore, fake_kube: FakeKube) -> None:
    fake_kube.put_secret(NS, "db", {"password": "v1"}, labels=OWNER)
    for _ in range(3):
        fake_kube.fail_next(409, "Conflict", method="DELETE")
    with pytest.raises(KubeError, match=r"delete Secret fleet-default/db.*409.*not deleted") as caught:
        store.delete_owned(NS, "db", OWNER)
    assert caught.value.status == 409
    assert (NS, "db") in fake_kube.secrets


def test_apply_says_which_secret_it_created_and_delete_owned_spares_it_once_changed(
    store: SecretStore, fake_kube: FakeKube
) -> None:
    created = store.apply(secret("db", {"password": "v1"}), owner_labels=OWNER)
    stored = fake_kube.secrets[(NS, "db")]["metadata"]
    assert created == (stored["uid"], stored["resourceVersion"], True)
    updated = store.apply(secret("db", {"password": "v2"}), owner_labels=OWNER)
    stored = fake_kube.secrets[(NS, "db")]["metadata"]
    assert updated == (stored["uid"], stored["resourceVersion"], False), "an update created nothing"
    assert store.delete_owned(NS, "db", OWNER, unchanged=created[:2]) is False, "changed since it was created"
    assert fake_kube.secret_values(NS, "db") == {"password": "v2"} and fake_kube.requests_of("DELETE") == []

    again = store.apply(secret("api", {"token": "t"}), owner_labels=OWNER)
    assert again.created and store.delete_owned(NS, "api", OWNER, unchanged=again[:2]) is True
    assert (NS, "api") not in fake_kube.secrets


def test_an_apply_that_finds_the_secret_created_since_its_check_did_not_create_it(
    store: SecretStore, fake_kube: FakeKube
) -> None:
    fake_kube.before_next("PATCH", lambda kube: kube.put_secret(NS, "db", {"password": "theirs"}, labels=OWNER))
    assert store.apply(secret("db", {"password": "ours"}), owner_labels=OWNER).created is False


def test_an_apply_the_api_server_refuses_without_owner_labels_is_a_kube_error(
    store: SecretStore, fake_kube: FakeKube
) -> None:
    store.apply(secret("db", {"password": "one"}))
    changed_type = {**secret("db", {"password": "one"}), "type": "kubernetes.io/basic-auth"}
    with pytest.raises(KubeError) as raised:  # not a NameError from the immutable re-apply's check
        store.apply(changed_type)
    assert raised.value.status == 422 and "kubectl delete secret -n fleet-default db" in str(raised.value)


def test_misuse_is_a_value_error_that_shows_no_value(store: SecretStore, fake_kube: FakeKube) -> None:
    manifest = secret("db", {"password": CANARY})
    del manifest["metadata"]["namespace"]
    with pytest.raises(ValueError, match=r"metadata\.name and metadata\.namespace") as caught:
        store.apply(manifest)
    assert CANARY not in exception_texts(caught.value)
    with pytest.raises(ValueError, match="v1 Secret"):
        store.apply({**secret("db", {}), "kind": "ConfigMap"})
    with pytest.raises(ValueError, match="label selector"):
        store.list_owned(NS, " ")  # an empty selector would list every Secret
    with pytest.raises(ValueError, match="owner labels"):
        store.delete_owned(NS, "db", {})  # no labels: everything would count as owned
    assert fake_kube.requests == []


# -- errors ---------------------------------------------------------------------------------------

OPERATIONS = {
    "apply": (None, lambda s: s.apply(secret("db", {"password": CANARY}))),
    "list": ("GET", lambda s: s.list_owned(NS, "app.kubernetes.io/managed-by=fleet-handshake")),
    "delete-read": ("GET", lambda s: s.delete_owned(NS, "db", OWNER)),
    "delete": ("DELETE", lambda s: s.delete_owned(NS, "db", OWNER)),
}
STATUSES = {
    401: ("Unauthorized", "unauthorized: the Kubernetes API at http://127.0.0.1:"),
    403: (
        "Forbidden",
        rf"forbidden: the credentials lack permission to \w+ secrets in namespace {NS}"
        rf" \(needs get, list, create, patch and delete on secrets in {NS}\)",
    ),
    409: ("Conflict", "conflict"),
    500: ("Internal Server Error", "failed; try again later"),
}


# A conflict on the delete itself is retried: see test_delete_owned_gives_up_after_repeated_conflicts.
CASES = [(op, status) for op in sorted(OPERATIONS) for status in sorted(STATUSES) if (op, status) != ("delete", 409)]


@pytest.mark.parametrize(("operation", "status"), CASES)
def test_api_errors_name_the_operation_and_status_never_the_secret(
    store: SecretStore, fake_kube: FakeKube, operation: str, status: int
) -> None:
    fake_kube.put_secret(NS, "db", {"password": CANARY}, labels=OWNER)
    method, call = OPERATIONS[operation]
    reason, detail = STATUSES[status]
    # The server's error body echoes the secret, as a real one may echo the object it was sent.
    fake_kube.fail_next(status, reason, method=method, message=f"rejected stringData.password={CANARY}")
    with pytest.raises(KubeError) as caught:
        call(store)
    error = caught.value
    assert isinstance(error, UserError) and error.status == status
    assert f"HTTP {status} {reason}" in str(error)
    assert re.search(detail, str(error)), str(error)
    assert (f"{NS}/db" if operation != "list" else f"namespace {NS}") in str(error)
    assert CANARY not in exception_texts(error)
    assert error.__cause__ is None and error.__context__ is None


def test_unreachable_api_server(tmp_path: Path) -> None:
    url = closed_port_url()
    store = SecretStore(kubeconfig=str(write_kubeconfig(tmp_path / "kubeconfig", {"gone": url})))
    with pytest.raises(
        KubeError, match=rf"cannot apply Secret {NS}/db: cannot reach the Kubernetes API at {url}"
    ) as caught:
        store.apply(secret("db", {"password": CANARY}))
    assert caught.value.status is None
    assert "connection refused" in str(caught.value)
    assert CANARY not in exception_texts(caught.value)


# -- configuration --------------------------------------------------------------------------------


def test_context_selection(fake_kube: FakeKube, other_kube: FakeKube, tmp_path: Path) -> None:
    kubeconfig = str(write_kubeconfig(tmp_path / "kubeconfig", {"alpha": fake_kube, "beta": other_kube}, "alpha"))
    SecretStore(kubeconfig=kubeconfig, context="beta").apply(secret("chosen", {"k": "v"}))
    SecretStore(kubeconfig=kubeconfig).apply(secret("current", {"k": "v"}))
    assert set(other_kube.secrets) == {(NS, "chosen")}
    assert set(fake_kube.secrets) == {(NS, "current")}
    assert {r.authorization for r in other_kube.requests} == {"Bearer other-token"}

    with pytest.raises(KubeConfigError, match="gamma") as caught:
        SecretStore(kubeconfig=kubeconfig, context="gamma")
    assert caught.value.exit_code == EXIT_USAGE


def test_kubeconfig_from_the_environment(fake_kube: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "env-kubeconfig", {"env": fake_kube})))
    SecretStore().apply(secret("db", {"k": "v"}))
    assert (NS, "db") in fake_kube.secrets


def test_no_kubeconfig_anywhere_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeConfigError, match="no Kubernetes configuration"):
        SecretStore()
    with pytest.raises(KubeConfigError, match="kubeconfig file not found"):
        SecretStore(kubeconfig=str(tmp_path / "nope"))
    # In a pod (no kubeconfig, KUBERNETES_SERVICE_HOST set) the service account is used.
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.43.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    if not Path("/var/run/secrets/kubernetes.io/serviceaccount/token").exists():
        with pytest.raises(KubeConfigError, match="from the in-cluster service account"):
            SecretStore()
    with pytest.raises(KubeConfigError, match="context 'prod' was asked for, but there is no kubeconfig"):
        SecretStore(context="prod")


def test_fake_answers_version_through_the_real_client(fake_kube: FakeKube, tmp_path: Path) -> None:
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(
        str(write_kubeconfig(tmp_path / "kc", {"f": fake_kube})), client_configuration=configuration
    )
    assert client.VersionApi(client.ApiClient(configuration)).get_code().git_version == "v1.31.0-fake"
