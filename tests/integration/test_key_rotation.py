"""Key rotation in sops mode, as README's "Rotating keys" tells it: the real sops binary, age keys
made here, the CLI as a user runs it.

- Adding or removing a cluster's age recipient seals again exactly the bundles of the targets that
  recipient's scope covers; plan names the recipients added or removed; nothing else is rewritten.
- `sops updatekeys` moving the source to a new age key: generate works with the new key alone,
  every cluster still receives the same Secret, and plan says it cannot compare values rather
  than calling every key changed.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from fhtest import SOPS, AgeKey, SourceRepo, handshake, make_age_key, read_tree, run_cli, secret
from fleethandshake.core.planwords import VALUES_UNCOMPARED
from fleethandshake.errors import EXIT_CHANGES

FILE = "sopssecret.yaml"
SEALED = f"/{FILE}"
NO_KEY = 128  # sops decrypt: no key opens the file


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, AgeKey]:
    folder = tmp_path_factory.mktemp("cluster-keys")
    return {name: make_age_key(folder, name) for name in ("c1", "c2", "c2-new", "source-new")}


def config(recipients: dict[str, list[AgeKey]]) -> str:
    scopes = "".join(
        f"    - clusterName: {cluster}\n      age: [{', '.join(k.recipient for k in ks)}]\n"
        for cluster, ks in recipients.items()
    )
    return f"apiVersion: fleet-handshake/v1alpha1\nkind: Config\nmode: sops\nsops:\n  recipients:\n{scopes}"


def source(repo: SourceRepo, keys: dict[str, AgeKey]) -> None:
    repo.write(".fleet-handshake.yaml", config({"c1": [keys["c1"]], "c2": [keys["c2"]]}))
    repo.handshakes(
        "handshakes.yaml",
        handshake("one", "db", [{"clusterName": "c1"}]),
        handshake("two", "db", [{"clusterName": "c2"}], target_namespace="other"),
        handshake("both", "api", [{"name": "first", "clusterName": "c1"}, {"name": "second", "clusterName": "c2"}]),
    )
    repo.encrypted("secrets/db.yaml", secret("db", stringData={"password": "p-1", "user": "u"}))
    repo.encrypted("secrets/api.yaml", secret("api", data={"token": "dC0y"}))


def sealed(out: Path) -> dict[str, bytes]:
    return {p: c for p, c in read_tree(out).items() if p.endswith(SEALED)}


def decrypt(path: Path, key: AgeKey) -> subprocess.CompletedProcess[bytes]:
    env = {"SOPS_AGE_KEY_FILE": str(key.key_file), "PATH": os.environ.get("PATH", "")}
    return subprocess.run([SOPS, "--disable-version-check", "decrypt", str(path)], env=env, capture_output=True,
                          check=False)  # fmt: skip


def delivered(path: Path, key: AgeKey) -> object:
    opened = decrypt(path, key)
    assert opened.returncode == 0, path
    return yaml.safe_load(opened.stdout)["spec"]


def plan_json(repo: SourceRepo, out: Path, key: AgeKey) -> tuple[int, dict[str, dict[str, object]]]:
    result = run_cli("plan", repo.root, "--out", out, "--format", "json", env={"SOPS_AGE_KEY_FILE": str(key.key_file)})
    assert result.code in (0, EXIT_CHANGES), result.stderr
    return result.code, {b["path"]: b for b in json.loads(result.stdout)["bundles"]}


def generate(repo: SourceRepo, out: Path, key: AgeKey) -> None:
    result = run_cli("generate", repo.root, "--out", out, env={"SOPS_AGE_KEY_FILE": str(key.key_file)})
    assert result.code == 0, result.stderr


def generated(repo: SourceRepo, out: Path, source_key: AgeKey, keys: dict[str, AgeKey]) -> tuple[set[str], set[str]]:
    """The source generated into `out`; the bundle folders of clusters c1 and c2."""
    source(repo, keys)
    generate(repo, out, source_key)
    return bundles_of(out, "c1"), bundles_of(out, "c2")


def bundles_of(out: Path, cluster: str) -> set[str]:
    """The bundle folders whose target is clusterName `cluster`."""
    return {
        p.parent.relative_to(out).as_posix()
        for p in out.glob(f"*/*{SEALED}")
        if yaml.safe_load((p.parent / "fleet.yaml").read_text())["overrideTargets"][0]["clusterName"] == cluster
    }


def test_adding_and_removing_a_cluster_recipient_reseals_exactly_its_bundles(
    repo: SourceRepo, tmp_path: Path, age_key: AgeKey, keys: dict[str, AgeKey]
) -> None:
    out = tmp_path / "out"
    c1, c2 = generated(repo, out, age_key, keys)
    before = sealed(out)
    assert len(c1) == len(c2) == 2 and len(before) == 4

    # Add the key of a new cluster (or a second key of c2) to c2's scope.
    repo.write(".fleet-handshake.yaml", config({"c1": [keys["c1"]], "c2": [keys["c2"], keys["c2-new"]]}))
    code, plan = plan_json(repo, out, age_key)

    assert code == EXIT_CHANGES
    assert {p for p, b in plan.items() if b["change"] != "unchanged"} == c2
    for path in c2:
        assert plan[path]["change"] == "modified"
        assert plan[path]["changes"] == [f"sealed again for other age recipients: added {keys['c2-new'].recipient}"]
        assert plan[path]["keysChanged"] == plan[path]["keysAdded"] == plan[path]["keysRemoved"] == []
    assert sealed(out) == before, "plan writes nothing"

    generate(repo, out, age_key)
    added = sealed(out)
    assert {p for p in before if added[p] != before[p]} == {f"{b}{SEALED}" for b in c2}
    for path in c2:
        assert delivered(out / path / FILE, keys["c2-new"]) == delivered(out / path / FILE, keys["c2"])
        assert decrypt(out / path / FILE, keys["c1"]).returncode == NO_KEY
    assert plan_json(repo, out, age_key)[0] == 0

    # Remove c2's old key: only the new one opens c2's bundles now.
    repo.write(".fleet-handshake.yaml", config({"c1": [keys["c1"]], "c2": [keys["c2-new"]]}))
    code, plan = plan_json(repo, out, age_key)

    assert code == EXIT_CHANGES
    assert {p for p, b in plan.items() if b["change"] != "unchanged"} == c2
    for path in c2:
        assert plan[path]["changes"] == [f"sealed again for other age recipients: removed {keys['c2'].recipient}"]

    generate(repo, out, age_key)
    removed = sealed(out)
    assert {p for p in before if removed[p] != added[p]} == {f"{b}{SEALED}" for b in c2}
    for path in c2:
        assert decrypt(out / path / FILE, keys["c2"]).returncode == NO_KEY
        assert decrypt(out / path / FILE, keys["c2-new"]).returncode == 0
    assert all(removed[f"{b}{SEALED}"] == before[f"{b}{SEALED}"] for b in c1), "c1's bundles never rewritten"


def test_rotating_the_source_key_with_sops_updatekeys(
    repo: SourceRepo, tmp_path: Path, age_key: AgeKey, keys: dict[str, AgeKey]
) -> None:
    out = tmp_path / "out"
    c1, c2 = generated(repo, out, age_key, keys)
    cluster_key = {**dict.fromkeys(c1, keys["c1"]), **dict.fromkeys(c2, keys["c2"])}
    before = {b: delivered(out / b / FILE, k) for b, k in cluster_key.items()}
    new = keys["source-new"]

    # README: put the new recipient in .sops.yaml, then `sops updatekeys` with the old key at hand.
    repo.write(".sops.yaml", f"creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: {new.recipient}\n")
    for name in ("secrets/db.yaml", "secrets/api.yaml"):
        subprocess.run(
            [SOPS, "--disable-version-check", "updatekeys", "--yes", name], cwd=repo.root, capture_output=True,
            env={"SOPS_AGE_KEY_FILE": str(age_key.key_file), "PATH": os.environ.get("PATH", "")}, check=True,
        )  # fmt: skip
        assert decrypt(repo.root / name, age_key).returncode == NO_KEY, "the old key no longer opens the source"

    code, plan = plan_json(repo, out, new)

    # The output's value digests were keyed with the old identities: plan says it cannot compare
    # values, and calls no key changed.
    assert code == EXIT_CHANGES
    assert set(plan) == c1 | c2
    for bundle in plan.values():
        assert bundle["change"] == "modified"
        assert bundle["changes"] == [VALUES_UNCOMPARED]
        assert bundle["keysChanged"] == bundle["keysAdded"] == bundle["keysRemoved"] == []

    generate(repo, out, new)  # the new key alone

    assert {b: delivered(out / b / FILE, k) for b, k in cluster_key.items()} == before, "same Secrets"
    assert plan_json(repo, out, new)[0] == 0
    settled = read_tree(out)
    generate(repo, out, new)
    assert read_tree(out) == settled
