from __future__ import annotations

import pytest

from fhtest import AgeKey
from hostile.corpus import Baseline, build_baseline


@pytest.fixture(scope="session")
def baseline(tmp_path_factory: pytest.TempPathFactory, age_key: AgeKey, other_key: AgeKey) -> Baseline:
    return build_baseline(tmp_path_factory.mktemp("hostile-baseline"), age_key, other_key)
