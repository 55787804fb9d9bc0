"""Two handshakes delivering one Secret name into one namespace: refused by validate, generate and
publish unless provably disjoint; and plan --inventory names what validation cannot see, in every
delivery mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import fakekube
from fakekube import FakeKube, write_kubeconfig
from fhtest import SourceRepo, clone, git, handshake, remote_files, run_cli, secret

fake_kube = fakekube.fake_kube


def orders_and_payments(repo: SourceRepo, first: str, second: str) -> None:
    """`orders/db` and `payments/db`, both delivered as Secret `db` into namespace `app`."""
    repo.handshakes("orders.yaml", handshake("orders-db", "db", [{"clusterName": first}],
                                             secret_namespace="orders", target_namespace="app"))  # fmt: skip
    repo.handshakes("payments.yaml", handshake("payments-db", "db", [{"clusterName": second}],
                                               secret_namespace="payments", target_namespace="app"))  # fmt: skip
    repo.encrypted("orders-db.yaml", secret("db", "orders", stringData={"url": "orders"}))
    repo.encrypted("payments-db.yaml", secret("db", "payments", stringData={"url": "payments"}))


def test_validate_and_generate_refuse_two_deliveries_of_one_secret_and_write_nothing(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    orders_and_payments(repo, "c1", "c1")
    out = tmp_path / "out"

    checked = run_cli("validate", repo.root, "--format", "json", env=key_env)
    generated = run_cli("generate", repo.root, "--out", out, env=key_env)

    assert checked.code == 1
    problems = json.loads(checked.stdout)["problems"]
    assert sorted(p["file"] for p in problems) == ["orders.yaml", "payments.yaml"]
    for p in problems:
        assert "fleet-default/orders-db and fleet-default/payments-db both deliver Secret app/db" in p["message"]
    assert generated.code == 1 and "both deliver Secret app/db" in generated.stderr
    assert not out.exists()


def test_publish_refuses_them_too(repo: SourceRepo, tmp_path: Path, env_keys: dict[str, str], remote: Path) -> None:
    orders_and_payments(repo, "c1", "c1")
    work = clone(remote, tmp_path / "work")
    before = git(remote, "rev-parse", "main")

    result = run_cli("publish", repo.root, "--out", work / "bundles", env=env_keys)

    assert result.code == 1 and "both deliver Secret app/db" in result.stderr
    assert git(remote, "rev-parse", "main") == before
    assert remote_files(remote) == ["README.md"]


def test_provably_disjoint_targets_are_accepted(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]) -> None:
    orders_and_payments(repo, "c1", "c2")
    assert run_cli("validate", repo.root, env=key_env).code == 0
    assert run_cli("generate", repo.root, "--out", tmp_path / "out", env=key_env).code == 0


INVENTORY = {"apiVersion": "v1", "kind": "List", "items": [
    {"apiVersion": "fleet.cattle.io/v1alpha1", "kind": "Cluster",
     "metadata": {"name": "c-m-aaa", "namespace": "fleet-default",
                  "labels": {"management.cattle.io/cluster-display-name": "prod-eu-1"}}},
]}  # fmt: skip


@pytest.mark.parametrize("mode", ["plain", "sops", "downstream"])
def test_plan_finds_the_conflict_validation_cannot_see_in_every_mode(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], fake_kube: FakeKube, mode: str
) -> None:
    """c-m-aaa by its name and by its display name: one cluster, two deliveries of apps/cache.
    A third handshake delivers another Secret into the same namespace there: no conflict. In
    downstream mode the bundles hold no Secret: its name is read from downstreamResources."""
    repo.write(".fleet-handshake.yaml", yaml.safe_dump({"mode": mode, "sops": {"recipients": [
        {"clusterName": name, "age": [repo.key.recipient]} for name in ("c-m-aaa", "prod-eu-1")]}}))  # fmt: skip
    cache_b = handshake("cache-b", "cache", [{"clusterName": "prod-eu-1"}])
    if mode == "downstream":  # two downstream handshakes cannot share a name in a workspace at all
        cache_b["metadata"]["annotations"] = {"fleethandshake.riverpointtechnology.com/mode": "plain"}
    repo.handshakes("hs.yaml", handshake("cache-a", "cache", [{"clusterName": "c-m-aaa"}]), cache_b,
                    handshake("other", "other", [{"clusterName": "c-m-aaa"}]))  # fmt: skip
    repo.encrypted("cache.yaml", secret("cache", stringData={"k": "v"}))
    repo.encrypted("other.yaml", secret("other", stringData={"k": "v"}))
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(INVENTORY))
    env = {**key_env, "KUBECONFIG": str(write_kubeconfig(tmp_path / "kubeconfig", {"mgmt": fake_kube}, "mgmt"))}
    out = tmp_path / "out"

    def conflicts() -> list[tuple[str, str | None, tuple[str, ...], str]]:
        result = run_cli("plan", repo.root, "--out", out, "--inventory", inventory, "--format", "json", env=env)
        assert result.code == 1, result.stderr
        found = json.loads(result.stdout)["conflicts"]
        return [(c["kind"], c.get("cluster"), tuple(c["handshakes"]), c["message"]) for c in found]

    message = "handshakes cache-a, cache-b all deliver Secret apps/cache to cluster prod-eu-1 (c-m-aaa)"
    expected = [("duplicate-delivery", "c-m-aaa", ("cache-a", "cache-b"), message)]
    assert conflicts() == expected  # bundles this run would add
    assert run_cli("generate", repo.root, "--out", out, env=env).code == 0
    assert conflicts() == expected  # bundles already in OUT, read back
