"""`fleet-handshake import`: from an export and from the loopback API server (real kubernetes
client, real sops with the tests' age key), the source it writes validates, and generate then
delivers the same Secrets to the same clusters as the original operator's Bundles did."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
import yaml

import fakekube
import importscene as scene
from fakekube import FakeKube, write_kubeconfig
from fhtest import DATA, REPO, SOPS, AgeKey, Run, read_tree, run_cli
from hostile.leaks import scan_tree
from operatorbundle import operator_bundle, operator_deliveries, output_deliveries

fake_kube = fakekube.fake_kube
LABELS = {"app.kubernetes.io/managed-by": "kustomize", "app.kubernetes.io/name": "fleet-handshake"}
IMPORTED = [
    "handshakes/fleet-default/fleethandshake-sample.yaml",
    "handshakes/fleet-default/fleethandshake-test-only.yaml",
    "handshakes/fleet-default/orders-db.yaml",
    "handshakes/fleet-default/sample-again.yaml",
    "handshakes/fleet-default/tls.yaml",
    "handshakes/fleet-local/registry.yaml",
    "secrets/default/fleethandshake-sample.yaml",
    "secrets/default/fleethandshake-test-only.yaml",
    "secrets/default/registry.yaml",
    "secrets/default/shop-tls.yaml",
    "secrets/orders/db-credentials.yaml",
]


def operator_reference() -> dict[str, list[scene.Delivered]]:  # type: ignore[name-defined]
    secrets = scene.by_ref(scene.secret_objects(scene.VALUES))
    bundles = []
    for h in scene.handshakes():
        spec = h["spec"]
        bundles.append(operator_bundle(h, secrets[(spec["secretNamespace"], spec["secretName"])]))
    return operator_deliveries(bundles, scene.inventory())


def assert_delivers_as_the_operator(source: Path, tmp_path: Path, key: AgeKey) -> None:
    env = {"SOPS_AGE_KEY_FILE": str(key.key_file)}
    validated = run_cli("validate", source)
    assert validated.code == 0, validated.stderr
    assert "warning" not in validated.stderr
    out = tmp_path / "out"
    generated = run_cli("generate", source, "--out", out, env=env)
    assert generated.code == 0, generated.stderr
    expected = operator_reference()
    assert output_deliveries(out, scene.inventory()) == expected
    # Not vacuous: every cluster of the inventory gets something, one cluster several Secrets,
    # the doNotDeploy target keeps `test` from orders-db, and types and values came through.
    assert sorted(expected) == ["fleet-default/c-m-prod1", "fleet-default/staging", "fleet-default/test",
                                "fleet-local/local"]  # fmt: skip
    assert [s[1] for s in expected["fleet-default/test"]] == ["fleethandshake-sample", "fleethandshake-sample",
                                                              "fleethandshake-test-only"]  # fmt: skip
    assert ("shop", "shop-tls", "kubernetes.io/tls", (("tls.crt", "CERT"), ("tls.key", scene.VALUES["tls"]))) in (
        expected["fleet-default/c-m-prod1"]
    )


def assert_encrypted(source: Path) -> None:
    """Only ciphertext: no value of any form in any file, every Secret file a sops file for the key."""
    assert scan_tree(source, scene.VALUES.values()) == []
    for path in sorted((source / "secrets").rglob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        assert doc["sops"]["age"] and set(doc) == {"apiVersion", "kind", "metadata", "type", "data", "sops"}, path
        assert set(doc["metadata"]) == {"name", "namespace"}, "no labels, no annotations: the operator sent none"


def test_import_from_an_export_delivers_what_the_operator_delivered(tmp_path: Path, age_key: AgeKey) -> None:
    source = tmp_path / "source"
    scene.sops_config(source, age_key.recipient)
    export = tmp_path / "export.yaml"
    export.write_text(scene.export())
    run = run_cli("import", source, "--from-file", export)
    assert run.code == 0, run.stderr
    assert sorted(p for p in read_tree(source) if p != ".sops.yaml") == IMPORTED
    assert "wrote    secrets/orders/db-credentials.yaml  (encrypted by sops)" in run.stderr
    assert "imported 6 of 6 handshake(s)" in run.stderr and "unrelated" not in run.stderr
    handshake = yaml.safe_load((source / IMPORTED[0]).read_text())
    assert handshake == {
        "apiVersion": "riverpointtechnology.com/v1alpha1",
        "kind": "FleetHandshake",
        "metadata": {"labels": LABELS, "name": "fleethandshake-sample", "namespace": "fleet-default"},
        "spec": {"secretName": "fleethandshake-sample", "secretNamespace": "default", "targetNamespace": "test",
                 "targets": [{"clusterSelector": {"matchLabels": {"managed": "rancher"}}}]},
    }  # fmt: skip
    assert_encrypted(source)
    assert_delivers_as_the_operator(source, tmp_path, age_key)


def test_import_from_the_api_delivers_what_the_operator_delivered(
    tmp_path: Path, age_key: AgeKey, fake_kube: FakeKube
) -> None:
    for obj in [*scene.handshakes(), *scene.secret_objects(scene.VALUES)]:
        fake_kube.put_object({k: v for k, v in obj.items() if k != "status"})
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"fake": fake_kube})
    source = tmp_path / "source"
    scene.sops_config(source, age_key.recipient)
    run = run_cli("import", source, "--kubeconfig", kubeconfig)
    assert run.code == 0, run.stderr
    assert sorted(p for p in read_tree(source) if p != ".sops.yaml") == IMPORTED
    assert f"from the Kubernetes API at {fake_kube.url}" in run.stderr
    reads = [r.path for r in fake_kube.requests_of("GET")]
    assert "/apis/riverpointtechnology.com/v1alpha1/fleethandshakes" in [p.split("?")[0] for p in reads]
    assert not any("unrelated" in p for p in reads), "only the Secrets handshakes reference are read"
    assert_encrypted(source)
    assert_delivers_as_the_operator(source, tmp_path, age_key)


def test_one_namespace_from_the_api(tmp_path: Path, age_key: AgeKey, fake_kube: FakeKube) -> None:
    for obj in [*scene.handshakes(), *scene.secret_objects(scene.VALUES)]:
        fake_kube.put_object(obj)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"fake": fake_kube})
    source = tmp_path / "source"
    scene.sops_config(source, age_key.recipient)
    run = run_cli("import", source, "--kubeconfig", kubeconfig, "--context", "fake", "--namespace", "fleet-local")
    assert run.code == 0, run.stderr
    assert sorted(p for p in read_tree(source) if p != ".sops.yaml") == [
        "handshakes/fleet-local/registry.yaml", "secrets/default/registry.yaml"]  # fmt: skip


def test_a_missing_secret_is_reported_and_its_handshake_skipped(tmp_path: Path, age_key: AgeKey) -> None:
    source = tmp_path / "source"
    scene.sops_config(source, age_key.recipient)
    export = tmp_path / "export.yaml"
    export.write_text(scene.export(without=("fleethandshake-test-only",)))
    run = run_cli("import", source, "--from-file", export)
    assert run.code == 1, run.stderr
    assert (
        "missing  fleet-default/fleethandshake-test-only: Secret default/fleethandshake-test-only was not found;"
        " handshake not imported" in run.stderr
    )
    assert "kubectl get fleethandshakes,secrets -A -o yaml" in run.stderr
    written = sorted(p for p in read_tree(source) if p != ".sops.yaml")
    assert written == [p for p in IMPORTED if "test-only" not in p]
    assert run_cli("validate", source).code == 0

    allowed = run_cli("import", source, "--from-file", export, "--allow-missing")
    assert allowed.code == 0, allowed.stderr
    assert "handshake imported without it" in allowed.stderr
    assert (source / "handshakes/fleet-default/fleethandshake-test-only.yaml").is_file()
    assert not (source / "secrets/default/fleethandshake-test-only.yaml").exists()
    assert "kept     fleet-default/orders-db: SOURCE defines it already" in allowed.stderr
    validated = run_cli("validate", source)
    assert validated.code == 0 and "it would be Missing" in validated.stderr


def test_without_sops_rules_nothing_is_written(tmp_path: Path, age_key: AgeKey) -> None:
    export = tmp_path / "export.yaml"
    export.write_text(scene.export())
    source = tmp_path / "source"
    source.mkdir()
    run = run_cli("import", source, "--from-file", export)
    assert run.code == 2
    assert "has no .sops.yaml" in run.stderr and "nothing was written" in run.stderr
    assert read_tree(source) == {}

    scene.sops_config(source, age_key.recipient, path_regex=r"^encrypted/.*\.yaml$")
    run = run_cli("import", source, "--from-file", export)
    assert run.code == 2
    assert "no creation rule of" in run.stderr and "matches secrets/default/fleethandshake-sample.yaml" in run.stderr
    assert sorted(read_tree(source)) == [".sops.yaml"], "not even the handshakes"


def test_a_rule_that_encrypts_the_metadata_is_refused(tmp_path: Path, age_key: AgeKey) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / ".sops.yaml").write_text(f"creation_rules:\n  - age: {age_key.recipient}\n")
    export = tmp_path / "export.yaml"
    export.write_text(scene.export())
    run = run_cli("import", source, "--from-file", export)
    assert run.code == 1
    assert "encrypted_regex: ^(data|stringData)$" in run.stderr and "nothing was written" in run.stderr
    assert sorted(read_tree(source)) == [".sops.yaml"]


def test_a_rule_that_leaves_the_values_in_clear_text_is_refused(tmp_path: Path, age_key: AgeKey) -> None:
    """sops follows the rule and encrypts nothing: what it wrote is checked before it is written."""
    source = tmp_path / "source"
    source.mkdir()
    rule = f"  - path_regex: secrets/.*\\.yaml$\n    encrypted_regex: ^nothing$\n    age: {age_key.recipient}\n"
    (source / ".sops.yaml").write_text(f"creation_rules:\n{rule}")
    export = tmp_path / "export.yaml"
    export.write_text(scene.export())
    run = run_cli("import", source, "--from-file", export)
    assert run.code == 1
    assert "data.password: is not encrypted although the file has SOPS metadata" in run.stderr
    assert "nothing was written" in run.stderr
    assert sorted(read_tree(source)) == [".sops.yaml"]
    shown = run.stdout + run.stderr
    assert not any(v in shown or base64.b64encode(v.encode()).decode() in shown for v in scene.VALUES.values())


def test_existing_files_and_definitions_are_kept(tmp_path: Path, age_key: AgeKey) -> None:
    source = tmp_path / "source"
    scene.sops_config(source, age_key.recipient)
    taken = source / "handshakes/fleet-default/orders-db.yaml"
    taken.parent.mkdir(parents=True)
    taken.write_bytes(b"# notes of my own\n")
    defined = source / "mine.yaml"
    hs = next(h for h in scene.handshakes() if h["metadata"]["name"] == "tls")
    defined.write_text(yaml.safe_dump({k: hs[k] for k in ("apiVersion", "kind", "spec")}
                                      | {"metadata": {"name": "tls", "namespace": "fleet-default"}}))  # fmt: skip
    before = read_tree(source)
    export = tmp_path / "export.yaml"
    export.write_text(scene.export())
    run = run_cli("import", source, "--from-file", export)
    assert run.code == 1, run.stderr
    assert "kept     handshakes/fleet-default/orders-db.yaml: the file exists; handshake fleet-default/orders-db" in (
        run.stderr
    )
    assert "kept     fleet-default/tls: SOURCE defines it already in mine.yaml" in run.stderr
    after = read_tree(source)
    assert {p: after[p] for p in before} == before, "nothing existing was changed"
    assert "handshakes/fleet-default/tls.yaml" not in after
    assert "secrets/orders/db-credentials.yaml" not in after, "a Secret only the skipped handshake needs"
    assert "secrets/default/shop-tls.yaml" in after, "the Secret of the handshake SOURCE had without it"


def test_sops_is_the_real_binary(tmp_path: Path) -> None:
    assert Path(SOPS).is_file()


@pytest.mark.parametrize("bad", ["../escape", "a/b"])
def test_names_that_are_not_kubernetes_names_never_become_paths(tmp_path: Path, age_key: AgeKey, bad: str) -> None:
    source = tmp_path / "source"
    scene.sops_config(source, age_key.recipient)
    hs = scene.handshakes()[0]
    hs["metadata"]["name"] = bad
    export = tmp_path / "export.yaml"
    export.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [hs]}))
    run = run_cli("import", source, "--from-file", export)
    assert run.code == 1
    assert f"skipped  fleet-default/{bad}: metadata.name must be a DNS-1123 name" in run.stderr
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "export.yaml", "source/.sops.yaml"]  # fmt: skip


def import_hand_made_secret(tmp_path: Path, age_key: AgeKey, fields: str) -> Run:
    """Import a hand-made export: the first handshake and its Secret with `fields` (flow YAML);
    it must be refused (exit 1) with nothing written."""
    source = tmp_path / "source"
    scene.sops_config(source, age_key.recipient)
    hs = scene.handshakes()[0]
    export = tmp_path / "export.yaml"
    secret = "{apiVersion: v1, kind: Secret, metadata: {name: fleethandshake-sample, namespace: default},"
    export.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [hs]}).replace(
        "items:\n", f"items:\n- {secret} {fields}}}\n"))  # fmt: skip
    run = run_cli("import", source, "--from-file", export)
    assert run.code == 1, run.stderr
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "export.yaml", "source/.sops.yaml"]  # fmt: skip
    return run


@pytest.mark.parametrize(("written", "why"), [
    ("017", "a number"), ("true", "a boolean"), ("~", "null"), ("!!binary aGVsbG8=", "bytes"), ("1_000", "a number"),
])  # fmt: skip
def test_a_value_that_is_not_a_string_is_refused_not_rewritten(
    tmp_path: Path, age_key: AgeKey, written: str, why: str
) -> None:
    """Kubernetes takes only strings as a Secret's values; a hand-made export's `pin: 017` was
    imported as "15" (Python's reading), `true` as "True", `~` as "None", exit 0."""
    run = import_hand_made_secret(tmp_path, age_key, f"stringData: {{user: admin, pin: {written}}}")
    assert (
        "skipped  fleet-default/fleethandshake-sample: Secret default/fleethandshake-sample: the value of"
        f" stringData['pin'] is {why}, not a string (quote it in the export); not imported"
    ) in run.stderr
    assert "admin" not in run.stderr + run.stdout


def test_the_creation_rules_choose_the_keys_not_the_environment(
    tmp_path: Path, age_key: AgeKey, other_key: AgeKey
) -> None:
    """SOPS_AGE_RECIPIENTS (like SOPS_PGP_FP, SOPS_KMS_ARN, ...) would replace the rule's keys."""
    source = tmp_path / "source"
    scene.sops_config(source, age_key.recipient)
    export = tmp_path / "export.yaml"
    export.write_text(scene.export())
    run = run_cli("import", source, "--from-file", export, env={"SOPS_AGE_RECIPIENTS": other_key.recipient})
    assert run.code == 0, run.stderr
    for path in sorted((source / "secrets").rglob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        assert [k["recipient"] for k in doc["sops"]["age"]] == [age_key.recipient], path


def test_cluster_errors_are_clear(tmp_path: Path, age_key: AgeKey, fake_kube: FakeKube) -> None:
    source = tmp_path / "source"
    scene.sops_config(source, age_key.recipient)
    missing = run_cli("import", source, "--kubeconfig", tmp_path / "nope")
    assert missing.code == 2 and "kubeconfig file not found" in missing.stderr
    closed = write_kubeconfig(tmp_path / "closed", {"down": fakekube.closed_port_url()})
    down = run_cli("import", source, "--kubeconfig", closed)
    assert down.code == 1 and "cannot list FleetHandshakes in every namespace: cannot reach" in down.stderr
    fake_kube.allowed = {"secrets": {"get"}}
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"fake": fake_kube})
    forbidden = run_cli("import", source, "--kubeconfig", kubeconfig, "-n", "fleet-default")
    assert forbidden.code == 1
    assert (
        "cannot list FleetHandshakes in namespace fleet-default: HTTP 403 Forbidden: forbidden: import needs"
        " list on fleethandshakes.riverpointtechnology.com and get on the Secrets they name" in forbidden.stderr
    )
    for run in (missing, down, forbidden):
        assert "Traceback" not in run.stderr
    assert sorted(read_tree(source)) == [".sops.yaml"]


def test_the_migration_guide_keeps_the_secret_with_a_field_fleets_bundle_has() -> None:
    """README "Moving from the original operator", step 5: the operator's Bundle is told to keep
    its resources before it is deleted; the patch names a boolean field of Fleet's Bundle CRD."""
    readme = (REPO / "README.md").read_text()
    guide = readme[readme.index("## Moving from the original operator") : readme.index("## Is my Secret there?")]
    patches = re.findall(r"kubectl patch bundle -n <workspace> <handshake-name> --type merge -p '([^']+)'", guide)
    assert len(patches) == 1, "step 5 patches the operator's Bundle before it is deleted"
    keep, delete = guide.index(patches[0]), guide.index("kubectl delete bundle -n <workspace> <handshake-name>")
    assert keep < delete, "keepResources is set before the Bundle is deleted"
    crd = yaml.safe_load((DATA / "fleet/crd-bundle.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for field, value in json.loads(patches[0])["spec"].items():
        assert schema["properties"]["spec"]["properties"][field]["type"] == "boolean" and value is True, field


def test_a_data_value_that_is_not_base64_is_refused_not_imported(tmp_path: Path, age_key: AgeKey) -> None:
    """A hand-made export with clear text under `data` (the API server would refuse it) was
    imported, exit 0, as a Secret that generate then reports as Error on every run."""
    data = '{ok: YWRtaW4=, wrapped: "YWRt\\naW4=", pin: hunter-2!}'  # a line break inside base64 is valid
    run = import_hand_made_secret(tmp_path, age_key, f"data: {data}")
    assert (
        "skipped  fleet-default/fleethandshake-sample: Secret default/fleethandshake-sample: the value of"
        " data['pin'] is not base64 (clear text belongs under stringData); not imported"
    ) in run.stderr
    assert "hunter-2" not in run.stderr + run.stdout
