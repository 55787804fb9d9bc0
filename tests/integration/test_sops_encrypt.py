"""Both callers of the encrypting sops (import under SOURCE's creation rules, sops mode for its
recipients) run it through one function, and report its failure in one shape: the file, why,
what to check; never sops's output (it could echo the clear text it was given)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import importscene as scene
from fhtest import SOPS, SourceRepo, handshake, make_age_key, read_tree, run_cli, secret

# The characters of an age recipient, so the config accepts it, but a checksum sops refuses.
BAD_RECIPIENT = "age1" + "q" * 58
VALUE = "encrypt-canary-Qx71"
SHAPE = re.compile(r"(\S+\.yaml): sops failed to encrypt \(exit code (\d+)\); check the")


def test_a_refusing_sops_reads_the_same_from_import_and_sops_mode(
    tmp_path: Path, repo: SourceRepo, key_env: dict[str, str]
) -> None:
    source = tmp_path / "import-source"
    scene.sops_config(source, BAD_RECIPIENT)
    export = tmp_path / "export.yaml"
    export.write_text(scene.export())
    imported = run_cli("import", source, "--from-file", export)
    assert imported.code == 1, imported.stderr
    assert sorted(read_tree(source)) == [".sops.yaml"], "nothing was written"
    by_import = SHAPE.search(imported.stderr)
    assert by_import, imported.stderr
    assert by_import[1].startswith("secrets/") and "check the keys of the matching creation rule" in imported.stderr

    repo.write(
        ".fleet-handshake.yaml",
        "apiVersion: fleet-handshake/v1alpha1\nkind: Config\nmode: sops\n"
        f"sops:\n  recipients:\n    - clusterName: c1\n      age: [{BAD_RECIPIENT}]\n",
    )
    repo.handshakes("hs.yaml", handshake("one", "creds", [{"clusterName": "c1"}]))
    repo.encrypted("creds.yaml", secret("creds", stringData={"password": VALUE}))
    out = tmp_path / "out"
    generated = run_cli("generate", repo.root, "--out", out, env=key_env)
    assert generated.code == 1, generated.stderr
    [status] = json.loads((out / ".fleet-handshake" / "status.json").read_text())["handshakes"]
    assert status["status"] == "Error"
    by_sops_mode = SHAPE.match(status["message"])
    assert by_sops_mode, status["message"]
    assert by_sops_mode[1].endswith("/sopssecret.yaml") and status["message"].endswith("check the age recipients")

    assert by_import[2] == by_sops_mode[2], "the same sops, the same refusal"
    shown = imported.stdout + imported.stderr + generated.stdout + generated.stderr + status["message"]
    assert BAD_RECIPIENT not in shown, "sops's own message (which names what it read) is never passed on"
    assert VALUE not in shown and not any(v in shown for v in scene.VALUES.values())


def test_an_empty_answer_is_no_ciphertext(tmp_path: Path, repo: SourceRepo, key_env: dict[str, str]) -> None:
    """A sops (chosen with --sops) that reads the clear text and exits 0 without writing anything:
    the bundle must not get an empty SopsSecret."""
    silent = tmp_path / "sops-that-says-nothing"
    silent.write_text("#!/bin/sh\ncat >/dev/null\nexit 0\n")
    silent.chmod(0o755)
    repo.sops_mode(make_age_key(tmp_path, "c1"))
    repo.handshakes("hs.yaml", handshake("one", "creds", [{"clusterName": "c1"}]))
    repo.encrypted("creds.yaml", secret("creds", stringData={"password": VALUE}))
    out = tmp_path / "out"
    generated = run_cli("generate", repo.root, "--out", out, "--sops", str(silent), env=key_env)
    assert generated.code == 1, generated.stderr
    [status] = json.loads((out / ".fleet-handshake" / "status.json").read_text())["handshakes"]
    assert status["status"] == "Error" and "sops exited without writing a ciphertext" in status["message"]
    assert not [p for p in read_tree(out) if p.endswith("/sopssecret.yaml")]


def test_a_relative_sops_path_encrypts_as_it_decrypts(
    tmp_path: Path, repo: SourceRepo, key_env: dict[str, str]
) -> None:
    """`--sops bin/sops`, relative to where the command runs: the encrypting sops runs in another
    folder ("/" for sops mode, SOURCE for import), so the path must not be resolved from there."""
    tools = tmp_path / "bin"
    tools.mkdir()
    shutil.copy(SOPS, tools / "sops")
    cluster = make_age_key(tmp_path, "c1")
    repo.sops_mode(cluster)
    repo.handshakes("hs.yaml", handshake("one", "creds", [{"clusterName": "c1"}]))
    repo.encrypted("creds.yaml", secret("creds", stringData={"password": VALUE}))
    out = tmp_path / "out"
    generated = run_cli("generate", repo.root, "--out", out, "--sops", "bin/sops", env=key_env, cwd=tmp_path)
    assert generated.code == 0, generated.stdout + generated.stderr
    [sealed] = [p for p in read_tree(out) if p.endswith("/sopssecret.yaml")]
    opened = subprocess.run([SOPS, "--disable-version-check", "decrypt", str(out / sealed)], capture_output=True,
                            env={"SOPS_AGE_KEY_FILE": str(cluster.key_file)}, check=True)  # fmt: skip
    assert VALUE.encode() not in (out / sealed).read_bytes() and opened.returncode == 0

    source = tmp_path / "import-source"
    scene.sops_config(source, make_age_key(tmp_path, "source").recipient)
    (tmp_path / "export.yaml").write_text(scene.export())
    imported = run_cli("import", source, "--from-file", "export.yaml", "--sops", "bin/sops", cwd=tmp_path)
    assert imported.code == 0, imported.stdout + imported.stderr
