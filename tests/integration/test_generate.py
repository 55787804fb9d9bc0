"""`generate` end to end: real sops binary, real age keys, real files."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from fhtest import DATA, AgeKey, SourceRepo, delivered, handshake, load_yaml, read_tree, run_cli, secret

VALUE_A = "canary-value-alpha-7Qx9"
VALUE_B = "canary-value-bravo-3Kz2"


def status_of(out: Path) -> dict[str, dict[str, Any]]:
    doc = json.loads((out / ".fleet-handshake" / "status.json").read_text())
    return {f"{h['namespace']}/{h['name']}": h for h in doc["handshakes"]}


def bundle_dirs(out: Path, workspace: str = "fleet-default") -> list[str]:
    return sorted(p.name for p in (out / workspace).iterdir()) if (out / workspace).exists() else []


def two_handshakes(repo: SourceRepo) -> None:
    repo.handshakes(
        "handshakes.yaml",
        handshake("alpha", "alpha-secret", [{"clusterName": "c1"}]),
        handshake("bravo", "bravo-secret", [{"clusterSelector": {"matchLabels": {"env": "prod"}}}]),
    )
    repo.encrypted("secrets/alpha.yaml", secret("alpha-secret", stringData={"password": VALUE_A}))
    repo.encrypted("secrets/bravo.yaml", secret("bravo-secret", stringData={"token": VALUE_B}))


def generate(repo: SourceRepo, out: Path, env: dict[str, str]) -> Any:
    return run_cli("generate", repo.root, "--out", out, env=env)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


def test_seed_samples_generate_valid_bundles(tmp_path: Path, age_key: AgeKey, key_env: dict[str, str]) -> None:
    seed = DATA / "seed"
    repo = SourceRepo(tmp_path / "src", age_key)
    repo.write("handshakes.yaml", (seed / "sample-fleethandshakes.yaml").read_text())  # unchanged
    plain = list(yaml.safe_load_all((seed / "sample-secrets.yaml").read_text()))
    for doc in plain:
        repo.encrypted(f"secrets/{doc['metadata']['name']}.yaml", doc)
    out = tmp_path / "out"

    result = generate(repo, out, key_env)

    assert result.code == 0, result.stderr
    status = status_of(out)
    assert {k: v["status"] for k, v in status.items()} == {
        "fleet-default/fleethandshake-sample": "Synced",
        "fleet-default/fleethandshake-test-only": "Synced",
    }
    sample_dir = out / status["fleet-default/fleethandshake-sample"]["bundles"][0]
    fleet = load_yaml(sample_dir / "fleet.yaml")
    assert fleet["overrideTargets"] == [{"clusterSelector": {"matchLabels": {"managed": "rancher"}}}]
    assert fleet["namespace"] == "test"
    assert "targetCustomizations" not in fleet
    test_only = out / status["fleet-default/fleethandshake-test-only"]["bundles"][0]
    assert load_yaml(test_only / "fleet.yaml")["overrideTargets"] == [{"clusterName": "test"}]
    manifest = load_yaml(sample_dir / "secret.yaml")
    assert manifest["metadata"] == {"name": "fleethandshake-sample", "namespace": "test"}
    assert delivered(sample_dir / "secret.yaml") == {"fleet-handshake": "apply"}
    assert "sops" not in manifest
    assert delivered(test_only / "secret.yaml") == {"fleet-handshake": "test"}


def test_every_fleet_yaml_validates_against_fleets_schema(tmp_path: Path) -> None:
    schema_path = DATA / "fleet" / "fleet.yaml.json"
    out = tmp_path / "out"
    demo = Path(__file__).resolve().parents[2] / "examples" / "demo"
    result = run_cli("generate", demo, "--out", out, env={"SOPS_AGE_KEY_FILE": str(demo / "demo-age-key.txt")})
    assert result.code == 0, result.stderr
    validator = jsonschema.Draft202012Validator(json.loads(schema_path.read_text()))
    fleet_files = sorted(out.rglob("fleet.yaml"))
    assert len(fleet_files) >= 7
    for path in fleet_files:
        doc = load_yaml(path)
        errors = [e.message for e in validator.iter_errors(doc)]
        assert errors == [], f"{path}: {errors}"
        assert doc["overrideTargets"], "overrideTargets must never be empty"
        assert len(doc["name"]) <= 53


def test_secret_keeps_type_data_labels_annotations(repo: SourceRepo, out: Path, key_env: dict[str, str]) -> None:
    docker = base64.b64encode(b'{"auths":{}}').decode()
    repo.handshakes("hs.yaml", handshake("pull", "registry", [{"clusterName": "c1"}], target_namespace="apps"))
    repo.encrypted(
        "secrets.yaml",
        secret(
            "registry",
            metadata={"name": "registry", "namespace": "default", "labels": {"team": "a"}, "annotations": {"x/y": "z"}},
            type="kubernetes.io/dockerconfigjson",
            data={".dockerconfigjson": docker},
        ),
    )
    assert generate(repo, out, key_env).code == 0
    (bundle,) = bundle_dirs(out)
    manifest = load_yaml(out / "fleet-default" / bundle / "secret.yaml")
    assert manifest == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "registry", "namespace": "apps", "labels": {"team": "a"}, "annotations": {"x/y": "z"}},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": docker},
    }
    mode = stat.S_IMODE((out / "fleet-default" / bundle / "secret.yaml").stat().st_mode)
    assert mode == 0o600, "plain Secret files are readable by their owner only"


def test_second_run_changes_nothing(repo: SourceRepo, out: Path, key_env: dict[str, str]) -> None:
    two_handshakes(repo)
    assert generate(repo, out, key_env).code == 0
    before = read_tree(out)
    inodes = {p: p.stat().st_ino for p in out.rglob("*") if p.is_file()}

    again = generate(repo, out, key_env)

    assert again.code == 0
    assert "no changes" in again.stderr
    assert read_tree(out) == before
    assert {p: p.stat().st_ino for p in out.rglob("*") if p.is_file()} == inodes


def test_missing_secret_keeps_previous_bundle_and_others_sync(
    repo: SourceRepo, out: Path, key_env: dict[str, str]
) -> None:
    two_handshakes(repo)
    assert generate(repo, out, key_env).code == 0
    before = read_tree(out)
    bravo_dir = status_of(out)["fleet-default/bravo"]["bundles"][0]
    (repo.root / "secrets" / "bravo.yaml").unlink()
    # alpha changes too, so we see the run did write
    repo.encrypted("secrets/alpha.yaml", secret("alpha-secret", stringData={"password": VALUE_A + "-new"}))

    result = generate(repo, out, key_env)

    assert result.code == 1
    status = status_of(out)
    assert status["fleet-default/alpha"]["status"] == "Synced"
    assert status["fleet-default/bravo"]["status"] == "Missing"
    assert "default/bravo-secret" in status["fleet-default/bravo"]["message"]
    after = read_tree(out)
    bravo_files = {p: c for p, c in before.items() if p.startswith(bravo_dir + "/")}
    assert bravo_files and all(after[p] == c for p, c in bravo_files.items())
    alpha_dir = status["fleet-default/alpha"]["bundles"][0]
    assert delivered(after[f"{alpha_dir}/secret.yaml"].decode()) == {"password": VALUE_A + "-new"}


@pytest.mark.parametrize("damage", ["wrong-key", "mac", "value", "garbage"])
def test_decrypt_failure_is_error_for_that_handshake_only(
    repo: SourceRepo, out: Path, key_env: dict[str, str], other_key: AgeKey, damage: str
) -> None:
    two_handshakes(repo)
    assert generate(repo, out, key_env).code == 0
    before = read_tree(out)
    path = repo.root / "secrets" / "bravo.yaml"
    if damage == "wrong-key":
        repo.encrypted(
            "secrets/bravo.yaml", secret("bravo-secret", stringData={"token": "x"}), recipients=(other_key.recipient,)
        )
    else:
        doc = yaml.safe_load(path.read_text())
        if damage == "mac":
            doc["sops"]["mac"] = doc["sops"]["mac"].replace("data:", "data:AAAA", 1)
        elif damage == "value":
            enc = doc["stringData"]["token"]
            doc["stringData"]["token"] = enc.replace("data:", "data:QUFB", 1)
        else:
            doc["sops"]["age"][0]["enc"] = "not an age file"
        path.write_text(yaml.safe_dump(doc))

    result = generate(repo, out, key_env)

    assert result.code == 1
    status = status_of(out)
    assert status["fleet-default/alpha"]["status"] == "Synced"
    bravo = status["fleet-default/bravo"]
    assert bravo["status"] == "Error"
    assert "secrets/bravo.yaml" in bravo["message"]
    expected = {"wrong-key": "keys can open", "mac": "MAC", "value": "", "garbage": "keys can open"}[damage]
    assert expected in bravo["message"]
    after = read_tree(out)
    assert {p: c for p, c in after.items() if p.startswith(bravo["bundles"][0])} == {
        p: c for p, c in before.items() if p.startswith(bravo["bundles"][0])
    }
    assert VALUE_B not in result.stderr + result.stdout


def test_deleted_handshake_and_target_are_pruned(repo: SourceRepo, out: Path, key_env: dict[str, str]) -> None:
    targets = [{"name": "one", "clusterName": "c1"}, {"name": "two", "clusterName": "c2"}]
    repo.handshakes("a.yaml", handshake("alpha", "alpha-secret", targets))
    repo.handshakes("b.yaml", handshake("bravo", "alpha-secret", [{"clusterName": "c3"}]))
    repo.encrypted("s.yaml", secret("alpha-secret", stringData={"k": VALUE_A}))
    assert generate(repo, out, key_env).code == 0
    status = status_of(out)
    one, _two = status["fleet-default/alpha"]["bundles"]
    (repo.root / "b.yaml").unlink()
    repo.handshakes("a.yaml", handshake("alpha", "alpha-secret", targets[:1]))

    result = generate(repo, out, key_env)

    assert result.code == 0, result.stderr
    assert bundle_dirs(out) == [one.split("/")[1]]
    assert set(status_of(out)) == {"fleet-default/alpha"}
    assert "removed" in result.stderr


def test_reordering_targets_keeps_bundle_names(repo: SourceRepo, out: Path, key_env: dict[str, str]) -> None:
    targets: list[dict[str, Any]] = [
        {"clusterName": "c1"},
        {"name": "prod", "clusterSelector": {"matchLabels": {"env": "prod"}}},
        {"clusterGroup": "edge"},
    ]
    repo.handshakes("hs.yaml", handshake("multi", "s", targets))
    repo.encrypted("s.yaml", secret("s", stringData={"k": "v"}))
    assert generate(repo, out, key_env).code == 0
    names = bundle_dirs(out)
    assert len(names) == 3
    repo.handshakes("hs.yaml", handshake("multi", "s", list(reversed(targets))))

    assert generate(repo, out, key_env).code == 0

    assert bundle_dirs(out) == names


def test_overlap_rule_earlier_targets_do_not_deploy(repo: SourceRepo, out: Path, key_env: dict[str, str]) -> None:
    targets: list[dict[str, Any]] = [
        {"name": "first", "clusterName": "c1"},
        {"name": "second", "clusterSelector": {"matchLabels": {"env": "prod"}}},
        {"name": "third", "clusterGroup": "edge"},
    ]
    repo.handshakes("hs.yaml", handshake("multi", "s", targets))
    repo.encrypted("s.yaml", secret("s", stringData={"k": "v"}))
    assert generate(repo, out, key_env).code == 0
    by_target = {}
    for name in bundle_dirs(out):
        fleet = load_yaml(out / "fleet-default" / name / "fleet.yaml")
        (target,) = fleet["overrideTargets"]
        by_target[target["name"]] = fleet
    assert set(by_target) == {"first", "second", "third"}
    assert "targetCustomizations" not in by_target["first"]
    assert by_target["second"]["targetCustomizations"] == [{**targets[0], "doNotDeploy": True}]
    assert by_target["third"]["targetCustomizations"] == [{**t, "doNotDeploy": True} for t in targets[:2]]
    for fleet in by_target.values():
        assert fleet["labels"]["fleethandshake.riverpointtechnology.com/handshake"] == "multi"


def test_do_not_deploy_target_has_no_bundle_and_excludes_its_clusters_from_later_targets(
    repo: SourceRepo, out: Path, key_env: dict[str, str]
) -> None:
    targets: list[dict[str, Any]] = [
        {"name": "eu", "clusterSelector": {"matchLabels": {"region": "eu"}}},
        {"name": "not-dev", "clusterSelector": {"matchLabels": {"env": "dev"}}, "doNotDeploy": True},
        {"name": "rest", "clusterSelector": {}},
    ]
    repo.handshakes("hs.yaml", handshake("multi", "s", targets))
    repo.encrypted("s.yaml", secret("s", stringData={"k": "v"}))

    result = generate(repo, out, key_env)

    assert result.code == 0, result.stderr
    fleets = [load_yaml(out / "fleet-default" / name / "fleet.yaml") for name in bundle_dirs(out)]
    assert sorted(f["overrideTargets"][0]["name"] for f in fleets) == ["eu", "rest"]
    rest = next(f for f in fleets if f["overrideTargets"] == [targets[2]])
    assert rest["targetCustomizations"] == [{**targets[0], "doNotDeploy": True}, targets[1]]
    status = json.loads((out / ".fleet-handshake" / "status.json").read_text())
    assert [h["message"] for h in status["handshakes"]] == ["delivered through 2 bundles"]
    # The next run reads the handshake from the parse cache in the state: doNotDeploy survives it.
    before = read_tree(out)
    assert generate(repo, out, key_env).code == 0
    assert read_tree(out) == before


def test_invalid_source_writes_nothing(repo: SourceRepo, out: Path, key_env: dict[str, str]) -> None:
    two_handshakes(repo)
    assert generate(repo, out, key_env).code == 0
    before = read_tree(out)
    # A broken file might have held a handshake: pruning its bundles would delete secrets.
    repo.write("broken.yaml", "apiVersion: v1\nkind: [unclosed\n")
    repo.handshakes("a2.yaml", handshake("Bad_Name", "alpha-secret", [{"clusterName": "c1"}]))
    (repo.root / "handshakes.yaml").unlink()

    result = generate(repo, out, key_env)

    assert result.code == 1
    assert "broken.yaml:3: not valid YAML" in result.stderr
    assert "started on line 2" in result.stderr
    assert "a2.yaml" in result.stderr and "metadata.name" in result.stderr
    assert "nothing was written" in result.stderr
    assert read_tree(out) == before


def test_no_value_in_output_streams_or_status(repo: SourceRepo, out: Path, key_env: dict[str, str]) -> None:
    two_handshakes(repo)
    repo.handshakes("c.yaml", handshake("charlie", "nowhere", [{"clusterName": "c9"}]))
    first = generate(repo, out, key_env)
    second = generate(repo, out, key_env)
    streams = first.stdout + first.stderr + second.stdout + second.stderr
    status = (out / ".fleet-handshake" / "status.json").read_text()
    for value in (VALUE_A, VALUE_B):
        for form in (value, base64.b64encode(value.encode()).decode(), value.encode().hex()):
            assert form not in streams
            assert form not in status
    assert first.code == 1  # charlie is Missing


def test_only_referenced_secrets_are_decrypted(
    repo: SourceRepo, out: Path, key_env: dict[str, str], other_key: AgeKey
) -> None:
    two_handshakes(repo)
    # Nobody references this one, and our key cannot open it: it must not matter.
    repo.encrypted("secrets/unused.yaml", secret("unused", stringData={"k": "v"}), recipients=(other_key.recipient,))
    result = generate(repo, out, key_env)
    assert result.code == 0, result.stderr


def test_two_secrets_in_one_file(repo: SourceRepo, out: Path, key_env: dict[str, str]) -> None:
    repo.handshakes(
        "hs.yaml",
        handshake("a", "first", [{"clusterName": "c1"}]),
        handshake("b", "second", [{"clusterName": "c2"}]),
    )
    repo.encrypted("both.yaml", secret("first", stringData={"k": VALUE_A}), secret("second", stringData={"k": VALUE_B}))
    assert generate(repo, out, key_env).code == 0
    status = status_of(out)
    a = load_yaml(out / status["fleet-default/a"]["bundles"][0] / "secret.yaml")
    b = load_yaml(out / status["fleet-default/b"]["bundles"][0] / "secret.yaml")
    assert (a["metadata"]["name"], base64.b64decode(a["data"]["k"]).decode()) == ("first", VALUE_A)
    assert (b["metadata"]["name"], base64.b64decode(b["data"]["k"]).decode()) == ("second", VALUE_B)


def test_output_inside_source_is_not_read_as_source(repo: SourceRepo, key_env: dict[str, str]) -> None:
    two_handshakes(repo)
    out = repo.root / "bundles"
    assert generate(repo, out, key_env).code == 0
    # The generated Secrets are clear text; reading them back as source would be refused.
    again = generate(repo, out, key_env)
    assert again.code == 0, again.stderr
    assert "no changes" in again.stderr


def test_foreign_files_in_output_are_kept(repo: SourceRepo, out: Path, key_env: dict[str, str]) -> None:
    two_handshakes(repo)
    out.mkdir()
    (out / "README.md").write_text("hand-written\n")
    (out / "fleet-default").mkdir()
    (out / "fleet-default" / "manual").mkdir()
    (out / "fleet-default" / "manual" / "fleet.yaml").write_text("name: manual\n")
    assert generate(repo, out, key_env).code == 0
    assert (out / "README.md").read_text() == "hand-written\n"
    assert (out / "fleet-default" / "manual" / "fleet.yaml").read_text() == "name: manual\n"


def test_output_path_that_is_a_file(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]) -> None:
    two_handshakes(repo)
    target = tmp_path / "file"
    target.write_text("x")
    result = generate(repo, target, key_env)
    assert result.code == 1
    assert "not a folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_failure_while_writing_leaves_previous_tree(
    repo: SourceRepo, out: Path, key_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleethandshake.adapters.fs import swap
    from fleethandshake.app.generate import generate as generate_in_process

    two_handshakes(repo)
    assert generate(repo, out, key_env).code == 0
    before = read_tree(out)
    repo.encrypted("secrets/alpha.yaml", secret("alpha-secret", stringData={"password": "changed"}))
    repo.encrypted("secrets/bravo.yaml", secret("bravo-secret", stringData={"token": "changed"}))
    for name, value in key_env.items():
        monkeypatch.setenv(name, value)
    real_open = os.open
    calls = {"n": 0}

    def failing_open(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        if flags & os.O_EXCL:
            calls["n"] += 1
            if calls["n"] == 2:  # the disk fills up half-way through the new tree
                raise OSError(28, "No space left on device")
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(swap.os, "open", failing_open)
    with pytest.raises(OSError, match="No space"):
        generate_in_process(repo.root, out, say=lambda _: None)

    assert calls["n"] >= 2  # writers run in parallel: others may have written before the failure surfaced
    assert read_tree(out) == before
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.fh-staging")]
    assert leftovers == []
