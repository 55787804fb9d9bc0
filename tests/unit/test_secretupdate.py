"""What Kubernetes refuses as an update of a Secret (ValidateSecretUpdate), table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from fleethandshake.core.secretupdate import refused_change

DATA = {"password": "aHVudGVyMg=="}  # base64 of the bytes hunter2


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({"data": DATA}, {"type": "Opaque", "data": DATA}, None),  # no type is Opaque
        ({"type": "", "data": DATA}, {"type": "Opaque", "data": DATA}, None),
        ({"data": DATA}, {"type": "kubernetes.io/basic-auth", "data": DATA}, "type Opaque -> kubernetes.io/basic-auth"),
        ({"data": DATA}, {"data": {"password": "b3RoZXI="}}, None),  # a mutable Secret's data may change
        ({"data": DATA}, {"data": DATA, "immutable": True}, None),  # and it may become immutable
        ({"immutable": True, "data": DATA}, {"immutable": True, "stringData": {"password": "hunter2"}}, None),
        (
            {"immutable": True, "data": DATA, "metadata": {"labels": {"a": "b"}}},
            {"immutable": True, "data": DATA},
            None,
        ),
        ({"immutable": True, "data": DATA}, {"immutable": True, "data": {}}, "immutable Secret's data changed"),
        ({"immutable": True, "data": DATA}, {"data": DATA}, "immutable Secret's immutable changed"),
        ({"immutable": True, "data": DATA}, {"immutable": True, "type": "x/y", "data": DATA}, "type Opaque -> x/y"),
    ],
)
def test_refused_change(old: dict[str, Any], new: dict[str, Any], expected: str | None) -> None:
    assert refused_change(old, new) == expected
