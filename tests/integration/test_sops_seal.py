"""sops mode seals for the configured recipients only, and keeps only the files it wrote.

The real sops binary encrypts; the environment of a user or a CI runner may carry sops settings
(recipient variables, a config file) that must not reach the SopsSecrets fleet-handshake writes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from fhtest import SOPS, AgeKey, SourceRepo, handshake, make_age_key, read_tree, run_cli, secret
from fleethandshake.adapters.sops.encrypt import encryption_env
from fleethandshake.core.bundleview import RESEALED
from fleethandshake.errors import EXIT_CHANGES

VALUE = "seal-canary-Rw83"
# The keys of a sops file's metadata that list recipients other than age (sops 3.11).
OTHER_RECIPIENTS = ("pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms")


@pytest.fixture(scope="module")
def cluster_key(tmp_path_factory: pytest.TempPathFactory) -> AgeKey:
    return make_age_key(tmp_path_factory.mktemp("cluster-key"), "c1")


def source(repo: SourceRepo, cluster: AgeKey) -> None:
    repo.sops_mode(cluster)
    repo.handshakes(
        "hs.yaml",
        handshake("one", "creds", [{"clusterName": "c1"}]),
        handshake("two", "creds", [{"clusterName": "c1"}], target_namespace="other"),
    )
    repo.encrypted("creds.yaml", secret("creds", stringData={"password": VALUE}))


def sealed_files(out: Path) -> dict[str, bytes]:
    return {p: c for p, c in read_tree(out).items() if p.endswith("/sopssecret.yaml")}


def decrypt(path: Path, key: AgeKey) -> subprocess.CompletedProcess[bytes]:
    env = {"SOPS_AGE_KEY_FILE": str(key.key_file), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [SOPS, "--disable-version-check", "decrypt", str(path)], env=env, capture_output=True, check=False
    )


@pytest.fixture
def gpg_home(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A fresh PGP key in its own GNUPGHOME, and its fingerprint; the agent gpg starts is stopped."""
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}
    try:
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "seal <seal@example.invalid>",
                        "future-default", "default", "never"], env=env, capture_output=True, check=True)  # fmt: skip
        listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys"], env=env, capture_output=True,
                                 text=True, check=True).stdout  # fmt: skip
        yield home, next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True, check=False)


@pytest.mark.parametrize("setting", ["recipient variables", "config files"])
def test_recipients_come_from_the_config_only(
    repo: SourceRepo,
    tmp_path: Path,
    key_env: dict[str, str],
    cluster_key: AgeKey,
    gpg_home: tuple[Path, str],
    setting: str,
) -> None:
    """No sops setting of the environment, and no .sops.yaml around, changes who can open a SopsSecret."""
    source(repo, cluster_key)
    stranger = make_age_key(tmp_path, "stranger")
    home, fingerprint = gpg_home
    env = {**key_env, "GNUPGHOME": str(home)}
    work = tmp_path / "work"
    out = work / "out"
    out.mkdir(parents=True)
    if setting == "recipient variables":
        env.update(SOPS_PGP_FP=fingerprint, SOPS_AGE_RECIPIENTS=stranger.recipient)
    else:
        rules = (
            "creation_rules:\n"
            f"  - pgp: {fingerprint}\n    age: {stranger.recipient}\n"
            "    encrypted_regex: ^spec$\n    shamir_threshold: 2\n"
        )
        for folder in (tmp_path, work, out, repo.root):
            (folder / ".sops.yaml").write_text(rules)
        env["SOPS_CONFIG"] = str(tmp_path / ".sops.yaml")

    result = run_cli("generate", repo.root, "--out", out, env=env, cwd=work)

    assert result.code == 0, result.stderr
    sealed = sealed_files(out)
    assert len(sealed) == 2
    for path in sealed:
        meta = yaml.safe_load((out / path).read_text())["sops"]
        assert [a["recipient"] for a in meta["age"]] == [cluster_key.recipient], path
        assert not [k for k in OTHER_RECIPIENTS if meta.get(k)], path
        assert "shamir_threshold" not in meta
        assert decrypt(out / path, cluster_key).returncode == 0
        assert decrypt(out / path, stranger).returncode == 128


def reseal_for(path: Path, key: AgeKey, password: str) -> bytes:
    """What someone who can push could write: a valid SopsSecret sealed for the cluster, other content."""
    opened = decrypt(path, key)
    assert opened.returncode == 0
    doc = yaml.safe_load(opened.stdout)
    doc["spec"]["secretTemplates"][0]["stringData"] = {"password": password}
    proc = subprocess.run(
        [SOPS, "--disable-version-check", "encrypt", "--age", key.recipient, "--encrypted-suffix", "Templates",
         "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin"],
        input=yaml.safe_dump(doc).encode(), capture_output=True, check=True,
    )  # fmt: skip
    return proc.stdout


@pytest.mark.parametrize("how", ["replaced", "edited"])
def test_a_sealed_file_not_as_written_is_resealed_and_planned(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], cluster_key: AgeKey, how: str
) -> None:
    source(repo, cluster_key)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    written = sealed_files(out)
    target, other = sorted(written)
    if how == "replaced":
        foreign = reseal_for(out / target, cluster_key, "attacker-chosen")
    else:  # a comment changes no value and keeps the file valid for sops
        foreign = written[target] + b"# reviewed\n"
    (out / target).write_bytes(foreign)

    plan = run_cli("plan", repo.root, "--out", out, "--format", "json", env=key_env)

    assert plan.code == EXIT_CHANGES, plan.stderr
    changes = {b["path"]: b for b in json.loads(plan.stdout)["bundles"]}
    bundle = target.rsplit("/", 1)[0]
    assert changes[bundle]["change"] == "modified"
    assert changes[bundle]["changes"] == [RESEALED]
    assert changes[other.rsplit("/", 1)[0]]["change"] == "unchanged"

    result = run_cli("generate", repo.root, "--out", out, env=key_env)

    assert result.code == 0, result.stderr
    now = sealed_files(out)
    assert now[target] not in (foreign, written[target])  # sealed again: new ciphertext
    assert now[other] == written[other]  # untouched files keep their bytes
    opened = yaml.safe_load(decrypt(out / target, cluster_key).stdout)
    assert "stringData" not in opened["spec"]["secretTemplates"][0]
    assert run_cli("plan", repo.root, "--out", out, env=key_env).code == 0  # and it stays put
    assert sealed_files(out) == now


def test_no_sops_variable_reaches_the_encrypting_sops() -> None:
    """Every variable the real binary reads for `encrypt` (its help lists them), and credentials."""
    helps = [[SOPS, "--help"], [SOPS, "encrypt", "--help"]]
    listed = {v for h in helps for v in re.findall(r"\[\$(SOPS_[A-Z_]+)\]", subprocess.run(
        h, capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"}).stdout)}  # fmt: skip
    assert {"SOPS_PGP_FP", "SOPS_KMS_ARN", "SOPS_AGE_RECIPIENTS", "SOPS_CONFIG", "SOPS_KEYSERVICE"} <= listed
    others = ("SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY", "AWS_PROFILE", "VAULT_TOKEN", "GNUPGHOME", "HOME")
    environ = {name: "set" for name in (*listed, *others)} | {"PATH": "/usr/bin:/bin"}

    assert encryption_env(environ) == {"PATH": "/usr/bin:/bin", "SOPS_DISABLE_VERSION_CHECK": "1"}


def test_a_failed_run_does_not_make_the_next_one_seal_everything_again(
    repo: SourceRepo, cluster_key: AgeKey, tmp_path: Path, key_env: dict[str, str]
) -> None:
    """A run whose handshakes are Error keeps their bundles byte for byte, and their state too: the
    next run with the same inputs reuses the SopsSecrets instead of sealing them anew (new bytes:
    a commit touching every bundle, and Fleet deploying each again). Two ways a run fails: one
    Secret file broken for a while, and the key missing from the environment (a CI secret unset)."""
    source(repo, cluster_key)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=key_env).code == 0
    before = sealed_files(out)
    good = (repo.root / "creds.yaml").read_text()
    (repo.root / "creds.yaml").write_text(good.replace("ENC[AES256_GCM,data:", "ENC[AES256_GCM,data:x", 1))
    broken = run_cli("generate", repo.root, "--out", out, env=key_env)
    assert broken.code == 1 and "Error    fleet-default/one" in broken.stderr
    (repo.root / "creds.yaml").write_text(good)
    again = run_cli("generate", repo.root, "--out", out, env=key_env)
    assert again.code == 0, again.stderr
    assert sealed_files(out) == before
    no_key = run_cli("generate", repo.root, "--out", out)
    assert no_key.code == 1 and "none of the available keys can open it" in no_key.stderr
    assert sealed_files(out) == before
    back = run_cli("generate", repo.root, "--out", out, env=key_env)
    assert back.code == 0, back.stderr
    assert "reused 2 unchanged handshake(s)" in back.stderr
    assert sealed_files(out) == before


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_a_passphrase_protected_ssh_key_does_not_make_every_run_seal_again(
    repo: SourceRepo, cluster_key: AgeKey, tmp_path: Path, key_env: dict[str, str]
) -> None:
    """~/.ssh/id_ed25519 with a passphrase (common on a workstation) beside the age key: sops
    decrypts without asking for it, but fleet-handshake had no state key, so every run sealed
    every SopsSecret anew (a change in every bundle, `plan` never clean)."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "a passphrase", "-f", str(home / ".ssh" / "id_ed25519")],
                   check=True, stdin=subprocess.DEVNULL)  # fmt: skip
    env = {**key_env, "HOME": str(home)}
    source(repo, cluster_key)
    out = tmp_path / "out"
    assert run_cli("generate", repo.root, "--out", out, env=env).code == 0
    before = read_tree(out)
    again = run_cli("generate", repo.root, "--out", out, env=env)
    assert again.code == 0 and "no changes" in again.stderr, again.stderr
    assert read_tree(out) == before
    assert run_cli("plan", repo.root, "--out", out, env=env).code == 0
    assert run_cli("plan", repo.root, "--out", out, env=key_env).code == 0  # the same state key without it
