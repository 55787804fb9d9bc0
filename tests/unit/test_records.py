"""core.records behaves like the standard library's dataclasses for the subset the project uses."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from fleethandshake.core import records

# Each record shape the project uses, built twice: with dataclasses and with core.records.
SHAPES: dict[str, Callable[[Any, Any], type]] = {}


def shape(fn: Callable[[Any, Any], type]) -> Callable[[Any, Any], type]:
    SHAPES[fn.__name__] = fn
    return fn


@shape
def frozen(dataclass: Any, field: Any) -> type:
    @dataclass(frozen=True)
    class Point:
        x: int
        y: str = "y"
        tags: tuple[str, ...] = field(default_factory=tuple)

    return Point


@shape
def frozen_slots(dataclass: Any, field: Any) -> type:
    @dataclass(frozen=True, slots=True)
    class Slim:
        a: int
        b: Any = None

    return Slim


@shape
def mutable(dataclass: Any, field: Any) -> type:
    @dataclass
    class Bag:
        name: str
        items: list[int] = field(default_factory=list)
        counts: dict[str, int] = field(default_factory=dict)

    return Bag


@shape
def unhashed_field(dataclass: Any, field: Any) -> type:
    @dataclass(frozen=True)
    class Labelled:
        name: str
        labels: dict[str, str] = field(default_factory=dict, hash=False)

    return Labelled


@shape
def own_repr(dataclass: Any, field: Any) -> type:
    @dataclass(frozen=True)
    class Hidden:
        secret: str
        count: int = 0

        def __repr__(self) -> str:
            return f"Hidden(count={self.count})"

    return Hidden


CALLS: dict[str, list[tuple[tuple[Any, ...], dict[str, Any]]]] = {
    "frozen": [((1,), {}), ((1, "b"), {}), ((), {"x": 2, "tags": ("t",)}), ((1,), {"y": "q"})],
    "frozen_slots": [((1,), {}), ((1, (2,)), {}), ((), {"b": 3, "a": 4})],
    "mutable": [(("n",), {}), (("n", [1]), {"counts": {"a": 1}})],
    "unhashed_field": [(("n",), {}), (("n",), {"labels": {"a": "b"}})],
    "own_repr": [(("s",), {}), (("s", 3), {})],
}
BAD_CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}),  # missing required
    ((1, "b", (), 4), {}),  # too many positional
    ((1,), {"x": 2}),  # twice
    ((1,), {"nope": 2}),  # unknown keyword
]


def both(name: str) -> tuple[type, type]:
    build = SHAPES[name]
    return build(dataclasses.dataclass, dataclasses.field), build(records.dataclass, records.field)


def state(obj: Any) -> tuple[Any, ...]:
    return tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_construction_equality_hash_repr_match_dataclasses(name: str) -> None:
    std, ours = both(name)
    for args, kwargs in CALLS[name]:
        a, b = std(*args, **kwargs), ours(*args, **kwargs)
        assert state(a) == tuple(getattr(b, n) for n in ours.__record_fields__)
        assert repr(a).replace("test_records.", "").split("(", 1)[1] == repr(b).split("(", 1)[1]
        assert (b == ours(*args, **kwargs)) is True
        assert (b != ours(*args, **kwargs)) is False
        assert b != a  # a different class is never equal, as with dataclasses
        if std.__hash__ is None:
            assert ours.__hash__ is None
        else:
            assert hash(b) == hash(ours(*args, **kwargs)) == hash(a)
    assert std.__name__ == ours.__name__ and std.__qualname__ == ours.__qualname__


@pytest.mark.parametrize("name", ["frozen", "frozen_slots"])
def test_bad_calls_raise_type_error_like_dataclasses(name: str) -> None:
    std, ours = both(name)
    for args, kwargs in BAD_CALLS:
        with pytest.raises(TypeError) as expected:
            std(*args, **kwargs)
        with pytest.raises(TypeError) as got:
            ours(*args, **kwargs)
        first = str(expected.value).split("'")[1::2][:1]
        assert first == str(got.value).split("'")[1::2][:1], (args, kwargs, expected.value, got.value)


def test_frozen_records_cannot_change_and_mutable_ones_can() -> None:
    point = both("frozen")[1](1)
    with pytest.raises(records.FrozenInstanceError):
        point.x = 2
    with pytest.raises(AttributeError):
        del point.x
    bag = both("mutable")[1]("n")
    bag.name = "m"
    assert bag.name == "m"
    assert bag.items == [] and bag.items is not both("mutable")[1]("n").items  # a fresh list per instance


def test_slots_record_has_no_dict_and_survives_copy_and_pickle() -> None:
    slim_cls = both("frozen_slots")[1]
    slim = slim_cls(1, (2, 3))
    assert not hasattr(slim, "__dict__")
    assert copy.deepcopy(slim) == slim and copy.copy(slim) == slim
    slim_cls.__qualname__ = "Slim"  # pickle finds classes by module and qualified name
    globals()["Slim"] = slim_cls
    try:
        assert pickle.loads(pickle.dumps(slim)) == slim
    finally:
        del globals()["Slim"]


def test_replace_matches_dataclasses() -> None:
    std, ours = both("frozen")
    a, b = std(1, "b", ("t",)), ours(1, "b", ("t",))
    assert state(dataclasses.replace(a, y="z")) == state_of(records.replace(b, y="z"))
    assert records.replace(b) == b and records.replace(b) is not b
    with pytest.raises(TypeError):
        records.replace(b, nope=1)
    with pytest.raises(TypeError):
        records.replace(object())


def state_of(obj: Any) -> tuple[Any, ...]:
    return tuple(getattr(obj, n) for n in type(obj).__record_fields__)


def test_own_repr_is_kept() -> None:
    hidden = both("own_repr")[1]("s3cr3t", 2)
    assert repr(hidden) == "Hidden(count=2)"


def test_field_rules_match_dataclasses() -> None:
    with pytest.raises(ValueError):
        records.field(default=1, default_factory=list)
    with pytest.raises(ValueError):

        @records.dataclass
        class Shared:
            items: list[int] = []  # noqa: RUF012 - the mistake under test

    with pytest.raises(TypeError):

        @records.dataclass
        class Order:
            a: int = 1
            b: int  # type: ignore[misc]


def test_commands_do_not_import_dataclasses_or_inspect() -> None:
    """The point of core.records: start-up without `dataclasses` (and the `inspect` it imports)."""
    code = (
        "import sys\n"
        "import fleethandshake.cli, fleethandshake.app.validate, fleethandshake.app.generate\n"
        "import fleethandshake.app.plan\n"
        "print(sorted(m for m in ('dataclasses', 'inspect') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
