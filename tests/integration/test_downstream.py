"""Downstream mode end to end: the real kubernetes client against a loopback API server.

There is no Kubernetes API server on these machines: tests/fakekube.py speaks the REST protocol
for Secrets on 127.0.0.1, so everything above HTTP (client, adapter, ordering) is real.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import fakekube
from fakekube import FakeKube, write_kubeconfig
from fhtest import SourceRepo, handshake, read_tree, run_cli, secret
from fleethandshake.adapters.kube import FIELD_MANAGER
from fleethandshake.errors import EXIT_CHANGES

fake_kube = fakekube.fake_kube
VALUE = "downstream-canary-Pp3"
MANAGED = "app.kubernetes.io/managed-by"


@pytest.fixture
def kube_env(fake_kube: FakeKube, tmp_path: Path, key_env: dict[str, str]) -> dict[str, str]:
    config = write_kubeconfig(tmp_path / "kubeconfig", {"mgmt": fake_kube}, "mgmt")
    return {**key_env, "KUBECONFIG": str(config)}


def build(repo: SourceRepo) -> None:
    repo.write(".fleet-handshake.yaml", "mode: downstream\n")
    repo.handshakes("hs.yaml", handshake("db", "db-creds", [{"clusterName": "c1"}, {"clusterGroup": "edge"}]),
                    handshake("api", "api-token", [{"clusterName": "c2"}]))  # fmt: skip
    repo.encrypted("db.yaml", secret("db-creds", type="Opaque", stringData={"password": VALUE}))
    repo.encrypted("api.yaml", secret("api-token", stringData={"token": VALUE + "-api"}))


def generate(repo: SourceRepo, out: Path, env: dict[str, str], *args: str) -> object:
    return run_cli("generate", repo.root, "--out", out, *args, env=env)


def test_bundles_reference_the_secret_that_is_applied_to_the_workspace(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    build(repo)
    out = tmp_path / "out"

    result = run_cli("generate", repo.root, "--out", out, env=kube_env)

    assert result.code == 0, result.stderr
    tree = read_tree(out)
    assert not any(VALUE.encode() in content for content in tree.values()), "no secret material in git"
    db_dirs = sorted({p.split("/")[1] for p in tree if p.startswith("fleet-default/db-")})
    assert len(db_dirs) == 2
    for d in db_dirs:
        fleet = yaml.safe_load(tree[f"fleet-default/{d}/fleet.yaml"])
        assert fleet["downstreamResources"] == [{"kind": "Secret", "name": "db-creds"}]
        marker = yaml.safe_load(tree[f"fleet-default/{d}/marker.yaml"])
        assert (marker["kind"], marker["metadata"]["name"], marker["metadata"]["namespace"]) == ("ConfigMap", d, "apps")
        assert f"fleet-default/{d}/secret.yaml" not in tree
    stored = fake_kube.secrets[("fleet-default", "db-creds")]
    assert stored["metadata"]["labels"][MANAGED] == "fleet-handshake"
    assert stored["metadata"]["labels"]["fleethandshake.riverpointtechnology.com/handshake"] == "db"
    assert fake_kube.secret_values("fleet-default", "db-creds") == {"password": VALUE}
    applies = fake_kube.requests_of("PATCH")
    assert {r.field_manager for r in applies} == {"fleet-handshake"}
    assert all(r.content_type.startswith("application/apply-patch+yaml") for r in applies)
    assert VALUE not in result.stdout + result.stderr


def test_secrets_are_applied_before_bundles_and_pruned_after(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    build(repo)
    out = tmp_path / "out"
    seen: dict[str, bool] = {}
    fake_kube.before_next("PATCH", lambda _: seen.setdefault("bundles-at-apply", out.exists()))
    assert run_cli("generate", repo.root, "--out", out, env=kube_env).code == 0
    assert seen == {"bundles-at-apply": False}
    fake_kube.put_secret("fleet-default", "hand-made", {"k": "v"})  # not ours: never touched
    repo.handshakes("hs.yaml", handshake("db", "db-creds", [{"clusterName": "c1"}, {"clusterGroup": "edge"}]))

    def at_delete(_: FakeKube) -> None:
        seen["api-bundle-at-delete"] = any(p.name.startswith("api-") for p in (out / "fleet-default").iterdir())

    fake_kube.before_next("DELETE", at_delete)
    result = run_cli("generate", repo.root, "--out", out, env=kube_env)

    assert result.code == 0, result.stderr
    assert seen["api-bundle-at-delete"] is False, "the bundle is gone before its Secret is deleted"
    assert ("fleet-default", "api-token") not in fake_kube.secrets
    assert ("fleet-default", "db-creds") in fake_kube.secrets
    assert ("fleet-default", "hand-made") in fake_kube.secrets


def test_pruning_reads_every_page_of_the_workspace_secrets(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """The API server may page a list however small the `limit`: the Secret to prune is on page two."""
    fake_kube.max_page = 1
    build(repo)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=kube_env).code == 0
    repo.handshakes("hs.yaml", handshake("api", "api-token", [{"clusterName": "c2"}]))  # db goes
    lists = len([r for r in fake_kube.requests_of("GET") if r.path.endswith("/secrets")])
    result = run_cli("generate", repo.root, "--out", out, env=kube_env)

    assert result.code == 0, result.stderr
    pages = [r for r in fake_kube.requests_of("GET") if r.path.endswith("/secrets")][lists:]
    assert any(r.query.get("continue") for r in pages), "the listing went past its first page"
    assert ("fleet-default", "db-creds") not in fake_kube.secrets, "api-token sorts first: db-creds is on page two"
    assert ("fleet-default", "api-token") in fake_kube.secrets


def test_missing_secret_keeps_its_management_secret(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    build(repo)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=kube_env).code == 0
    (repo.root / "api.yaml").unlink()
    result = run_cli("generate", repo.root, "--out", out, env=kube_env)
    assert result.code == 1
    assert ("fleet-default", "api-token") in fake_kube.secrets


def test_unowned_secret_with_the_same_name_is_refused(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    build(repo)
    fake_kube.put_secret("fleet-default", "db-creds", {"password": "someone else's"})
    out = tmp_path / "out"
    result = run_cli("generate", repo.root, "--out", out, env=kube_env)
    assert result.code == 1
    assert "db-creds" in result.stderr and "Traceback" not in result.stderr
    assert fake_kube.secret_values("fleet-default", "db-creds") == {"password": "someone else's"}
    status = {h["name"]: h for h in json.loads((out / ".fleet-handshake/status.json").read_text())["handshakes"]}
    assert status["db"]["status"] == "Error" and "not managed by fleet-handshake" in status["db"]["message"]
    assert status["db"]["bundles"] == [], "the refused handshake writes no bundle"
    assert status["api"]["status"] == "Synced", "the other handshakes are not blocked"
    assert ("fleet-default", "api-token") in fake_kube.secrets


@pytest.mark.parametrize(("status", "reason", "words"), [(403, "Forbidden", "permission"), (409, "Conflict", "409"),
                                                           (500, "Internal Server Error", "500")])  # fmt: skip
def test_kubernetes_errors_leave_the_output_untouched(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube, status: int, reason: str,
    words: str,
) -> None:  # fmt: skip
    build(repo)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=kube_env).code == 0
    before = read_tree(out)
    repo.encrypted("db.yaml", secret("db-creds", stringData={"password": VALUE + "-new"}))
    fake_kube.fail_next(status, reason, method="PATCH", message=f"echo {VALUE}-new")

    result = run_cli("generate", repo.root, "--out", out, env=kube_env)

    assert result.code == 1
    assert words in result.stderr and "Traceback" not in result.stderr
    assert VALUE not in result.stderr
    assert read_tree(out) == before


def test_unreachable_api_server(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]) -> None:
    build(repo)
    config = write_kubeconfig(tmp_path / "kubeconfig", {"gone": fakekube.closed_port_url()}, "gone")
    out = tmp_path / "out"
    result = run_cli("generate", repo.root, "--out", out, env={**key_env, "KUBECONFIG": str(config)})
    assert result.code == 1
    assert "cannot reach the Kubernetes API" in result.stderr
    assert not out.exists()


def test_two_downstream_handshakes_cannot_share_a_secret_name(repo: SourceRepo, tmp_path: Path,
                                                              kube_env: dict[str, str]) -> None:  # fmt: skip
    build(repo)
    # Into another namespace of the clusters (validation refuses one name twice into one namespace), still
    # one name in the workspace's namespace on the management cluster.
    repo.handshakes("dup.yaml", handshake("db-again", "db-creds", [{"clusterName": "c9"}], target_namespace="other"))
    result = run_cli("generate", repo.root, "--out", tmp_path / "out", env=kube_env)
    assert result.code == 1
    assert "already delivers Secret db-creds" in result.stderr


def test_plan_needs_no_cluster_access(repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str]) -> None:
    build(repo)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=kube_env).code == 0
    repo.encrypted("db.yaml", secret("db-creds", stringData={"password": VALUE + "-2"}))
    env = {k: v for k, v in kube_env.items() if k != "KUBECONFIG"}
    result = run_cli("plan", repo.root, "--out", out, "--format", "json", env=env)
    assert result.code == EXIT_CHANGES, result.stderr
    modified = [b for b in json.loads(result.stdout)["bundles"] if b["change"] == "modified"]
    assert len(modified) == 2 and all(b["keysChanged"] == ["password"] for b in modified)


def test_publish_applies_before_pushing_and_prunes_after(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    from fhtest import GIT_ENV, git

    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    work = tmp_path / "work"
    git(tmp_path, "clone", "--quiet", str(remote), str(work))
    (work / "README.md").write_text("bundles\n")
    git(work, "add", "README.md")
    git(work, "commit", "--quiet", "-m", "init")
    git(work, "push", "--quiet", "origin", "HEAD:main")
    build(repo)
    env = {**kube_env, **GIT_ENV}
    pushed_at_apply: list[str] = []
    fake_kube.before_next("PATCH", lambda _: pushed_at_apply.append(git(remote, "rev-parse", "main")))
    before = git(remote, "rev-parse", "main")

    result = run_cli("publish", repo.root, "--out", work / "bundles", env=env)

    assert result.code == 0, result.stderr
    assert pushed_at_apply == [before], "the Secret was applied before the bundles were pushed"
    assert git(remote, "rev-parse", "main") != before
    assert ("fleet-default", "api-token") in fake_kube.secrets

    repo.handshakes("hs.yaml", handshake("db", "db-creds", [{"clusterName": "c1"}, {"clusterGroup": "edge"}]))
    seen: dict[str, bool] = {}

    def at_delete(_: FakeKube) -> None:
        files = git(remote, "ls-tree", "-r", "--name-only", "main").splitlines()
        seen["api-bundle-still-pushed"] = any("/api-" in f for f in files)

    fake_kube.before_next("DELETE", at_delete)
    result = run_cli("publish", repo.root, "--out", work / "bundles", env=env)

    assert result.code == 0, result.stderr
    assert seen == {"api-bundle-still-pushed": False}, "the Secret went only after the push removed its bundle"
    assert ("fleet-default", "api-token") not in fake_kube.secrets
    assert ("fleet-default", "db-creds") in fake_kube.secrets


def test_a_key_removed_from_the_source_is_removed_from_the_management_secret(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """Applied as `data` (never stringData), so server-side apply drops a key the source dropped."""
    build(repo)
    repo.encrypted("db.yaml", secret("db-creds", type="Opaque", stringData={"password": VALUE, "user": "app"}))
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=kube_env).code == 0
    assert fake_kube.secret_values("fleet-default", "db-creds") == {"password": VALUE, "user": "app"}

    repo.encrypted("db.yaml", secret("db-creds", type="Opaque", stringData={"password": VALUE}))
    result = run_cli("generate", repo.root, "--out", out, env=kube_env)

    assert result.code == 0, result.stderr
    assert fake_kube.secret_values("fleet-default", "db-creds") == {"password": VALUE}
    assert "stringData" not in fake_kube.requests_of("PATCH")[-1].json()


def test_a_handshake_leaving_downstream_mode_that_is_missing_keeps_its_management_secret(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """Missing keeps its previous (downstream) bundles, which still name the Secret: it must stay."""
    build(repo)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=kube_env).code == 0
    before = {p: c for p, c in read_tree(out).items() if "/db-" in p}

    repo.write(".fleet-handshake.yaml", "mode: plain\n")  # the source moves to plain mode ...
    (repo.root / "db.yaml").unlink()  # ... and db's Secret is gone from it: db is Missing
    result = run_cli("generate", repo.root, "--out", out, env=kube_env)

    assert result.code == 1
    assert {p: c for p, c in read_tree(out).items() if "/db-" in p} == before
    assert ("fleet-default", "db-creds") in fake_kube.secrets, "the kept bundles' Secret was deleted"


def test_a_changed_secret_name_removes_the_old_management_secret(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """The copy under the old secretName is this source's and no longer wanted: pruned after the
    bundles that named it are replaced."""
    build(repo)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=kube_env).code == 0
    assert ("fleet-default", "db-creds") in fake_kube.secrets
    repo.handshakes("hs.yaml", handshake("db", "db-creds-v2", [{"clusterName": "c1"}, {"clusterGroup": "edge"}]),
                    handshake("api", "api-token", [{"clusterName": "c2"}]))  # fmt: skip
    repo.encrypted("db.yaml", secret("db-creds-v2", type="Opaque", stringData={"password": VALUE}))

    result = run_cli("generate", repo.root, "--out", out, env=kube_env)

    assert result.code == 0, result.stderr
    assert ("fleet-default", "db-creds") not in fake_kube.secrets
    assert fake_kube.secret_values("fleet-default", "db-creds-v2") == {"password": VALUE}
    assert ("fleet-default", "api-token") in fake_kube.secrets
    assert VALUE not in result.stdout + result.stderr


def test_an_immutable_secret_is_rotated_on_the_management_cluster(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """Fleet copies data and type only: `immutable` never reaches a cluster. Written on the
    management Secret, it would only make the API server refuse the next rotation (422), and with
    it the whole run, every other handshake included."""
    build(repo)
    repo.encrypted("db.yaml", secret("db-creds", type="Opaque", stringData={"password": VALUE}, immutable=True))
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=kube_env).code == 0
    assert "immutable" not in fake_kube.secrets[("fleet-default", "db-creds")]

    repo.encrypted("db.yaml", secret("db-creds", type="Opaque", stringData={"password": "rotated"}, immutable=True))
    repo.encrypted("api.yaml", secret("api-token", stringData={"token": "rotated-api"}))
    result = run_cli("generate", repo.root, "--out", out, env=kube_env)

    assert result.code == 0, result.stderr
    assert fake_kube.secret_values("fleet-default", "db-creds") == {"password": "rotated"}
    assert fake_kube.secret_values("fleet-default", "api-token") == {"token": "rotated-api"}
    assert "immutable" in result.stderr, "the warning still says immutable does not reach the clusters"


def test_a_secret_an_earlier_version_wrote_immutable_keeps_working_until_its_values_change(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """Earlier versions wrote `immutable` on the management Secret, and the API server never lets
    it go: a run that leaves its values as they are still succeeds (its labels and annotations
    are updated, it stays immutable); only a rotation stops, saying how to replace it."""
    build(repo)
    repo.encrypted("db.yaml", secret("db-creds", type="Opaque", stringData={"password": VALUE}, immutable=True))
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=kube_env).code == 0
    stored = fake_kube.secrets[("fleet-default", "db-creds")]
    stored["immutable"] = True  # as an earlier version wrote it: by its own apply, so the field is the tool's
    (ours,) = [e for e in stored["metadata"]["managedFields"] if e["manager"] == FIELD_MANAGER]
    ours["fieldsV1"]["f:immutable"] = {}
    repo.encrypted("api.yaml", secret("api-token", stringData={"token": "rotated-api"}))

    result = run_cli("generate", repo.root, "--out", out, env=kube_env)

    assert result.code == 0, result.stderr
    assert fake_kube.secrets[("fleet-default", "db-creds")]["immutable"] is True
    assert fake_kube.secret_values("fleet-default", "db-creds") == {"password": VALUE}
    assert fake_kube.secret_values("fleet-default", "api-token") == {"token": "rotated-api"}

    repo.encrypted("db.yaml", secret("db-creds", type="Opaque", stringData={"password": "rotated"}, immutable=True))
    result = run_cli("generate", repo.root, "--out", out, env=kube_env)

    assert result.code == 1
    assert "kubectl delete secret -n fleet-default db-creds" in result.stderr
    assert "Traceback" not in result.stderr and VALUE not in result.stdout + result.stderr
    assert fake_kube.secret_values("fleet-default", "db-creds") == {"password": VALUE}


def test_a_changed_type_says_how_to_replace_the_management_secret(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """The API server never changes a Secret's type (nor the data of an immutable Secret, as
    earlier versions wrote it): the error says how to replace it."""
    build(repo)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=kube_env).code == 0
    repo.encrypted("db.yaml", secret("db-creds", type="kubernetes.io/basic-auth", stringData={"password": VALUE}))

    result = run_cli("generate", repo.root, "--out", out, env=kube_env)

    assert result.code == 1
    assert "type cannot change" in result.stderr and "kubectl delete secret -n fleet-default db-creds" in result.stderr
    assert "Traceback" not in result.stderr and VALUE not in result.stdout + result.stderr
    assert fake_kube.secrets[("fleet-default", "db-creds")]["type"] == "Opaque"


def test_secrets_a_failed_prune_left_are_pruned_by_the_next_run_after_a_mode_switch(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """The source leaves downstream mode: the run writes plain bundles, then its delete of a
    management Secret fails. Its OUT has no downstream bundle any more, yet the next run must
    still delete the Secrets it did not get to (clear-text copies no bundle names)."""
    build(repo)
    repo.write(".fleet-handshake.yaml", "source: shop\nmode: downstream\n")
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=kube_env).code == 0
    assert {("fleet-default", "db-creds"), ("fleet-default", "api-token")} <= set(fake_kube.secrets)
    repo.write(".fleet-handshake.yaml", "source: shop\nmode: plain\n")
    fake_kube.fail_next(500, "InternalError", method="DELETE")

    failed = run_cli("generate", repo.root, "--out", out, env=kube_env)

    assert failed.code != 0 and "Traceback" not in failed.stderr and VALUE not in failed.stdout + failed.stderr
    assert {("fleet-default", "db-creds"), ("fleet-default", "api-token")} & set(fake_kube.secrets)

    again = run_cli("generate", repo.root, "--out", out, env=kube_env)

    assert again.code == 0, again.stderr
    assert not {("fleet-default", "db-creds"), ("fleet-default", "api-token")} & set(fake_kube.secrets)
    assert VALUE not in again.stdout + again.stderr


def test_a_workspace_looked_at_again_for_earlier_deletes_that_may_no_longer_be_listed_is_skipped(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """After the source left downstream mode, its Role in the workspace may go too: the runs
    after the one that deleted the Secrets (whose status.json they keep) still succeed."""
    build(repo)
    repo.write(".fleet-handshake.yaml", "source: shop\nmode: downstream\n")
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=kube_env).code == 0
    repo.write(".fleet-handshake.yaml", "source: shop\nmode: plain\n")
    assert run_cli("generate", repo.root, "--out", out, env=kube_env).code == 0
    assert not {("fleet-default", "db-creds"), ("fleet-default", "api-token")} & set(fake_kube.secrets)
    fake_kube.fail_next(403, "Forbidden", method="GET", message="secrets is forbidden: cannot list")

    again = run_cli("generate", repo.root, "--out", out, env=kube_env)

    assert again.code == 0, again.stderr
    assert [r.path for r in fake_kube.requests_of("GET")][-1].endswith("/namespaces/fleet-default/secrets")


def test_publish_no_push_leaves_the_secrets_the_pushed_bundles_name(
    repo: SourceRepo, tmp_path: Path, remote: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """--no-push commits only: Fleet still reads the pushed branch, whose api bundle names
    api-token. The Secret goes once a publish finds the commit that dropped api pushed."""
    from fhtest import GIT_ENV, clone, git

    build(repo)
    env = {**kube_env, **GIT_ENV}
    work = clone(remote, tmp_path / "work")
    assert run_cli("publish", repo.root, "--out", work / "bundles", env=env).code == 0
    repo.handshakes("hs.yaml", handshake("db", "db-creds", [{"clusterName": "c1"}, {"clusterGroup": "edge"}]))

    local = run_cli("publish", repo.root, "--out", work / "bundles", "--no-push", env=env)

    assert local.code == 0, local.stderr
    assert ("fleet-default", "api-token") in fake_kube.secrets, "deleted while the pushed bundles name it"
    assert "left Secret fleet-default/api-token" in local.stderr and "not pushed" in local.stderr
    assert "deleted  Secret" not in local.stderr
    assert fake_kube.requests_of("DELETE") == []

    git(work, "push", "--quiet", "origin", "HEAD:main")
    pushed = run_cli("publish", repo.root, "--out", work / "bundles", env=env)

    assert pushed.code == 0, pushed.stderr
    assert ("fleet-default", "api-token") not in fake_kube.secrets
    assert ("fleet-default", "db-creds") in fake_kube.secrets


def test_publish_no_push_to_a_repository_without_remotes_deletes_what_it_no_longer_names(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """Without any remote the local branch is all there is: nothing else can name the Secret."""
    from fhtest import GIT_ENV, git

    build(repo)
    env = {**kube_env, **GIT_ENV}
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git(work, "commit", "-q", "--allow-empty", "-m", "start")
    assert run_cli("publish", repo.root, "--out", work / "bundles", "--no-push", "--allow-unordered", env=env).code == 0
    repo.handshakes("hs.yaml", handshake("db", "db-creds", [{"clusterName": "c1"}, {"clusterGroup": "edge"}]))

    local = run_cli("publish", repo.root, "--out", work / "bundles", "--no-push", "--allow-unordered", env=env)

    assert local.code == 0, local.stderr
    assert ("fleet-default", "api-token") not in fake_kube.secrets
