"""The plan as a pull-request comment: Markdown for 1 to 500 changed bundles and 10 to 5,000 clusters.

The first screen is one summary line and a table with one row per changed Secret, removals first:
which keys change (by name), on how many clusters, and where (the targets' cluster groups and
labels). Cluster names appear only inside collapsed blocks. The comment always fits `limit`: when
the whole plan does not, detail is left out in a planned order (`_LEVELS`), whole blocks at a time,
and the comment says what it left out and where the full plan is. Never a value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .plan import MODIFIED, REMOVED, UNCHANGED, BundleDiff, Plan
from .planrows import ICON, ORDER, Row, cell, clip, details, place, plural, row_line, rows, summary, table, where

# GitHub refuses an issue or pull-request comment longer than 65,536 characters; the rest is room
# for the marker the Action puts in front and for anything a workflow adds.
COMMENT_LIMIT = 60_000
FULL_PLAN_CLI = "`fleet-handshake plan` with `--format json` (or `--format text`) has all of it."
FOOTER = "<sub>Plans show names, key names and clusters only: never a value.</sub>"
ZERO_CLUSTERS = (
    "A target with 0 clusters: no cluster in the inventory matches it, or an earlier target of the same "
    "handshake takes every cluster it matches (the first matching target wins)."
)
MAX_ATTENTION = 20  # conflicts and handshakes not Synced, one line each
MAX_MOVES = 50


@dataclass(frozen=True)
class _Level:
    """How much detail one attempt keeps. Each level leaves out more than the one before."""

    per_cluster: bool = True
    names: int | None = 50  # cluster names per target; None: no cluster lists at all
    bundles: bool = True
    moves: bool = True
    left_out: tuple[str, ...] = ()


def _levels() -> tuple[_Level, ...]:
    """The planned order of leaving things out: first what matters least to a reviewer of the change.

    The per-cluster list; then cluster names beyond a number per target (fewer and fewer), with and
    then without the per-bundle details; then every cluster name; then the list of moves. The table
    comes last (render).
    """
    per_cluster = "the per-cluster list"
    levels = [_Level(), _Level(per_cluster=False, left_out=(per_cluster,))]
    dropped: tuple[str, ...]
    for bundles, caps in ((True, (20, 10)), (False, (50, 20, 10, 5, 3))):
        dropped = (per_cluster,) if bundles else (per_cluster, "the per-bundle details")
        for cap in caps:
            levels.append(_Level(False, cap, bundles, left_out=(*dropped, f"cluster names beyond {cap} per target")))
    dropped = (per_cluster, "the per-bundle details", "the cluster names")
    levels.append(_Level(False, None, False, left_out=dropped))
    levels.append(_Level(False, None, False, False, left_out=(*dropped, "the list of moves")))
    return tuple(levels)


_LEVELS = _levels()
FULL = "the full plan"


def attention(plan: Plan) -> list[str]:
    if not (plan.conflicts or plan.not_synced):
        return []
    items = [f"- **{c.kind}**: {cell(clip(c.message, FULL))}" for c in plan.conflicts]
    items += [
        f"- **{h.status.value}** `{h.workspace}/{h.name}`: {cell(clip(h.message, FULL))}" for h in plan.not_synced
    ]
    more = [f"- … and {len(items) - MAX_ATTENTION} more (in the full plan)"] if len(items) > MAX_ATTENTION else []
    return ["#### ⚠️ Needs attention", "", *items[:MAX_ATTENTION], *more, ""]


def _display(plan: Plan, workspace: str, clusters: Iterable[str]) -> list[str]:
    return sorted(plan.display.get((workspace, c)) or c for c in clusters)


def _list(names: list[str], limit: int) -> str:
    return ", ".join(names[:limit]) + (f" … +{len(names) - limit} more" if len(names) > limit else "")


Named = list[tuple[str, list[tuple[str, list[str]]]]]  # per row: its heading, and per place its clusters


def named(plan: Plan, all_rows: list[Row]) -> Named:
    """Each row's places (targets, and clusters gaining or losing it) with their display names, sorted."""
    out: Named = []
    for r in all_rows:
        places = [(place(where), _display(plan, r.workspace, clusters or ())) for where, clusters in where(r)]
        for attr, word in (("clusters_gained", "gains"), ("clusters_lost", "loses")):
            if r.change == MODIFIED and (moved := _display(plan, r.workspace, r.clusters(attr))):
                places.append((f"{word} the Secret", moved))
        out.append((f"**{cell(r.workspace)} `{cell(r.secret)}`** ({r.change})", places))
    return out


def cluster_names(rows_named: Named, total: int, limit: int, budget: int | None = None) -> list[str]:
    """Display names per changed Secret and place, `limit` per place; cut short once over `budget`."""
    body: list[str] = []
    size = 0
    for heading, places in rows_named:
        if budget is not None and size > budget:
            break
        lines = [heading, ""]
        for label, names in places:
            listed = f": {cell(_list(names, limit))}" if names else ""
            lines.append(f"- {cell(label)}: **{len(names)}**{listed}")
        body += [*lines, ""]
        size += sum(map(len, lines))
    return details(f"Clusters per Secret and target ({total} clusters, display names)", body[:-1])


def bundle_lines(plan: Plan, detail: Callable[[BundleDiff], str]) -> list[str]:
    changed = [d for d in plan.bundles if d.change != UNCHANGED]
    changed.sort(key=lambda d: ORDER[d.change])
    body = [f"- {ICON[d.change]} `{d.path}` · handshake `{cell(d.handshake)}` · target {cell(d.target)} · "
            f"{cell(detail(d)) or 'no content change'}" for d in changed]  # fmt: skip
    return details(f"Bundles ({len(changed)})", body)


def move_lines(plan: Plan) -> list[str]:
    if not plan.moves:
        return []
    body = [f"- {cell(m.says(plan.cluster_label(m.workspace, m.cluster)))}" for m in plan.moves[:MAX_MOVES]]
    if len(plan.moves) > MAX_MOVES:
        body.append(f"- … and {len(plan.moves) - MAX_MOVES} more (in the full plan)")
    body += ["", "The new bundle's Helm release takes the Secret over (fleet.yaml `helm.takeOwnership`); when the "
             "old release is uninstalled and deletes it, drift correction (`correctDrift`) restores it: a short "
             "gap is possible. See the README, \"When a cluster moves between bundles\"."]  # fmt: skip
    return details(f"↔️ Clusters that move between bundles of a handshake ({len(plan.moves)})", body)


def per_cluster(plan: Plan, limit: int, budget: int | None = None) -> list[str]:
    """What each cluster gains, loses or sees change, clusters with the same changes grouped and
    counted (most clusters first); `limit` names per group. Cut short once over `budget` characters."""
    if not plan.clusters:
        return []
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for c in plan.clusters:
        bits = tuple(f"{word} {item}" for word, items in
                     (("loses", c.loses), ("gains", c.gains), ("changes", c.changes)) for item in items)  # fmt: skip
        groups.setdefault((c.workspace, bits), []).append(plan.display.get((c.workspace, c.cluster)) or c.cluster)
    body: list[str] = []
    size = 0
    for (workspace, bits), names in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        if budget is not None and size > budget:
            break
        body += [f"**{plural(len(names), 'cluster')}** ({workspace}): {cell(_list(sorted(names), limit))}", "",
                 *(f"- {cell(bit)}" for bit in bits), ""]  # fmt: skip
        size += sum(map(len, body[-len(bits) - 3 :]))
    return details(f"Per cluster: {plural(len(plan.clusters), 'cluster')} in {plural(len(groups), 'group')} "
                   "of the same changes", body[:-1])  # fmt: skip


def render(
    plan: Plan,
    *,
    guard: str | None,
    detail: Callable[[BundleDiff], str],
    limit: int | None = COMMENT_LIMIT,
    full_plan: str = FULL_PLAN_CLI,
) -> str:
    """The comment with the most detail that fits `limit` characters (None: no limit).

    Levels of detail are tried in their planned order; at the last one, the table keeps as many
    rows as fit (removals are first, so they are kept longest). Every block is whole or absent.
    """
    all_rows = rows(plan)
    blocks: dict[object, str] = {}  # each block is built once, whatever the number of attempts
    memo: dict[str, Named] = {}
    workspaces = len({r.workspace for r in all_rows}) > 1
    rendered = [row_line(plan, r, workspaces) for r in all_rows]
    total = len({(r.workspace, c) for r in all_rows for c in r.clusters()})

    def block(key: object, build: Callable[[], list[str]]) -> str:
        # Builders given `limit` stop once over it: such a block is never part of a returned comment.
        if key not in blocks:
            blocks[key] = "".join(line + "\n" for line in build())
        return blocks[key]

    def head(count: int) -> list[str]:
        out = ["### fleet-handshake plan", "", summary(plan, all_rows), ""]
        if any(r.change == REMOVED for r in all_rows):
            mark = "⛔ " if plan.removals and plan.removals.refused else ""
            out += [f"> {mark}**{cell(guard)}**", ""] if guard else []
            out += ["🔴 Fleet uninstalls the Secrets of removed bundles from every cluster those bundles reach.", ""]
        if all_rows:
            out += [*table(plan, all_rows, count, rendered), ""]
            if plan.clusters is None:
                out += ["Cluster counts need an inventory: `--inventory` (the Action's `inventory` input).", ""]
            elif any(not n for r in all_rows[:count] for _, n in where(r)):
                out += [ZERO_CLUSTERS, ""]
        return out

    def attempt(level: _Level, count: int) -> str:
        left_out = list(level.left_out)
        if count < len(all_rows):
            left_out.append(f"the rows of {plural(len(all_rows) - count, 'more Secret')} (of {len(all_rows)})")
        out = head(count)
        if left_out:
            listed = ", ".join(left_out[:-1]) + (" and " if len(left_out) > 1 else "") + left_out[-1]
            out += [f"> ✂️ **Shortened to stay under GitHub's comment limit**: left out {listed}. {full_plan}", ""]
        text = "\n".join(out) + "\n" + block("attention", lambda: attention(plan))
        text += block("moves", lambda: move_lines(plan)) if level.moves else ""
        if all_rows and level.names is not None and plan.clusters is not None:
            names = level.names
            if "named" not in memo:
                memo["named"] = named(plan, all_rows)
            text += block(("names", names), lambda: cluster_names(memo["named"], total, names, limit))
        text += block("bundles", lambda: bundle_lines(plan, detail)) if all_rows and level.bundles else ""
        text += block("per-cluster", lambda: per_cluster(plan, 50, limit)) if level.per_cluster else ""
        return text + FOOTER + "\n"

    for level in _LEVELS:
        text = attempt(level, len(all_rows))
        if limit is None or len(text) <= limit:
            return text
    assert limit is not None
    fits, too_many = 0, len(all_rows)  # the most rows that fit: fits fits, too_many does not
    while too_many - fits > 1:
        middle = (fits + too_many) // 2
        fits, too_many = (middle, too_many) if len(attempt(_LEVELS[-1], middle)) <= limit else (fits, middle)
    return attempt(_LEVELS[-1], fits)
