"""The records that carry clear text never show it in their repr (a log line, a traceback's
locals, a debugger): the files of a rendered bundle, an outcome, and a file still to be sealed."""

from __future__ import annotations

from fleethandshake.core.models import Handshake, Status, Target
from fleethandshake.core.output import Outcome
from fleethandshake.core.render import Rendered, Sealed

VALUE = b"fh-canary-repr-7d2e"


def test_clear_text_is_not_in_any_repr() -> None:
    hs = Handshake("ws", "db", "db-creds", "default", "apps", (Target(cluster_name="c1"),), "hs.yaml", 0)
    records = [
        Rendered({"ws/db-1/secret.yaml": VALUE}),
        Outcome(hs, Status.SYNCED, "", {"ws/db-1/secret.yaml": VALUE}),
        Sealed("ws/db-1/sopssecret.yaml", VALUE, ("age1x",), "_data"),
    ]
    for record in records:
        assert VALUE.decode() not in repr(record), type(record).__name__
