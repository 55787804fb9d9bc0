"""The output inside the source repository (the shipped publish workflow's default, `bundles/`).

Any folder holding fleet-handshake's output (its `.fleet-handshake/status.json`) is not source:
validate and generate skip it, check-secrets the clear-text files generate wrote in it
(test_check_secrets_own_files.py), so the pre-commit hooks pass on a repository that holds its
own generated (clear-text) bundles, and still fail on a clear-text Secret elsewhere.
The hooks are run by pre-commit itself (`pre-commit try-repo`), as a user would.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fhtest import GIT_ENV, REPO, AgeKey, SourceRepo, git, handshake, run_cli, secret
from fleethandshake.adapters.fs import source as fs
from fleethandshake.core import output

CANARY = "output-in-source-canary-Tw63Rd"
CANARY_B64 = base64.b64encode(CANARY.encode()).decode()  # as the generated Secret holds it


def make_source(root: Path, key: AgeKey) -> SourceRepo:
    repo = SourceRepo(root, key)
    repo.handshakes("handshakes/app.yaml", handshake("app", "app-secret", [{"clusterName": "c1"}]))
    repo.encrypted("secrets/app.yaml", secret("app-secret", stringData={"password": CANARY}))
    return repo


def generate_inside(repo: SourceRepo, key: AgeKey, out: str = "bundles", *, sops: bool = False) -> Path:
    result = run_cli("generate", repo.root, "--out", repo.root / out, env={"SOPS_AGE_KEY_FILE": str(key.key_file)})
    assert result.code == 0, result.stderr
    if sops:  # sops mode: no clear text
        assert list((repo.root / out).rglob("sopssecret.yaml")) and not list((repo.root / out).rglob("secret.yaml"))
        return repo.root / out
    secrets = list((repo.root / out).rglob("secret.yaml"))
    assert secrets and CANARY_B64.encode() in secrets[0].read_bytes()  # the clear text the checks must not trip on
    return repo.root / out


def test_the_marker_is_what_generate_writes() -> None:
    assert f"{fs.OUTPUT_STATE_DIR}/{fs.OUTPUT_STATUS}" == output.STATUS_FILE


def test_validate_and_generate_skip_any_output_folder_in_the_source(tmp_path: Path, age_key: AgeKey) -> None:
    repo = make_source(tmp_path / "src", age_key)
    out = generate_inside(repo, age_key)
    shutil.copytree(out, repo.root / "archive" / "old-bundles")  # another output, not the one in use
    result = run_cli("validate", repo.root)
    assert result.code == 0, result.stderr
    assert "ok: 1 handshake(s), 1 encrypted Secret(s)" in result.stderr
    again = run_cli("generate", repo.root, "--out", out, env={"SOPS_AGE_KEY_FILE": str(age_key.key_file)})
    assert again.code == 0, again.stderr
    # A folder merely named like the state folder, without the status file, is source as usual.
    fake = repo.root / "not-an-output"
    (fake / ".fleet-handshake").mkdir(parents=True)
    (fake / "plain.yaml").write_text(yaml.safe_dump(secret("plain", stringData={"k": CANARY})))
    result = run_cli("validate", repo.root)
    assert result.code == 1
    assert "not-an-output/plain.yaml" in result.stderr and "bundles/" not in result.stderr
    assert CANARY not in result.stderr and CANARY_B64 not in result.stderr


@pytest.mark.parametrize("status", [b"", b"{}", b"not json", b'{"apiVersion": "other/v1", "handshakes": []}'])
def test_a_status_file_that_is_no_record_keeps_its_folder_in_the_source(
    tmp_path: Path, age_key: AgeKey, status: bytes
) -> None:
    """A stray status file (empty, or not one generate wrote) in a folder of handshakes must not
    make the walk leave them out: their bundles would be removed, and Fleet would take the Secret
    off every cluster."""
    repo = make_source(tmp_path / "src", age_key)
    repo.handshakes("handshakes/team/db.yaml", handshake("db", "app-secret", [{"clusterName": "c2"}]))
    out = tmp_path / "out"
    env = {"SOPS_AGE_KEY_FILE": str(age_key.key_file)}
    assert run_cli("generate", repo.root, "--out", out, env=env).code == 0
    bundles = sorted(p.parent.name for p in out.rglob("fleet.yaml"))
    stray = repo.root / "handshakes" / "team" / output.STATUS_FILE
    stray.parent.mkdir(parents=True)
    stray.write_bytes(status)

    assert "ok: 2 handshake(s)" in run_cli("validate", repo.root).stderr
    again = run_cli("generate", repo.root, "--out", out, env=env)
    assert again.code == 0, again.stderr
    assert "removed" not in again.stderr
    assert sorted(p.parent.name for p in out.rglob("fleet.yaml")) == bundles


def test_check_secrets_skips_output_folders(tmp_path: Path, age_key: AgeKey) -> None:
    repo = make_source(tmp_path / "src", age_key)
    out = generate_inside(repo, age_key)
    generated = sorted(str(p.relative_to(repo.root)) for p in out.rglob("*.yaml"))
    leak = repo.write("leak/plain.yaml", yaml.safe_dump(secret("plain", stringData={"k": CANARY})))
    ok = subprocess.run([sys.executable, "-m", "fleethandshake", "check-secrets", *generated],
                        cwd=repo.root, capture_output=True, text=True, check=False)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    # Given by absolute path too; and a leak beside the output is still refused.
    bad = run_cli("check-secrets", *(repo.root / g for g in generated), leak)
    assert bad.code == 1
    assert "leak/plain.yaml" in bad.stderr and "bundles/" not in bad.stderr
    assert CANARY not in bad.stderr and CANARY_B64 not in bad.stderr


def hook_repo(dest: Path) -> Path:
    """This checkout as pre-commit would clone it: its tracked and untracked (not ignored) files,
    as they are in the work tree, committed into a new repository. So the hooks under test are
    the code under test, whether or not it is committed, and a fresh clone (CI) gives the same."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=REPO, capture_output=True, check=True).stdout  # fmt: skip
    for rel in sorted({p for p in listing.decode().split("\0") if p}):
        src = REPO / rel
        if not os.path.lexists(src):
            continue  # deleted in the work tree, not yet committed
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "fleet-handshake as under test")
    return dest


def test_pre_commit_hooks_pass_with_the_output_in_the_repository(tmp_path: Path, age_key: AgeKey) -> None:
    repo = make_source(tmp_path / "user", age_key)
    generate_inside(repo, age_key)
    git(repo.root, "init", "-q")
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-q", "-m", "source and its bundles")
    hooks = hook_repo(tmp_path / "fleet-handshake")
    home = tmp_path / "pre-commit-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPS_", "PRE_COMMIT", "GIT_"))}
    env.update(GIT_ENV, PRE_COMMIT_HOME=str(home))  # whatever pre-commit keeps stays in the test's folder
    # Both hooks of the manifest in one run: pre-commit installs the hook environment (pip
    # install of the hook repository) once, about 15 s here.
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(hooks), "--all-files", "--color=never"],
        cwd=repo.root, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    assert re.search(r"fleet-handshake validate\.+Passed", report), report
    assert re.search(r"fleet-handshake no plaintext Secrets\.+Passed", report), report
    assert CANARY not in report and CANARY_B64 not in report


def test_the_hooks_as_declared_still_refuse_a_leak_beside_the_output(tmp_path: Path, age_key: AgeKey) -> None:
    """The hooks' commands exactly as .pre-commit-hooks.yaml declares them, given the files
    pre-commit would give them: the output is skipped, a clear-text Secret elsewhere is not."""
    repo = make_source(tmp_path / "user", age_key)
    generate_inside(repo, age_key)
    repo.write("leak/plain.yaml", yaml.safe_dump(secret("plain", stringData={"k": CANARY})))
    manifest = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    files = sorted(str(p.relative_to(repo.root)) for p in repo.root.rglob("*") if p.is_file())
    for hook_id in ("fleet-handshake-validate", "fleet-handshake-no-plaintext-secrets"):
        hook = manifest[hook_id]
        entry = hook["entry"].split()
        assert entry[0] == "fleet-handshake"
        chosen = [f for f in files if re.search(hook["files"], f)]
        args = [*entry[1:], *hook.get("args", []), *(chosen if hook.get("pass_filenames", True) else [])]
        proc = subprocess.run([sys.executable, "-m", "fleethandshake", *args], cwd=repo.root,
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert proc.returncode == 1, (hook_id, proc.stderr)
        assert "leak/plain.yaml" in proc.stderr and "bundles/" not in proc.stderr, (hook_id, proc.stderr)
        assert CANARY not in proc.stderr + proc.stdout and CANARY_B64 not in proc.stderr + proc.stdout
