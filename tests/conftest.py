from __future__ import annotations

from pathlib import Path

import pytest

from fhtest import GIT_ENV, AgeKey, SourceRepo, bare_remote, make_age_key


@pytest.fixture(scope="session")
def age_key(tmp_path_factory: pytest.TempPathFactory) -> AgeKey:
    return make_age_key(tmp_path_factory.mktemp("keys"), "main")


@pytest.fixture(scope="session")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> AgeKey:
    return make_age_key(tmp_path_factory.mktemp("other-keys"), "other")


@pytest.fixture
def repo(tmp_path: Path, age_key: AgeKey) -> SourceRepo:
    return SourceRepo(tmp_path / "source", age_key)


@pytest.fixture
def key_env(age_key: AgeKey) -> dict[str, str]:
    return {"SOPS_AGE_KEY_FILE": str(age_key.key_file)}


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare output repository (main holds one commit) that refuses non-fast-forward pushes."""
    return bare_remote(tmp_path / "remote.git")


@pytest.fixture
def env_keys(key_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The key and a pinned git identity, in this process's environment and for child processes."""
    for k, v in {**key_env, **GIT_ENV}.items():
        monkeypatch.setenv(k, v)
    return {**key_env, **GIT_ENV}
