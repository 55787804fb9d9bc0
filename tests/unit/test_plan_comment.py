"""The pull-request comment at 3 to 500 changed bundles and 10 to 5,000 clusters (issue 15).

Plans come from the core's own rendering and planning of a synthetic fleet (tests/planscale.py),
whose every value is a canary.
"""

from __future__ import annotations

import re
from functools import cache

import pytest

import planscale
from fleethandshake.core import plancomment, planreport, planrows
from fleethandshake.core.plan import Plan

LIMIT = plancomment.COMMENT_LIMIT
SHORTENED = "✂️ **Shortened to stay under GitHub's comment limit**"


@cache
def scaled(changed: int, clusters: int, removed: int = 0) -> Plan:
    return planscale.plan_in_memory(planscale.fleet(changed, clusters, removed=removed, added=removed))


def table_rows(text: str) -> list[str]:
    """The rows of the changed Secrets: the first screen's table and the collapsed one after it."""
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| Secret |")]


@pytest.mark.parametrize(
    ("changed", "clusters", "removed"),
    [(3, 10, 0), (3, 200, 1), (35, 10, 0), (35, 200, 0), (35, 5000, 2), (350, 2000, 20), (500, 10, 0),
     (500, 5000, 30)],
)  # fmt: skip
def test_the_comment_fits_and_every_block_is_whole(changed: int, clusters: int, removed: int) -> None:
    plan = scaled(changed, clusters, removed)
    assert sum(1 for b in plan.bundles if b.change != "unchanged") == changed
    text = planreport.to_markdown(plan)
    planscale.check_markdown(text, LIMIT)
    full = planreport.to_markdown(plan, limit=None)
    planscale.check_markdown(full, len(full))
    assert (SHORTENED in text) == (text != full), "the note is there exactly when something was left out"
    assert SHORTENED not in full
    assert planscale.leaks(text) == [] and planscale.leaks(full) == []
    assert text.endswith("never a value.</sub>\n")
    # The first screen: a heading, the summary line, the table. Every changed Secret has a row there
    # up to 350 changed bundles (150 Secrets); rows are left out only beyond that, and then said so.
    lines = text.splitlines()
    assert lines[2].startswith(f"**{len({(b.workspace, b.secret) for b in plan.bundles if b.change != 'unchanged'})}")
    assert lines.index(next(line for line in lines if line.startswith("| Secret |"))) <= 8
    rows = table_rows(text)
    all_rows = planrows.rows(plan)
    if changed <= 350:
        assert len(rows) == len(all_rows)
    if len(rows) < len(all_rows):
        assert f"the rows of {len(all_rows) - len(rows)} more Secrets (of {len(all_rows)})" in text


def test_removals_come_first_and_stay_when_rows_are_left_out() -> None:
    plan = scaled(500, 200, 30)
    for limit in (LIMIT, 8_000):
        text = planreport.to_markdown(plan, limit=limit)
        planscale.check_markdown(text, limit)
        icons = [row.split("|")[1].split()[0] for row in table_rows(text)]
        removed, added = min(30, len(icons)), min(60, len(icons))
        assert icons[:removed] == ["🔴"] * removed and "🔴" not in icons[removed:]
        assert icons[removed:added] == ["🟢"] * (added - removed) and set(icons[added:]) <= {"🟡"}
    assert "the rows of" in text and "more Secrets (of " in text


def test_a_small_plan_is_whole_and_names_keys_clusters_and_targets() -> None:
    plan = scaled(3, 10)
    text = planreport.to_markdown(plan)
    assert SHORTENED not in text and text == planreport.to_markdown(plan, limit=None)
    rows = table_rows(text)
    assert rows == ["| 🟡 `apps/orders-db-credentials` | changed `password` | 4 | env=prod, geo=us: 2 · "
                    "group prod-eu: 2 · group edge: 0 |"]  # fmt: skip
    # Cluster names only inside the collapsed blocks, as display names, never Rancher's ids.
    before_details = text.split("<details>")[0]
    assert "prod-eu-0000" not in before_details and "prod-eu-0000" in text
    assert planscale.cluster_id(0) not in text.split("Per cluster")[0]
    assert "Per cluster: 4 clusters in 1 group of the same changes" in text


def test_a_target_that_reaches_no_cluster_is_explained() -> None:
    plan = scaled(35, 200)
    text = planreport.to_markdown(plan)
    assert "cluster dev-eu-0003: 0" in text  # an earlier target (env in (staging, dev)) takes it
    assert plancomment.ZERO_CLUSTERS in text
    assert planreport.NO_CLUSTER not in planreport.to_markdown(scaled(3, 10))
    assert "clusters: none in the inventory (no cluster matches this target, or earlier targets" in planreport.to_text(
        plan
    )


def test_the_issue_case_is_whole_and_ten_times_larger_fits() -> None:
    """40 handshakes, 200 clusters, 15 Secrets rotated (35 bundles): all of it fits, the per-cluster list
    grouped by the same changes. Ten times larger (350 bundles, 2,000 clusters): detail is left out."""
    text = planreport.to_markdown(scaled(35, 200))
    assert SHORTENED not in text
    assert text.startswith("### fleet-handshake plan\n\n**15 Secrets change in 35 bundles in fleet-default, on ")
    assert "Clusters per Secret and target (" in text and "Bundles (35)" in text
    assert re.search(r"Per cluster: \d+ clusters in \d+ groups of the same changes", text)
    larger = planreport.to_markdown(scaled(350, 2000, 20))
    assert "left out the per-cluster list, the per-bundle details and cluster names beyond " in larger
    assert "15 more changed Secrets" not in larger and "more changed Secrets</summary>" in larger


def test_no_inventory_says_how_to_get_cluster_counts() -> None:
    from dataclasses import replace

    plan = scaled(3, 10)
    bare = replace(plan, clusters=None, bundles=tuple(replace(b, clusters=None) for b in plan.bundles))
    text = planreport.to_markdown(bare)
    planscale.check_markdown(text, LIMIT)
    assert "| Secret | Change | Where |" in text and "Cluster counts need an inventory" in text


def test_no_changes() -> None:
    plan = planscale.plan_in_memory(planscale.fleet(0, 10))
    text = planreport.to_markdown(plan)
    assert text.splitlines()[2] == "**No changes**: 37 bundles, all unchanged."
    assert "|" not in text and "<details>" not in text


def test_names_from_the_inventory_cannot_open_html_in_the_comment() -> None:
    from dataclasses import replace

    plan = scaled(3, 10)
    hostile = {key: f"<details><summary>{name}" for key, name in plan.display.items()}
    text = planreport.to_markdown(replace(plan, display=hostile))
    planscale.check_markdown(text, LIMIT)
    assert "&lt;details>&lt;summary>prod-eu-0000" in text


def test_long_conflict_messages_are_cut_to_fit() -> None:
    """One conflict may name hundreds of handshakes: 20 such messages would be 140,000 characters
    under "Needs attention", which no level of detail shortens; each line is cut instead."""
    from dataclasses import replace

    from fleethandshake.core.conflicts import Conflict

    plan = scaled(3, 10)
    names = tuple(f"handshake-number-{i:03d}" for i in range(300))
    message = f"handshakes {', '.join(names)} all deliver Secret apps/db to cluster c-1"
    crowded = replace(plan, conflicts=tuple(Conflict("duplicate-delivery", "ws", f"c-{i}", names, message)
                                           for i in range(20)))  # fmt: skip
    text = planreport.to_markdown(crowded)
    planscale.check_markdown(text, LIMIT)
    assert text.count("(cut: the full plan has it all)") == 20
