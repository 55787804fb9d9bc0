"""status.json is written without a json.dumps per row: it must be exactly what json.dumps writes."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from fleethandshake.core import output
from fleethandshake.core.models import Status

TEXT = st.text(max_size=12)


def reference(changes: list[output.HandshakeChange]) -> bytes:
    """The format as it was first written: one json.dumps per handshake."""
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
    return f'{{\n  "apiVersion": "fleet-handshake/v1",\n  "handshakes": [\n    {body}\n  ]\n}}\n'.encode()


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
    )
)
def test_status_json_is_what_json_dumps_writes(changes: list[output.HandshakeChange]) -> None:
    written = output.status_json(changes)
    assert written == reference(changes)
    assert [h["name"] for h in json.loads(written)["handshakes"]] == [c.name for c in changes]
