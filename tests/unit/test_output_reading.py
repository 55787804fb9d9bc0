"""The readings of render's own output that skip the YAML parser take every file render writes,
and read what the parser reads."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from test_render_properties import ENV, handshake_names, handshakes, plain_secrets

from fleethandshake.core import render
from fleethandshake.core.models import (
    LABEL_HANDSHAKE,
    LABEL_MANAGED_BY,
    LABEL_WORKSPACE,
    MANAGER,
    Handshake,
    PlainSecret,
    Target,
)
from fleethandshake.core.output import _parsed_labels, rendered_labels
from fleethandshake.core.yaml.reader import load
from fleethandshake.modes import NAMES, modes
from fleethandshake.modes.plain import rendered_secret_name


def recipients(target: Target) -> tuple[str, ...]:
    return ("age1example",)


@settings(max_examples=60, deadline=None)
@given(
    handshake=handshakes(),
    secret=plain_secrets,
    secret_name=handshake_names,  # DNS subdomains: dotted too
    mode=st.sampled_from(NAMES),
    source=st.sampled_from(["", "github.com-acme-fleet-out", "local"]),
)
def test_every_file_render_writes_is_read_without_the_parser(
    handshake: Handshake, secret: PlainSecret, secret_name: str, mode: str, source: str
) -> None:
    secret = replace(secret, name=secret_name)
    files = modes()[mode].render(ENV, handshake, secret, recipients, "rev1", source).files
    fleets = [content for path, content in files.items() if path.endswith(f"/{render.FLEET_YAML}")]
    secrets = [content for path, content in files.items() if path.endswith("/secret.yaml")]
    assert fleets and len(secrets) == (len(fleets) if mode == "plain" else 0)
    labels = [rendered_labels(content) for content in fleets]
    assert sum(found is not None for found in labels) == len(fleets)
    assert labels == [_parsed_labels(content) for content in fleets]
    names = [rendered_secret_name(content) for content in secrets]
    assert sum(name is not None for name in names) == len(secrets)
    assert names == [load(content)["metadata"]["name"] for content in secrets]


def test_other_text_is_left_to_the_parser() -> None:
    fleet = f"name: b\nlabels:\n  {LABEL_MANAGED_BY}: {MANAGER}\n  {LABEL_WORKSPACE}: ws\n  {LABEL_HANDSHAKE}: hs\n"
    assert rendered_labels(fleet.encode()) is None
    assert _parsed_labels(fleet.encode()) == ("ws", "hs", None)
    assert rendered_secret_name(b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n") is None
