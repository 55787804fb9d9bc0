"""Delivery modes: sops mode per target, mode selection, and no churn."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from fhtest import DATA, SOPS, AgeKey, SourceRepo, git, handshake, load_yaml, make_age_key, read_tree, run_cli, secret
from fleethandshake.errors import EXIT_CHANGES

VALUE = "modes-canary-Hq4"


@pytest.fixture(scope="module")
def cluster_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, AgeKey]:
    folder = tmp_path_factory.mktemp("cluster-keys")
    return {name: make_age_key(folder, name) for name in ("c1", "edge", "prod")}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def config(repo: SourceRepo, keys: dict[str, AgeKey], mode: str = "sops", extra: str = "") -> None:
    repo.write(
        ".fleet-handshake.yaml",
        f"""apiVersion: fleet-handshake/v1alpha1
kind: Config
mode: {mode}
sops:
  recipients:
    - clusterName: c1
      age: [{keys["c1"].recipient}]
    - clusterGroup: edge
      age: [{keys["edge"].recipient}]
    - clusterSelector: {{matchLabels: {{env: prod}}}}
      age: [{keys["prod"].recipient}]
{extra}""",
    )


def build(repo: SourceRepo, annotations: dict[str, str] | None = None) -> None:
    multi = handshake("multi", "creds", [{"clusterName": "c1"}, {"name": "edge", "clusterGroup": "edge"}])
    if annotations:
        multi["metadata"]["annotations"] = annotations
    repo.handshakes("hs.yaml", multi,
                    # another namespace: one Secret name delivered twice into one namespace is refused
                    handshake("prod", "creds", [{"clusterSelector": {"matchLabels": {"env": "prod"}}}],
                              target_namespace="prod-apps"))  # fmt: skip
    meta = {"name": "creds", "namespace": "default", "labels": {"a": "b"}}
    repo.encrypted("creds.yaml", secret("creds", type="Opaque", stringData={"password": VALUE}, metadata=meta))


def decrypt(path: Path, key: AgeKey) -> subprocess.CompletedProcess[bytes]:
    env = {"SOPS_AGE_KEY_FILE": str(key.key_file), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [SOPS, "--disable-version-check", "decrypt", str(path)], env=env, capture_output=True, check=False
    )


def bundles(out: Path) -> dict[str, Path]:
    """Bundle folder by the handshake/target it serves."""
    found = {}
    for fleet in out.glob("fleet-default/*/fleet.yaml"):
        doc = load_yaml(fleet)
        (target,) = doc["overrideTargets"]
        hs = doc["labels"]["fleethandshake.riverpointtechnology.com/handshake"]
        found[f"{hs}/{target.get('name') or target.get('clusterName') or 'selector'}"] = fleet.parent
    return found


def test_sops_mode_encrypts_each_bundle_for_its_targets_keys_only(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], cluster_keys: dict[str, AgeKey]
) -> None:
    config(repo, cluster_keys)
    build(repo)
    out = tmp_path / "out"

    result = run_cli("generate", repo.root, "--out", out, env=key_env)

    assert result.code == 0, result.stderr
    found = bundles(out)
    assert set(found) == {"multi/c1", "multi/edge", "prod/selector"}
    owner = {"multi/c1": "c1", "multi/edge": "edge", "prod/selector": "prod"}
    for ref, folder in found.items():
        assert sorted(p.name for p in folder.iterdir()) == ["fleet.yaml", "sopssecret.yaml"]
        sealed = folder / "sopssecret.yaml"
        assert VALUE not in sealed.read_text()
        opened = decrypt(sealed, cluster_keys[owner[ref]])
        assert opened.returncode == 0, ref
        doc = yaml.safe_load(opened.stdout)
        assert (doc["apiVersion"], doc["kind"]) == ("isindir.github.com/v1alpha3", "SopsSecret")
        assert doc["metadata"]["namespace"] == ("prod-apps" if ref.startswith("prod/") else "apps")
        (template,) = doc["spec"]["secretTemplates"]
        assert template == {"name": "creds", "type": "Opaque", "labels": {"a": "b"}, "data": {"password": b64(VALUE)}}
        for other, key in cluster_keys.items():
            if other != owner[ref]:
                assert decrypt(sealed, key).returncode == 128, f"{other} must not open {ref}"
    assert "clear text" not in result.stderr  # the plain-mode warning is for plain output only


def test_every_mode_fleet_yaml_is_valid(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str],
                                       cluster_keys: dict[str, AgeKey]) -> None:  # fmt: skip
    schema_path = DATA / "fleet" / "fleet.yaml.json"
    config(repo, cluster_keys)
    build(repo)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    validator = jsonschema.Draft202012Validator(json.loads(schema_path.read_text()))
    for fleet in out.rglob("fleet.yaml"):
        assert list(validator.iter_errors(load_yaml(fleet))) == []


def test_target_without_recipients_is_an_error_not_plain(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], cluster_keys: dict[str, AgeKey]
) -> None:
    config(repo, cluster_keys)
    build(repo)
    repo.handshakes("more.yaml", handshake("lonely", "creds", [{"clusterName": "nobody-has-a-key"}],
                                           target_namespace="lonely"))  # fmt: skip
    out = tmp_path / "out"

    result = run_cli("generate", repo.root, "--out", out, env=key_env)

    assert result.code == 1
    status = {h["name"]: h for h in json.loads((out / ".fleet-handshake/status.json").read_text())["handshakes"]}
    assert status["lonely"]["status"] == "Error"
    assert "no sops recipients for target [cluster nobody-has-a-key]" in status["lonely"]["message"]
    assert status["multi"]["status"] == status["prod"]["status"] == "Synced"
    assert not list(out.rglob("secret.yaml")), "never a silent fallback to plain"


def test_no_churn_and_real_changes(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], cluster_keys: dict[str, AgeKey]
) -> None:
    config(repo, cluster_keys)
    build(repo)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    first = read_tree(out)
    sealed = {p: c for p, c in first.items() if p.endswith("sopssecret.yaml")}

    again = run_cli("generate", repo.root, "--out", out, env=key_env)
    assert "no changes" in again.stderr
    # Re-encrypting the source changes its ciphertext but not the secret: outputs keep their bytes.
    subprocess.run([SOPS, "--disable-version-check", "rotate", "-i", str(repo.root / "creds.yaml")],
                   env={**key_env, "PATH": "/usr/bin:/bin"}, check=True, capture_output=True)  # fmt: skip
    rotated = run_cli("generate", repo.root, "--out", out, env=key_env)
    assert "decrypted 1 file(s)" in rotated.stderr
    assert {p: c for p, c in read_tree(out).items() if p.endswith("sopssecret.yaml")} == sealed

    # A new recipient for one scope re-encrypts exactly that bundle.
    newcomer = make_age_key(tmp_path, "newcomer")
    config(repo, cluster_keys, extra=f"    - targetName: edge\n      age: [{newcomer.recipient}]\n")
    run_cli("generate", repo.root, "--out", out, env=key_env)
    changed = sorted(p for p, c in read_tree(out).items() if p.endswith("sopssecret.yaml") and sealed[p] != c)
    assert len(changed) == 1 and changed[0] == str(bundles(out)["multi/edge"].relative_to(out) / "sopssecret.yaml")
    assert decrypt(out / changed[0], newcomer).returncode == 0

    # A changed value re-encrypts every bundle of that secret, and they open to the new value.
    repo.encrypted("creds.yaml", secret("creds", stringData={"password": VALUE + "-2"}))
    run_cli("generate", repo.root, "--out", out, env=key_env)
    opened = yaml.safe_load(decrypt(bundles(out)["multi/c1"] / "sopssecret.yaml", cluster_keys["c1"]).stdout)
    assert opened["spec"]["secretTemplates"][0]["data"] == {"password": b64(VALUE + "-2")}


def test_annotation_overrides_the_default_mode(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], cluster_keys: dict[str, AgeKey]
) -> None:
    config(repo, cluster_keys, mode="plain")
    build(repo, annotations={"fleethandshake.riverpointtechnology.com/mode": "sops"})
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    found = bundles(out)
    assert (found["multi/c1"] / "sopssecret.yaml").exists() and not (found["multi/c1"] / "secret.yaml").exists()
    prod = found["prod/selector"]
    assert (prod / "secret.yaml").exists() and not (prod / "sopssecret.yaml").exists()
    # --mode changes the default, never an annotated handshake
    out2 = tmp_path / "out2"
    assert run_cli("generate", repo.root, "--out", out2, "--mode", "sops", env=key_env).code == 0
    assert not list(out2.rglob("secret.yaml"))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("mode: secret-sauce\n", ".fleet-handshake.yaml:1 (document 0) mode: must be one of plain, downstream, sops"),
        ("sops:\n  recipients:\n    - clusterName: c1\n      age: [not-a-key]\n",
         "sops.recipients[0].age[0]: is not an age recipient"),
        ("sops:\n  recipients:\n    - clusterName: c1\n      clusterGroup: g\n      age: []\n",
         "sops.recipients[0]: needs exactly one scope"),
        ("colour: blue\n", "colour: unknown field"),
    ],
)  # fmt: skip
def test_invalid_config_is_reported(repo: SourceRepo, text: str, fragment: str) -> None:
    build_plain(repo)
    repo.write(".fleet-handshake.yaml", text)
    result = run_cli("validate", repo.root)
    assert result.code == 1
    assert fragment in result.stderr


def test_invalid_mode_annotation_is_reported(repo: SourceRepo) -> None:
    build(repo, annotations={"fleethandshake.riverpointtechnology.com/mode": "clear"})
    result = run_cli("validate", repo.root)
    assert result.code == 1
    assert "metadata.annotations['fleethandshake.riverpointtechnology.com/mode']: must be one of" in result.stderr


def build_plain(repo: SourceRepo) -> None:
    repo.handshakes("hs.yaml", handshake("a", "s", [{"clusterName": "c1"}]))


def test_plan_names_changed_keys_in_sops_mode(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], cluster_keys: dict[str, AgeKey]
) -> None:
    config(repo, cluster_keys)
    build(repo)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    assert run_cli("plan", repo.root, "--out", out, env=key_env).code == 0
    meta = {"name": "creds", "namespace": "default", "labels": {"a": "b"}}
    repo.encrypted("creds.yaml", secret("creds", stringData={"password": VALUE + "-2", "user": "app"}, metadata=meta))

    result = run_cli("plan", repo.root, "--out", out, "--format", "json", env=key_env)

    assert result.code == EXIT_CHANGES
    modified = [b for b in json.loads(result.stdout)["bundles"] if b["change"] == "modified"]
    assert len(modified) == 3
    for b in modified:
        assert (b["keysChanged"], b["keysAdded"], b["keysRemoved"]) == (["password"], ["user"], [])
    assert VALUE not in result.stdout


@pytest.mark.parametrize("source", ["SOPS_AGE_KEY_CMD", "SOPS_AGE_KEY_FILE"])
def test_an_unchanged_sops_mode_run_writes_nothing_whatever_provides_the_key(
    source: str, repo: SourceRepo, tmp_path: Path, age_key: AgeKey, cluster_keys: dict[str, AgeKey]
) -> None:
    """The state key comes from the identities sops itself uses: with the key from a command, a
    second run reuses every handshake instead of decrypting and sealing everything again."""
    config(repo, cluster_keys)
    build(repo)
    out = tmp_path / "out"
    env = {source: f"cat {age_key.key_file}" if source == "SOPS_AGE_KEY_CMD" else str(age_key.key_file)}
    assert run_cli("generate", repo.root, "--out", out, env=env).code == 0
    first = read_tree(out)

    again = run_cli("generate", repo.root, "--out", out, env=env)

    assert again.code == 0, again.stderr
    assert "no changes" in again.stderr and "decrypted 0 file(s)" in again.stderr, again.stderr
    assert read_tree(out) == first


def test_a_key_command_runs_once_per_run(
    repo: SourceRepo, tmp_path: Path, age_key: AgeKey, cluster_keys: dict[str, AgeKey]
) -> None:
    """SOPS_AGE_KEY_CMD may ask a password manager or a hardware token: the parse cache, the state
    and the decryption of one run share the identities it gives, so it runs once per command."""
    config(repo, cluster_keys)
    build(repo)
    out, calls = tmp_path / "out", tmp_path / "calls"
    env = {"SOPS_AGE_KEY_CMD": f"sh -c 'echo run >> {calls}; cat {age_key.key_file}'"}
    for command in (["generate"], ["generate"], ["plan"]):
        calls.write_text("")
        result = run_cli(*command, repo.root, "--out", out, env=env)
        assert result.code == 0, result.stderr
        assert calls.read_text() == "run\n", command
    # publish builds twice (the clean-work-tree check, then the commit): still one run of the command.
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git(work, "commit", "-q", "--allow-empty", "-m", "start")
    calls.write_text("")
    published = run_cli("publish", repo.root, "--out", work / "bundles", "--no-push", "--allow-unordered", env=env)
    assert published.code == 0, published.stderr
    assert calls.read_text() == "run\n", "publish"


def test_a_mode_switch_renames_every_bundle_and_the_plan_says_it_is_the_mode(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], cluster_keys: dict[str, AgeKey]
) -> None:
    """The delivery mode is part of a bundle's name: switching it removes every bundle and adds
    its new one, and the plan gives that reason, not the upgrade's (32-bit names of earlier versions)."""
    from fleethandshake.core.plan import RENAMED_WHY

    config(repo, cluster_keys, mode="plain")
    build(repo)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0

    result = run_cli("plan", repo.root, "--out", out, "--mode", "sops", "--format", "json", env=key_env)

    assert result.code == EXIT_CHANGES, result.stderr
    bundles = json.loads(result.stdout)["bundles"]
    assert {b["change"] for b in bundles} == {"added", "removed"}
    for b in bundles:
        (why,) = b["changes"]
        assert why.endswith("its delivery mode changed from plain to sops, and the mode is part of a bundle's identity")
        assert RENAMED_WHY not in why
