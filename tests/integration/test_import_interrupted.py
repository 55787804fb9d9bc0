"""`import` interrupted (Ctrl-C, SIGTERM) while it writes SOURCE: it names what it wrote and that
running it again finishes, never says nothing changed; the rerun completes the source. The run is
the real command line, stopped by itself (SIGSTOP) before its n-th file (as test_crash.py stops
generate), so the signal lands there however loaded the machine is."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

import importscene as scene
from fhtest import AgeKey, read_tree, run_cli, signal_stopped
from hostile.leaks import scan_tree

# The command line with import's file writer wrapped: the run stops itself before its n-th file.
_PAUSING_ENTRY = """
import os, signal, sys
from fleethandshake import cli
from fleethandshake.app import import_

nth, write, calls = int(sys.argv.pop(1)), import_.write_new, [0]

def paused(*args, **kwargs):
    calls[0] += 1
    if calls[0] == nth:
        os.kill(os.getpid(), signal.SIGSTOP)
    return write(*args, **kwargs)

import_.write_new = paused
cli.entry()
"""


def _interrupt_before_file(nth: int, sig: int, source: Path, export: Path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    argv = [sys.executable, "-c", _PAUSING_ENTRY, str(nth), "import", str(source), "--from-file", str(export)]
    code, _, stderr = signal_stopped(argv, env, sig, f"file {nth}", lambda: None)
    return code, stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_import_names_what_it_wrote_and_a_rerun_finishes(
    tmp_path: Path, age_key: AgeKey, sig: int
) -> None:
    """It said "interrupted; the output folder was left as it was" with two new Secret files in
    SOURCE, named nowhere."""
    source = tmp_path / "source"
    scene.sops_config(source, age_key.recipient)
    export = tmp_path / "export.yaml"
    export.write_text(scene.export())

    code, stderr = _interrupt_before_file(3, sig, source, export)

    assert code == 130, stderr
    written = sorted(p for p in read_tree(source) if p != ".sops.yaml")
    assert written == ["secrets/default/fleethandshake-sample.yaml", "secrets/default/fleethandshake-test-only.yaml"]
    for path in written:
        assert f"wrote    {path}  (encrypted by sops)" in stderr
    assert "interrupted after writing 2 file(s) into SOURCE" in stderr and "run the same import again" in stderr
    assert "left as it was" not in stderr and "Traceback" not in stderr
    assert scan_tree(source, scene.VALUES.values()) == [] and not any(scene.VALUES[k] in stderr for k in scene.VALUES)
    assert not [p for p in source.rglob("*") if p.name.endswith(".fh-tmp")], "no temporary file left"

    again = run_cli("import", source, "--from-file", export)

    assert again.code == 0, again.stderr
    assert len([p for p in read_tree(source) if p != ".sops.yaml"]) == 11
    assert "kept     Secret default/fleethandshake-sample: SOURCE defines it already" in again.stderr
    assert run_cli("validate", source).code == 0


def test_an_import_interrupted_before_writing_says_nothing_was_written(tmp_path: Path, age_key: AgeKey) -> None:
    source = tmp_path / "source"
    scene.sops_config(source, age_key.recipient)
    export = tmp_path / "export.yaml"
    export.write_text(scene.export())

    code, stderr = _interrupt_before_file(1, signal.SIGINT, source, export)

    assert code == 130, stderr
    assert sorted(read_tree(source)) == [".sops.yaml"]
    assert "fleet-handshake: interrupted; nothing was written into SOURCE" in stderr
