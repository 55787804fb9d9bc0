"""The delivery modes are listed once (modes.NAMES): every place that accepts a mode name takes it from there."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from fleethandshake import arguments, modes
from fleethandshake.app import action
from fleethandshake.core.config import parse_config
from fleethandshake.core.models import ANNOTATION_MODE
from fleethandshake.core.validate import validate_source
from fleethandshake.core.yaml.reader import Document
from fleethandshake.errors import UsageError

MODES_DIR = Path(modes.__file__).parent


def _mode_choices(parser: argparse.ArgumentParser) -> list[tuple[str, ...]]:
    found = []
    for a in parser._actions:
        if "--mode" in a.option_strings and a.choices is not None:
            found.append(tuple(a.choices))
        if isinstance(a, argparse._SubParsersAction):
            for sub in a.choices.values():
                found += _mode_choices(sub)
    return found


def _handshake(mode: str) -> Document:
    return Document(index=0, data={
        "apiVersion": "riverpointtechnology.com/v1alpha1", "kind": "FleetHandshake",
        "metadata": {"name": "h", "namespace": "fleet-default", "annotations": {ANNOTATION_MODE: mode}},
        "spec": {"secretName": "s", "secretNamespace": "default", "targetNamespace": "apps",
                 "targets": [{"clusterName": "c1"}]},
    })  # fmt: skip


def test_the_registry_is_the_one_mode_list() -> None:
    assert list(modes.modes()) == list(modes.NAMES)
    assert all(m.name == name for name, m in modes.modes().items())
    assert sorted(p.stem for p in MODES_DIR.glob("*.py") if p.stem not in ("__init__", "base")) == sorted(modes.NAMES)
    choices = _mode_choices(arguments.parser())
    assert len(choices) == 4 and set(choices) == {modes.NAMES}  # generate, plan, publish and action


@pytest.mark.parametrize("name", [*modes.NAMES, "sealed"])
def test_config_and_handshake_validation_accept_exactly_the_registry(name: str) -> None:
    accepted = name in modes.NAMES
    config, problems = parse_config(Document(index=0, data={"mode": name}))
    assert [p.path for p in problems] == ([] if accepted else ["mode"])
    assert config.mode == (name if accepted else modes.DEFAULT)
    _, problems = validate_source([("h.yaml", [_handshake(name)])])
    assert [p.path for p in problems] == ([] if accepted else [f"metadata.annotations['{ANNOTATION_MODE}']"])


@pytest.mark.parametrize("name", [*modes.NAMES, None])
def test_the_action_takes_every_mode_of_the_registry(name: str | None, tmp_path: Path) -> None:
    action.check_args(action.ActionArgs(command="validate", source=tmp_path, out=tmp_path / "o", mode=name))


def test_the_action_refuses_a_mode_the_registry_does_not_have(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--mode 'sealed' is not one of: plain, downstream, sops$"):
        action.check_args(action.ActionArgs(command="validate", source=tmp_path, out=tmp_path / "o", mode="sealed"))
