"""The removal guard: which removals a run refuses, decided from the old tree and the composition."""

from __future__ import annotations

import contextlib
import io

import pytest

from fleethandshake import cli
from fleethandshake.core import output, removals
from fleethandshake.core.models import (
    LABEL_HANDSHAKE,
    LABEL_MANAGED_BY,
    LABEL_SOURCE,
    LABEL_WORKSPACE,
    MANAGER,
    Handshake,
    Status,
    Target,
)

WS = "fleet-default"
SOURCE = "git.example.com-platform-secrets-out"  # the identity of the source these bundles belong to


def fleet_yaml(handshake: str, source: str = SOURCE) -> bytes:
    return (
        f"labels:\n  {LABEL_MANAGED_BY}: {MANAGER}\n  {LABEL_WORKSPACE}: {WS}\n  {LABEL_HANDSHAKE}: {handshake}\n"
        f"  {LABEL_SOURCE}: {source}\n"
    ).encode()


def out_tree(bundles: dict[str, int]) -> dict[str, bytes]:
    """OUT with `count` bundles of each handshake, as fleet-handshake labels them."""
    return {f"{WS}/{hs}-{i}/fleet.yaml": fleet_yaml(hs) for hs, count in bundles.items() for i in range(count)}


def outcome(name: str, status: Status = Status.SYNCED, keep: int | None = None) -> output.Outcome:
    """A handshake of this run; Synced with `keep` of its bundles (None: Missing/Error keep all)."""
    hs = Handshake(WS, name, "s", "default", "apps", (Target(cluster_name="c"),), "h.yaml", 0)
    files = {f"{WS}/{name}-{i}/fleet.yaml": fleet_yaml(name) for i in range(keep or 0)}
    return output.Outcome(hs, status, "", files)


def check(old_bundles: dict[str, int], outcomes: list[output.Outcome], allow: bool = False) -> removals.Removals:
    old = out_tree(old_bundles)
    return removals.check(old, output.compose(old, outcomes, SOURCE), allow=allow)


def test_the_share_is_of_this_sources_bundles_not_of_another_sources() -> None:
    """OUT shared with another source: its 20 folders (never removed by this run) do not dilute the share."""
    old = {
        **out_tree({"a": 1, "b": 7}),
        **{f"{WS}/theirs-{i}/fleet.yaml": fleet_yaml("theirs", "other") for i in range(20)},
    }
    verdict = removals.check(old, output.compose(old, [outcome("a", keep=1)], SOURCE))
    assert (len(verdict.gone), verdict.owned) == (7, 8)
    assert verdict.refused


def test_a_source_without_handshakes_may_not_empty_the_output() -> None:
    verdict = check({"a": 1}, [])
    assert verdict.refused
    assert verdict.gone == (f"{WS}/a-0",) and verdict.owned == 1
    assert verdict.refusal is not None and "no FleetHandshake" in verdict.refusal
    assert not check({}, []).refused  # nothing to remove


@pytest.mark.parametrize(
    ("gone", "kept", "refused"),
    [
        (6, 4, True),  # 60% and more than a handful
        (6, 6, False),  # exactly half
        (5, 0, False),  # all of them, but only a handful: a small output may lose a handshake
        (6, 5, True),
        (1, 0, False),
    ],
)
def test_the_share_of_bundles_of_gone_handshakes(gone: int, kept: int, refused: bool) -> None:
    old = {**{f"gone{i}": 1 for i in range(gone)}, "kept": kept}
    verdict = check(old, [outcome("kept", keep=kept)])
    assert len(verdict.gone) == gone
    assert verdict.owned == gone + kept
    assert verdict.refused is refused


def test_targets_removed_from_a_handshake_still_there_are_not_counted() -> None:
    verdict = check({"big": 20}, [outcome("big", keep=1)])
    assert (verdict.gone, verdict.refused) == ((), False)


def test_missing_and_error_handshakes_keep_their_bundles() -> None:
    verdict = check({"a": 10, "b": 1}, [outcome("a", Status.MISSING), outcome("b", Status.ERROR)])
    assert (verdict.gone, verdict.refused) == ((), False)


def test_allowed_removals_are_still_described() -> None:
    verdict = check({f"g{i}": 1 for i in range(8)}, [], allow=True)
    assert not verdict.refused and verdict.allowed and verdict.refusal is not None
    message = verdict.message()
    assert "8 of the output's 8 bundle(s)" in message
    assert ", ".join(f"{WS}/g{i}-0" for i in range(5)) + " and 3 more" in message
    assert "Nothing was written" in message and "--allow-removals" in message


def test_the_help_states_the_defaults() -> None:
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        assert cli.main(["generate", "--help"]) == 0
    text = " ".join(shown.getvalue().split())
    assert removals.MAX_SHARE == 0.5 and "more than half of OUT's bundles" in text
    assert f"more than {removals.HANDFUL}" in text
    assert removals.ALLOW_OPTION in text
