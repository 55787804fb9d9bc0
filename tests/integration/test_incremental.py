"""Incremental runs: only changed inputs are decrypted; the state file never decides the output."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from fhtest import (
    AgeKey,
    SourceRepo,
    beside_out,
    delivered,
    git,
    handshake,
    read_tree,
    run_cli,
    secret,
    spare_tree,
    without_removals,
)

STATE = ".fleet-handshake/state.json"
VALUES = {f"hs{i}": f"incremental-canary-{i}-Vb7" for i in range(4)}


def build(repo: SourceRepo) -> None:
    repo.handshakes("hs.yaml", *(handshake(n, f"s-{n}", [{"clusterName": f"c-{n}"}]) for n in VALUES))
    for name, value in VALUES.items():
        repo.encrypted(f"secrets/{name}.yaml", secret(f"s-{name}", stringData={"token": value}))


def generate(repo: SourceRepo, out: Path, env: dict[str, str]) -> tuple[int, int, str]:
    result = run_cli("generate", repo.root, "--out", out, env=env)
    assert result.code == 0, result.stderr
    match = re.search(r"decrypted (\d+) file\(s\); reused (\d+) unchanged", result.stderr)
    assert match, result.stderr
    return int(match[1]), int(match[2]), result.stderr


def full_run(repo: SourceRepo, tmp_path: Path, env: dict[str, str]) -> dict[str, bytes]:
    fresh = tmp_path / "fresh" / "out"  # named as OUT: outside git the source identity is OUT's folder name
    shutil.rmtree(fresh, ignore_errors=True)
    decrypted, reused, _ = generate(repo, fresh, env)
    assert (decrypted, reused) == (len(VALUES), 0)
    return without_removals(read_tree(fresh))


def test_unchanged_inputs_are_not_decrypted_again(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]) -> None:
    build(repo)
    out = tmp_path / "out"
    assert generate(repo, out, key_env)[:2] == (4, 0)
    assert generate(repo, out, key_env)[:2] == (0, 4)
    repo.encrypted("secrets/hs2.yaml", secret("s-hs2", stringData={"token": "rotated"}))

    decrypted, reused, _ = generate(repo, out, key_env)

    assert (decrypted, reused) == (1, 3)
    assert without_removals(read_tree(out)) == full_run(repo, tmp_path, key_env)


def test_changed_handshake_spec_is_redone(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]) -> None:
    build(repo)
    out = tmp_path / "out"
    generate(repo, out, key_env)
    repo.handshakes("hs.yaml", *(handshake(n, f"s-{n}", [{"clusterName": f"c-{n}" if n != "hs0" else "moved"}])
                                 for n in VALUES))  # fmt: skip
    assert generate(repo, out, key_env)[:2] == (1, 3)
    assert without_removals(read_tree(out)) == full_run(repo, tmp_path, key_env)


@pytest.mark.parametrize("damage", ["deleted", "corrupt", "foreign", "wrong-shape", "edited-record"])
def test_state_file_never_changes_the_output(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], damage: str
) -> None:
    build(repo)
    out = tmp_path / "out"
    generate(repo, out, key_env)
    state = out / STATE
    if damage == "deleted":
        state.unlink()
    elif damage == "corrupt":
        state.write_bytes(state.read_bytes()[:50])
    elif damage == "foreign":
        doc = json.loads(state.read_text())
        key = doc["state"]["key"]
        doc["state"]["key"] = ("1" if key[0] == "0" else "0") + key[1:]
        state.write_text(json.dumps(doc))
    elif damage == "wrong-shape":
        state.write_text('{"format":"fleet-handshake-state/v2","mac":"' + "0" * 64 + '","state":{"handshakes":7}}\n')
    else:  # a parse-cache record widened to another cluster: the file's MAC no longer holds
        text = state.read_text()
        assert text.count('"clusterName":"c-hs1"') == 1
        state.write_text(text.replace('"clusterName":"c-hs1"', '"clusterName":"everywhere"'))

    decrypted, reused, _ = generate(repo, out, key_env)

    assert (decrypted, reused) == (4, 0), "an unusable state means a full run"
    assert without_removals(read_tree(out)) == full_run(repo, tmp_path, key_env)


def test_hand_edited_bundle_is_regenerated_not_trusted(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    build(repo)
    out = tmp_path / "out"
    generate(repo, out, key_env)
    edited = next(out.glob("fleet-default/hs1-*/secret.yaml"))
    encoded = base64.b64encode(VALUES["hs1"].encode()).decode()
    edited.write_text(edited.read_text().replace(encoded, base64.b64encode(b"tampered").decode()))

    assert generate(repo, out, key_env)[:2] == (1, 3)

    assert delivered(edited) == {"token": VALUES["hs1"]}
    assert without_removals(read_tree(out)) == full_run(repo, tmp_path, key_env)


def test_another_key_holder_cannot_reuse_the_state(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], other_key: AgeKey
) -> None:
    build(repo)
    out = tmp_path / "out"
    generate(repo, out, key_env)
    both = tmp_path / "both.txt"
    both.write_text(Path(key_env["SOPS_AGE_KEY_FILE"]).read_text() + other_key.key_file.read_text())
    assert generate(repo, out, {"SOPS_AGE_KEY_FILE": str(both)})[:2] == (4, 0)


def test_state_reveals_no_value(repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]) -> None:
    build(repo)
    out = tmp_path / "out"
    generate(repo, out, key_env)
    text = (out / STATE).read_text()
    for value in VALUES.values():
        for form in (value, base64.b64encode(value.encode()).decode(), value.encode().hex()):
            assert form not in text
    import hashlib

    for value in VALUES.values():  # and no unkeyed hash of one
        assert hashlib.sha256(value.encode()).hexdigest() not in text


def test_writes_reuse_the_spare_tree_and_leave_no_old_value_on_disk(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    """The old tree is kept beside OUT as the spare for the next write, holding only OUT's files.

    A rotated value must not stay on disk anywhere beside OUT; the spare is git-ignored; its
    folders are reused (no new folder per bundle on each write); the output is a full run's.
    """
    build(repo)
    repo.write(".fleet-handshake.yaml", "source: incremental\n")  # OUT in git and the fresh run's OUT: one owner
    out = tmp_path / "work" / "out"
    out.parent.mkdir()
    git(out.parent, "init", "-q")
    generate(repo, out, key_env)
    spare = spare_tree(out)
    for round_, value in enumerate(["rotated-once-Tq3", "rotated-twice-Tq4", "rotated-thrice-Tq5"]):
        repo.encrypted("secrets/hs1.yaml", secret("s-hs1", stringData={"token": value}))
        folders = {p.name: p.stat().st_ino for p in spare.glob("*/*") if p.is_dir()} if spare.is_dir() else {}
        assert generate(repo, out, key_env)[:2] == (1, 3)
        assert without_removals(read_tree(out)) == full_run(repo, tmp_path, key_env)
        assert beside_out(out) == [".git"]  # OUT and its spare, which holds nothing OUT does not
        assert spare.is_dir()
        on_disk = b"".join(p.read_bytes() for p in out.parent.rglob("*") if p.is_file())
        assert base64.b64encode(b"incremental-canary-1-Vb7") not in on_disk
        assert b"incremental-canary-1-Vb7" not in on_disk
        if round_ >= 1:  # the spare of the round before was made into OUT: its folders were reused
            assert {p.name: p.stat().st_ino for p in out.glob("*/*") if p.is_dir()} == folders
    assert git(out.parent, "status", "--porcelain", "--untracked-files=all").splitlines() == [
        f"?? out/{path}" for path in sorted(read_tree(out))
    ]  # git sees OUT's files and nothing of the spare


def test_a_foreign_file_in_the_spare_tree_is_not_taken_for_outs(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    """Only a hard link to OUT's own unchanged file is kept in the spare: anything else put there
    (same name, same size, other content) is replaced, and the output is a full run's."""
    build(repo)
    out = tmp_path / "out"
    generate(repo, out, key_env)
    repo.encrypted("secrets/hs1.yaml", secret("s-hs1", stringData={"token": "rotated-once-Yp1"}))
    generate(repo, out, key_env)  # now the spare holds the old tree's shared files
    spare = spare_tree(out)
    victims = sorted(p for p in spare.rglob("fleet.yaml"))
    assert victims
    for path in victims:
        original = path.read_bytes()
        path.unlink()
        path.write_bytes(original.replace(b"namespace: apps", b"namespace: evil"))
    repo.encrypted("secrets/hs2.yaml", secret("s-hs2", stringData={"token": "rotated-once-Yp2"}))
    generate(repo, out, key_env)
    assert without_removals(read_tree(out)) == full_run(repo, tmp_path, key_env)
    assert b"namespace: evil" not in b"".join(read_tree(out).values())


def out_with_spare_tree(repo: SourceRepo, tmp_path: Path, env: dict[str, str]) -> Path:
    """OUT after two runs, the second with a change: the spare tree beside it exists."""
    build(repo)
    out = tmp_path / "out"
    generate(repo, out, env)
    repo.encrypted("secrets/hs1.yaml", secret("s-hs1", stringData={"token": "rotated-Lp1"}))
    generate(repo, out, env)
    assert spare_tree(out).is_dir()
    return out


def test_the_spare_trees_files_shared_with_out_are_kept_and_its_own_files_go(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """write_tree lists the spare tree and keeps the files it shares with OUT where they are (not
    written or linked again); a file of the spare's own (not a link to OUT's) never reaches OUT."""
    from fleethandshake.adapters.fs import spare as fs_spare
    from fleethandshake.adapters.fs import swap, tree

    out = out_with_spare_tree(repo, tmp_path, key_env)
    spare = spare_tree(out)
    old = tree.read_tree(out)
    shared = {p for p in old if (spare / p).exists() and (spare / p).stat().st_ino == (out / p).stat().st_ino}
    assert len(shared) >= len(old) - 3  # all but what the second run changed: hs1's Secret, the state
    (spare / "fleet-default" / "planted.yaml").write_text("planted: true\n")

    kept: list[set[str]] = []
    reconcile = fs_spare.reconcile

    def counted(*args: Any) -> set[str]:
        kept.append(reconcile(*args))
        return kept[-1]

    monkeypatch.setattr(fs_spare, "reconcile", counted)
    new = dict(old)
    new["fleet-default/extra/fleet.yaml"] = b"defaultNamespace: apps\n"
    new["fleet-default/planted.yaml"] = b"written: by the write\n"
    swap.write_tree(out, new, old, set())
    assert read_tree(out) == new
    assert kept == [shared]


def test_a_new_output_format_renders_every_handshake_again(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reuse without rendering holds only for output written in this version's format: output of
    an earlier version (unquoted strings, stringData) would otherwise stay as it was forever."""
    from fleethandshake.app.generate import generate as generate_here
    from fleethandshake.core import render

    build(repo)
    out = tmp_path / "out"
    for name, value in key_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(render, "OUTPUT_FORMAT", render.OUTPUT_FORMAT - 1)  # as an earlier version wrote it
    generate_here(repo.root, out, say=lambda _: None)
    monkeypatch.setattr(render, "OUTPUT_FORMAT", render.OUTPUT_FORMAT + 1)

    upgraded = generate_here(repo.root, out, say=lambda _: None).composition
    again = generate_here(repo.root, out, say=lambda _: None).composition

    assert (upgraded.decrypted_files, upgraded.reused) == (len(VALUES), 0)
    assert (again.decrypted_files, again.reused) == (0, len(VALUES))
