"""A large run shares its work with a forked child (parsing, decrypting and rendering, writing):
the output must be exactly what one process writes, and an error must come through."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhtest import SourceRepo, handshake, read_tree, secret
from fleethandshake.adapters import background
from fleethandshake.adapters.fs import swap
from fleethandshake.app import build
from fleethandshake.app import source as source_loader
from fleethandshake.app.generate import generate

COUNT = 12


@pytest.fixture
def source(repo: SourceRepo, key_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> SourceRepo:
    """COUNT handshakes and Secrets, and the key in this process's environment (generate runs here)."""
    for name, value in key_env.items():
        monkeypatch.setenv(name, value)
    for i in range(COUNT):
        repo.handshakes(
            f"handshakes/hs{i}.yaml",
            handshake(f"hs{i}", f"s{i}", [{"clusterName": f"c{i}"}, {"clusterGroup": "all"}]),
        )
        repo.encrypted(f"secrets/s{i}.yaml", secret(f"s{i}", stringData={"token": f"two-cores-{i}-Kq8"}))
    return repo


def share_from(monkeypatch: pytest.MonkeyPatch, threshold: int) -> None:
    for module in (source_loader, build, swap):
        monkeypatch.setattr(module, "_SHARE", threshold)


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pid of every child the run forked."""
    started: list[int] = []
    original = background.Background._start

    def spy(self: background.Background[object]) -> None:
        original(self)
        if self._pid is not None:
            started.append(self._pid)

    monkeypatch.setattr(background.Background, "_start", spy)
    return started


def test_shared_run_writes_what_one_process_writes(
    source: SourceRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int]
) -> None:
    say: list[str] = []

    share_from(monkeypatch, 10**9)
    # Both named `out`: outside git the source identity, which the labels carry, is OUT's folder name.
    generate(source.root, tmp_path / "alone" / "out", say=say.append)
    assert forks == []

    share_from(monkeypatch, 4)
    generate(source.root, tmp_path / "both" / "out", say=say.append)
    assert len(forks) == 3  # parsing, decrypting and rendering, writing

    alone, shared = read_tree(tmp_path / "alone" / "out"), read_tree(tmp_path / "both" / "out")
    assert shared == alone  # bundles, status.json and state.json (its keyed value digests too)
    assert sum(p.endswith("/secret.yaml") for p in shared) == 2 * COUNT
    assert {oct(p.stat().st_mode & 0o777) for p in (tmp_path / "both" / "out").glob("*/*/secret.yaml")} == {"0o600"}


def test_an_error_in_the_child_is_raised_here(
    source: SourceRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int]
) -> None:
    """A render failing in the child fails the run as it would in one process; OUT is untouched."""
    share_from(monkeypatch, 4)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine\n")
    original = build._render

    def failing(env: object, item: build._Work, *rest: object) -> None:
        if item.hs.name == "hs1":  # s1.yaml is the child's: every second file
            raise RuntimeError("boom in the child")
        original(env, item, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(build, "_render", failing)
    with pytest.raises(RuntimeError, match="boom in the child"):
        generate(source.root, out, say=lambda _: None)
    assert len(forks) == 3  # reading OUT, parsing, then decrypting and rendering; nothing was written
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
