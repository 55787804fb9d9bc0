"""examples/rbac/downstream-role.yaml grants exactly what downstream mode uses on the management
cluster: a full cycle (create, update, prune) passes with its verbs and uses every one of them.

The loopback API server authorises each request as the API server does (tests/fakekube.py
`_authorize`), so a verb the Role lacks is a 403 there too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import fakekube
from fakekube import FakeKube, write_kubeconfig
from fhtest import REPO, SourceRepo, handshake, run_cli, secret

fake_kube = fakekube.fake_kube
EXAMPLE = REPO / "examples" / "rbac" / "downstream-role.yaml"


def documents() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(EXAMPLE.read_text(encoding="utf-8")) if d is not None]
    by_kind = {d["kind"]: d for d in docs}
    assert sorted(by_kind) == ["Role", "RoleBinding"] and len(docs) == 2
    return by_kind


def test_the_example_is_a_role_and_its_binding_in_the_workspace() -> None:
    role, binding = documents()["Role"], documents()["RoleBinding"]
    assert role["apiVersion"] == binding["apiVersion"] == "rbac.authorization.k8s.io/v1"
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "fleet-default"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}  # fmt: skip
    assert [s["kind"] for s in binding["subjects"]] == ["ServiceAccount"]
    (rule,) = role["rules"]
    assert (rule["apiGroups"], rule["resources"]) == ([""], ["secrets"])
    assert "resourceNames" not in rule


def test_downstream_mode_needs_exactly_the_verbs_the_example_grants(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], fake_kube: FakeKube
) -> None:
    (rule,) = documents()["Role"]["rules"]
    fake_kube.allowed_verbs = set(rule["verbs"])
    env = {**key_env, "KUBECONFIG": str(write_kubeconfig(tmp_path / "kubeconfig", {"mgmt": fake_kube}))}
    out = tmp_path / "out"
    repo.write(".fleet-handshake.yaml", "mode: downstream\n")
    both = [
        handshake("db", "db-creds", [{"clusterName": "c1"}]),
        handshake("api", "api-token", [{"clusterName": "c2"}]),
    ]
    repo.handshakes("hs.yaml", *both)
    repo.encrypted("db.yaml", secret("db-creds", stringData={"password": "rbac-canary-1"}))
    repo.encrypted("api.yaml", secret("api-token", stringData={"token": "rbac-canary-2"}))

    steps = [run_cli("generate", repo.root, "--out", out, env=env)]  # creates both Secrets
    repo.encrypted("db.yaml", secret("db-creds", stringData={"password": "rbac-canary-3"}))
    steps.append(run_cli("generate", repo.root, "--out", out, env=env))  # updates one
    repo.handshakes("hs.yaml", both[0])
    steps.append(run_cli("generate", repo.root, "--out", out, env=env))  # prunes the other

    assert [s.code for s in steps] == [0, 0, 0], [s.stderr for s in steps]
    assert fake_kube.secret_values("fleet-default", "db-creds") == {"password": "rbac-canary-3"}
    assert ("fleet-default", "api-token") not in fake_kube.secrets
    assert fake_kube.verbs_used == set(rule["verbs"]), "every verb granted is used, and no other"
