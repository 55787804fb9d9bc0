"""What is in OUT and beside it that fleet-handshake did not write stays as it is; what it wrote
before leaves nothing behind; OUT itself keeps its permissions, whatever its name."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from fhtest import (
    AgeKey,
    SourceRepo,
    beside_out,
    git,
    handshake,
    read_tree,
    run_cli,
    secret,
    spare_tree,
    without_removals,
)

VALUES = {"a": "kept-canary-a-Tq83", "b": "kept-canary-b-Lw02", "c": "kept-canary-c-Pz77"}
Entry = tuple[str, object, int]  # kind, content (bytes or link text), permission bits


def build(repo: SourceRepo, names: tuple[str, ...] = ("a", "b", "c"), version: str = "") -> None:
    repo.handshakes("hs.yaml", *(handshake(n, f"s-{n}", [{"clusterName": f"c-{n}"}]) for n in names))
    for name in names:
        repo.encrypted(f"secrets/{name}.yaml", secret(f"s-{name}", stringData={"token": VALUES[name] + version}))


def generate(repo: SourceRepo, out: Path, env: dict[str, str]) -> str:
    result = run_cli("generate", repo.root, "--out", out, env=env)
    assert result.code == 0, result.stderr
    return result.stderr


def entries(root: Path) -> dict[str, Entry]:
    """Every entry below `root` as lstat sees it: links are read, never followed; pipes never opened."""
    found: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            info = path.lstat()
            rel = path.relative_to(root).as_posix()
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("link", os.readlink(path), 0)
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = ("folder", None, stat.S_IMODE(info.st_mode))
            elif stat.S_ISFIFO(info.st_mode):
                found[rel] = ("fifo", None, stat.S_IMODE(info.st_mode))
            else:
                found[rel] = ("file", path.read_bytes(), stat.S_IMODE(info.st_mode))
    return found


def bundle(out: Path, name: str) -> Path:
    (found,) = (p for p in (out / "fleet-default").iterdir() if p.name.startswith(f"{name}-") and p.is_dir())
    return found


def add_foreign(out: Path, outside: Path) -> set[str]:
    """Things a person (or another tool) put into OUT; returns their paths."""
    (out / "README.md").write_text("written by a person\n")
    (out / "README.md").chmod(0o600)
    (out / "docs" / "private").mkdir(parents=True)
    (out / "docs" / "private").chmod(0o700)
    (out / "docs" / "x.txt").write_text("x\n")
    (out / "empty").mkdir()
    (out / "fleet-default" / "hand-made").mkdir()
    (out / "fleet-default" / "hand-made" / "fleet.yaml").write_text("namespace: apps\n")
    (out / "link-in").symlink_to("README.md")
    (out / "link-out").symlink_to(outside)
    (out / "link-dir-out").symlink_to(outside.parent, target_is_directory=True)
    (out / "dangling").symlink_to("nothing-here")
    os.mkfifo(out / "pipe")
    for name in ("a", "b"):
        folder = bundle(out, name)
        (folder / "extra.txt").write_text(f"extra in {name}\n")
        (folder / "notes").mkdir()
        (folder / "notes" / "n.yaml").write_text("mine: true\n")
        (folder / "up").symlink_to("../../README.md")
    (out / "nested" / ".git").mkdir(parents=True)
    (out / "nested" / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    before = entries(out)
    own = {
        p for p in read_tree(out) if p.startswith(".fleet-handshake/") or p.endswith(("/fleet.yaml", "/secret.yaml"))
    }
    return {p for p in before if p not in own and not _is_own_folder(p, before, own)}


def _is_own_folder(path: str, found: dict[str, Entry], own: set[str]) -> bool:
    return found[path][0] == "folder" and any(p.startswith(path + "/") for p in own)


@pytest.mark.parametrize("run", ["no-change", "one-change", "full", "handshake-removed"])
def test_what_fleet_handshake_did_not_write_survives_every_run(
    run: str, repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    outside = tmp_path / "outside" / "target.txt"
    outside.parent.mkdir()
    outside.write_text("outside OUT\n")
    build(repo)
    out = tmp_path / "work" / "out"
    generate(repo, out, key_env)
    build(repo, version="-1")
    generate(repo, out, key_env)  # a changing run: the spare tree exists from here on
    foreign = add_foreign(out, outside)
    before = entries(out)

    if run == "one-change":
        repo.encrypted("secrets/c.yaml", secret("s-c", stringData={"token": "rotated"}))
    elif run == "full":
        shutil.rmtree(spare_tree(out).parent)  # no spare: the new tree is built from scratch
        build(repo, version="-2")
    elif run == "handshake-removed":
        build(repo, names=("a", "c"))
    said = generate(repo, out, key_env)

    after = entries(out)
    assert {p: after.get(p) for p in foreign} == {p: before[p] for p in foreign}
    assert outside.read_text() == "outside OUT\n"
    assert sorted(os.listdir(outside.parent)) == ["target.txt"]
    assert ("no changes" in said) == (run == "no-change"), said
    if run == "handshake-removed":
        assert not any(p.endswith(("/fleet.yaml", "/secret.yaml")) and "/b-" in p for p in after)
        assert "removed  fleet-default/b-" in said
    # fleet-handshake's own files are what a run into an empty folder writes
    fresh = tmp_path / "fresh"
    generate(repo, fresh, key_env)
    ours = without_removals({p: c for p, c in read_tree(out).items() if p in read_tree(fresh)})
    assert ours == without_removals(read_tree(fresh))  # status.json's removals tell history, not content
    assert not read_tree(fresh).keys() - read_tree(out).keys()
    assert beside_out(out) == []


def test_a_link_where_a_bundle_folder_must_go_is_replaced_and_not_followed(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("untouched\n")
    build(repo)
    out = tmp_path / "out"
    generate(repo, out, key_env)
    expected = read_tree(out)
    folder = bundle(out, "a")
    shutil.rmtree(folder)
    folder.symlink_to(victim, target_is_directory=True)

    generate(repo, out, key_env)

    assert not folder.is_symlink()
    assert read_tree(out) == expected
    assert sorted(os.listdir(victim)) == ["keep.txt"] and (victim / "keep.txt").read_text() == "untouched\n"


def test_no_clear_text_of_an_earlier_mode_stays_beside_out(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str], other_key: AgeKey
) -> None:
    """OUT lives in a git work tree. Plain-mode output is written (the spare tree beside OUT then
    holds hard links to its files); someone switches the source to sops mode and commits that
    output on another branch; here, git checks it out. git removes OUT's secret.yaml files,
    which leaves the spare tree the only link to them, and the next run writes nothing: it must
    still leave no clear text on disk beside OUT."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "--quiet", "--initial-branch=main")
    out = work / "bundles"
    build(repo)
    generate(repo, out, key_env)
    repo.encrypted("secrets/c.yaml", secret("s-c", stringData={"token": "rotated"}))
    generate(repo, out, key_env)  # the spare keeps links to a's and b's secret.yaml, unchanged
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "plain")
    assert any(p.endswith("/secret.yaml") for p in read_tree(spare_tree(out)))

    scopes = "".join(f"    - clusterName: c-{n}\n      age: [{other_key.recipient}]\n" for n in VALUES)
    config = f"apiVersion: fleet-handshake/v1alpha1\nkind: Config\nmode: sops\nsops:\n  recipients:\n{scopes}"
    repo.write(".fleet-handshake.yaml", config)
    elsewhere = tmp_path / "elsewhere"
    git(work, "worktree", "add", "--quiet", "-b", "sops", str(elsewhere))
    generate(repo, elsewhere / "bundles", key_env)
    git(elsewhere, "add", "-A")
    git(elsewhere, "commit", "--quiet", "-m", "sops mode")
    git(work, "worktree", "remove", str(elsewhere))
    git(work, "checkout", "--quiet", "sops")
    assert not any(p.endswith("/secret.yaml") for p in read_tree(out))

    said = generate(repo, out, key_env)

    assert "no changes" in said
    assert beside_out(out) == [".git"]
    assert not any(p.endswith("/secret.yaml") for p in read_tree(out.parent) if "/.git/" not in f"/{p}")


def test_staging_folders_are_cleaned_when_out_is_a_link_with_another_name(
    repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    build(repo)
    real = tmp_path / "work" / "real-out"
    real.mkdir(parents=True)
    out = tmp_path / "work" / "bundles"
    out.symlink_to(real, target_is_directory=True)
    stale = real.parent / ".real-out.fh-staging-0123456789ab"  # left by a killed run
    stale.mkdir()
    (stale / "secret.yaml").write_text("left behind\n")

    generate(repo, out, key_env)

    assert not stale.exists()
    assert out.is_symlink()
    assert sorted(p.name for p in real.parent.iterdir() if ".fh-staging-" in p.name) == []


@pytest.mark.parametrize("mode", [0o750, 0o755, 0o775, 0o700])
def test_out_keeps_its_permissions(mode: int, repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]) -> None:
    build(repo)
    out = tmp_path / "out"
    generate(repo, out, key_env)
    out.chmod(mode)
    build(repo, version="-1")

    said = generate(repo, out, key_env)

    assert "wrote" in said
    assert stat.S_IMODE(out.stat().st_mode) == mode


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o755), (0o027, 0o750), (0o002, 0o775)])
def test_a_new_out_is_made_as_mkdir_makes_a_folder(
    umask: int, mode: int, repo: SourceRepo, tmp_path: Path, key_env: dict[str, str]
) -> None:
    build(repo)
    out = tmp_path / "out"
    previous = os.umask(umask)  # the child process running the tool inherits it
    try:
        generate(repo, out, key_env)
    finally:
        os.umask(previous)

    assert stat.S_IMODE(out.stat().st_mode) == mode
