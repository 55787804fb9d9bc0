from __future__ import annotations

from pathlib import Path

import pytest

from fhtest import AgeKey, SourceRepo, make_age_key


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
