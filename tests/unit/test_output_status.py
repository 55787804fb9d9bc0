"""status.json keeps the layout it was first written in: one json.dumps row per handshake and per removal."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from fleethandshake.core import output
from fleethandshake.core.models import Status

TEXT = st.text(max_size=12)


def reference(
    changes: list[output.HandshakeChange], source: str = "", removed: tuple[output.Removal, ...] = ()
) -> bytes:
    """The format as it was first written: one json.dumps per handshake (and per removal)."""
    rows = [
        json.dumps(
            {
                "namespace": c.workspace,
                "name": c.name,
                "status": str(c.status),
                "message": c.message,
                "bundles": list(c.bundles),
            }
        )
        for c in changes
    ]
    body = ",\n    ".join(rows)
    gone = ",\n    ".join(json.dumps(r.to_dict()) for r in removed)
    gone = f"[\n    {gone}\n  ]" if gone else "[]"
    head = f'{{\n  "apiVersion": "fleet-handshake/v1",\n  "source": {json.dumps(source)},\n  "handshakes": [\n    '
    return f'{head}{body}\n  ],\n  "removed": {gone}\n}}\n'.encode()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.builds(
            output.HandshakeChange,
            TEXT,
            TEXT,
            st.sampled_from(list(Status)),
            TEXT,
            st.lists(TEXT, max_size=3).map(tuple),
            st.just(()),
            st.just(()),
        ),
        max_size=4,
    ),
    TEXT,
    st.lists(st.builds(output.Removal, st.sampled_from(["bundle", "Secret"]), TEXT.map(lambda t: f"ws/{t}"), TEXT),
             max_size=3).map(tuple),
)  # fmt: skip
def test_status_json_is_what_json_dumps_writes(
    changes: list[output.HandshakeChange], source: str, removed: tuple[output.Removal, ...]
) -> None:
    written = output.status_json(changes, source, [r.to_dict() for r in removed])
    assert written == reference(changes, source, removed)
    document = json.loads(written)
    assert [h["name"] for h in document["handshakes"]] == [c.name for c in changes]
    assert (document["source"], document["removed"]) == (source, [r.to_dict() for r in removed])
    # What status.json's readers (status, check-secrets) take from it.
    record = output.read_status(written)
    assert record is not None and record["source"] == source
    assert output.recorded_bundles(record) == {b for c in changes for b in c.bundles}


def test_only_a_status_record_is_read_as_one() -> None:
    for content in (
        None,
        b"",
        b"{}",
        b"[]",
        b"\xff",
        b"not json",
        b'{"apiVersion": "fleet-handshake/v2", "handshakes": []}',
        b'{"apiVersion": "fleet-handshake/v1"}',
        b'{"apiVersion": "fleet-handshake/v1", "handshakes": {}}',
    ):
        assert output.read_status(content) is None, content
    record = output.read_status(
        b'{"apiVersion": "fleet-handshake/v1", "handshakes": [1, {"bundles": "ws/b"}, {"bundles": ["ws/c", 2]}]}'
    )
    assert record is not None and output.recorded_bundles(record) == {"ws/c"}
