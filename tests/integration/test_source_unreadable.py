"""A folder of the source that cannot be read is a problem of the source, never skipped in silence:
its handshakes would look removed, and their bundles (Fleet uninstalls their Secrets from every
cluster) would go with exit code 0."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from fhtest import SourceRepo, handshake, read_tree, secret

# root reads every folder whatever its mode: the run then drops the capabilities that let it.
_AS_ANY_USER = (
    [shutil.which("setpriv") or "setpriv", "--inh-caps=-dac_override,-dac_read_search",
     "--bounding-set=-dac_override,-dac_read_search"]
    if os.geteuid() == 0 else []
)  # fmt: skip


def generate(src: Path, out: Path, key_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")} | key_env
    command = [*_AS_ANY_USER, sys.executable, "-m", "fleethandshake", "generate", str(src), "--out", str(out)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


def test_an_unreadable_folder_of_the_source_writes_nothing(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    repo.handshakes("team-a/hs.yaml", handshake("a", "a", [{"clusterName": "c1"}]))
    repo.encrypted("team-a/a.yaml", secret("a", stringData={"p": "x"}))
    repo.handshakes("team-b/hs.yaml", handshake("b", "b", [{"clusterName": "c1"}]))
    repo.encrypted("team-b/b.yaml", secret("b", stringData={"p": "y"}))
    out = tmp_path / "out"
    first = generate(repo.root, out, key_env)
    assert first.returncode == 0, first.stderr
    before = read_tree(out)
    assert any(p.startswith("fleet-default/b-") for p in before)
    (repo.root / "team-b").chmod(0)
    try:
        result = generate(repo.root, out, key_env)
    finally:
        (repo.root / "team-b").chmod(0o755)
    assert result.returncode == 1, result.stderr
    assert "team-b/: is a folder that cannot be read (Permission denied)" in result.stderr
    assert "nothing was written" in result.stderr
    assert read_tree(out) == before


def test_a_folder_moved_behind_a_link_writes_nothing(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]) -> None:
    """Links to folders are not followed (nothing outside the source is read through them), and
    not skipped in silence either: the handshakes behind one would look removed."""
    repo.handshakes("team-a/hs.yaml", handshake("a", "a", [{"clusterName": "c1"}]))
    repo.encrypted("team-a/a.yaml", secret("a", stringData={"p": "x"}))
    repo.handshakes("team-b/hs.yaml", handshake("b", "b", [{"clusterName": "c1"}]))
    repo.encrypted("team-b/b.yaml", secret("b", stringData={"p": "y"}))
    out = tmp_path / "out"
    assert generate(repo.root, out, key_env).returncode == 0
    before = read_tree(out)
    (repo.root / "team-b").rename(tmp_path / "shared-team-b")
    (repo.root / "team-b").symlink_to(tmp_path / "shared-team-b", target_is_directory=True)

    result = generate(repo.root, out, key_env)

    assert result.returncode == 1, result.stderr
    assert "team-b/: is a symbolic link to a folder, which fleet-handshake does not follow" in result.stderr
    assert read_tree(out) == before
