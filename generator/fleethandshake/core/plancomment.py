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

from .plan import ADDED, MODIFIED, REMOVED, RENAMED_WHY, RESEALED, REWRITTEN, UNCHANGED, BundleDiff, Plan
from .removals import ALLOW_OPTION

# GitHub refuses an issue or pull-request comment longer than 65,536 characters; the rest is room
# for the marker the Action puts in front and for anything a workflow adds.
COMMENT_LIMIT = 60_000
FULL_PLAN_CLI = "`fleet-handshake plan` with `--format json` (or `--format text`) has all of it."
ICON = {ADDED: "🟢", REMOVED: "🔴", MODIFIED: "🟡", UNCHANGED: "⚪"}
FOOTER = "<sub>Plans show names, key names and clusters only: never a value.</sub>"
ZERO_CLUSTERS = (
    "A target with 0 clusters: no cluster in the inventory matches it, or an earlier target of the same "
    "handshake takes every cluster it matches (the first matching target wins)."
)
MAX_KEYS = 8  # key names per kind of change in a table cell
MAX_WHERE = 3  # targets in a table cell
FIRST_ROWS = 20  # rows on the first screen; more go into a collapsed table below it
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


@dataclass(frozen=True)
class Row:
    """One changed Secret: the bundles that deliver it with the same change, in one workspace."""

    change: str
    workspace: str
    secret: str  # target namespace/name, as the clusters see it
    what: str  # the change in a few words, beyond its keys
    keys: str
    bundles: tuple[BundleDiff, ...]

    def clusters(self, attr: str = "clusters") -> set[str]:
        return {c for d in self.bundles for c in (getattr(d, attr) or ())}


def _short(d: BundleDiff) -> str:
    """The change beyond keys, in a table cell's few words; the bundle details have the long form."""
    words = []
    for c in d.changes:
        if c == "data":
            continue
        if c.endswith(RENAMED_WHY):
            c = "renamed"
        words.append({REWRITTEN: "format rewritten, same delivery", RESEALED: "sealed again"}.get(c, c))
    return ", ".join(words)


def _names(names: Iterable[str], limit: int = MAX_KEYS) -> str:
    items = list(names)
    shown = ", ".join(f"`{n}`" for n in items[:limit])
    return shown + (f" +{len(items) - limit} more" if len(items) > limit else "")


def _keys(d: BundleDiff) -> str:
    if d.change == ADDED:
        return _names(d.keys_added)
    if d.change == REMOVED:
        return _names(d.keys_removed)
    parts = [f"{kind} {_names(keys)}" for kind, keys in
             (("changed", d.keys_changed), ("added", d.keys_added), ("removed", d.keys_removed)) if keys]  # fmt: skip
    return " · ".join(parts) or "none"


_ORDER = {REMOVED: 0, ADDED: 1, MODIFIED: 2}


def rows(plan: Plan) -> list[Row]:
    """One row per changed Secret and kind of change; removals first."""
    groups: dict[tuple[int, str, str, str, str, str], list[BundleDiff]] = {}
    for d in plan.bundles:
        if d.change != UNCHANGED:
            key = (_ORDER[d.change], d.workspace, f"{d.target_namespace}/{d.secret}", d.change, _short(d), _keys(d))
            groups.setdefault(key, []).append(d)
    return [Row(change, ws, secret, what, keys, tuple(ds)) for (_, ws, secret, change, what, keys), ds in
            sorted(groups.items())]  # fmt: skip


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _where(plan: Plan, row: Row) -> list[tuple[str, set[str] | None]]:
    """The row's targets in words (cluster group, selector labels, cluster name) and their clusters."""
    by: dict[str, set[str] | None] = {}
    for d in row.bundles:
        found = by.setdefault(d.where or d.target, None if d.clusters is None else set())
        if found is not None:
            found.update(d.clusters or ())
    return sorted(by.items(), key=lambda kv: (-len(kv[1] or ()), kv[0]))


def _place(where: str) -> str:
    """A target's criteria as the Where cell shows them: `env=prod`, `group edge`, `cluster x`."""
    return "all clusters" if where == "clusters (all)" else where.removeprefix("clusters ")


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _row(plan: Plan, row: Row, workspaces: bool) -> str:
    what = [f"**{row.change}**"] if row.change != MODIFIED else []
    what += [row.what] if row.what else []
    what += [row.keys] if row.keys != "none" else []
    where = _where(plan, row)
    shown = [_place(w) if n is None else f"{_place(w)}: {len(n)}" for w, n in where[:MAX_WHERE]]
    if len(where) > MAX_WHERE:
        shown.append(f"+{plural(len(where) - MAX_WHERE, 'more target')}")
    cells = ([row.workspace] if workspaces else []) + [f"{ICON[row.change]} `{row.secret}`", " · ".join(what)]
    if plan.clusters is not None:
        gained, lost = row.clusters("clusters_gained"), row.clusters("clusters_lost")
        moved = [f"+{len(gained)}" if gained else "", f"-{len(lost)}" if lost else ""]
        extra = " ".join(m for m in moved if m) if row.change == MODIFIED else ""
        cells.append(str(len(row.clusters())) + (f" ({extra})" if extra else ""))
    cells.append(" · ".join(shown))
    return "| " + " | ".join(cell(c) for c in cells) + " |"


def table(plan: Plan, all_rows: list[Row], count: int, rendered: list[str] | None = None) -> list[str]:
    """The first FIRST_ROWS rows, then the rest of the first `count` in a collapsed table of their own.

    `rendered`: the rows as `_row` renders them, when the caller has them already."""
    workspaces = len({r.workspace for r in all_rows}) > 1
    head = (["Workspace"] if workspaces else []) + ["Secret", "Change"]
    head += (["Clusters"] if plan.clusters is not None else []) + ["Where"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    shown = rendered[:count] if rendered is not None else [_row(plan, r, workspaces) for r in all_rows[:count]]
    if count <= FIRST_ROWS:
        return [*lines, *shown]
    rest = [*lines, *shown[FIRST_ROWS:]]
    return [*lines, *shown[:FIRST_ROWS], "", *details(plural(count - FIRST_ROWS, "more changed Secret"), rest)[:-1]]


def summary(plan: Plan, all_rows: list[Row]) -> str:
    s = plan.summary
    if not all_rows:
        return f"**No changes**: {plural(s.get(UNCHANGED, 0), 'bundle')}, all unchanged."
    workspaces = sorted({r.workspace for r in all_rows})
    secrets = len({(r.workspace, r.secret) for r in all_rows})
    counts = " · ".join(f"{ICON[k]} {s.get(k, 0)} {k}" for k in (REMOVED, ADDED, MODIFIED) if s.get(k))
    bundle_count = plural(sum(len(r.bundles) for r in all_rows), "bundle")
    text = f"**{plural(secrets, 'Secret')} change{'s' if secrets == 1 else ''} in {bundle_count}"
    text += f" in {workspaces[0]}" if len(workspaces) == 1 else f" in {len(workspaces)} workspaces"
    if plan.clusters is not None:
        text += f", on {plural(s.get('clusters_affected', len(plan.clusters)), 'cluster')}"
    text += f"**: {counts} · {s.get(UNCHANGED, 0)} unchanged"
    flags = [f"⚠️ {plural(len(plan.conflicts), 'conflict')}" if plan.conflicts else "",
             f"⚠️ {len(plan.not_synced)} handshake(s) not Synced" if plan.not_synced else "",
             f"⛔ removals refused without `{ALLOW_OPTION}`" if plan.removals and plan.removals.refused else "",
             f"↔️ {plural(len(plan.moves), 'cluster move')}" if plan.moves else ""]  # fmt: skip
    return text + "".join(f"; {f}" for f in flags if f)


def attention(plan: Plan) -> list[str]:
    if not (plan.conflicts or plan.not_synced):
        return []
    items = [f"- **{c.kind}**: {cell(c.message)}" for c in plan.conflicts]
    items += [f"- **{h.status.value}** `{h.workspace}/{h.name}`: {cell(h.message)}" for h in plan.not_synced]
    more = [f"- … and {len(items) - MAX_ATTENTION} more (in the full plan)"] if len(items) > MAX_ATTENTION else []
    return ["#### ⚠️ Needs attention", "", *items[:MAX_ATTENTION], *more, ""]


def details(summary_text: str, body: list[str]) -> list[str]:
    """A collapsed block: blank lines around the body so that GitHub renders its Markdown."""
    return [f"<details><summary>{summary_text}</summary>", "", *body, "", "</details>", ""]


def _display(plan: Plan, workspace: str, clusters: Iterable[str]) -> list[str]:
    return sorted(plan.display.get((workspace, c)) or c for c in clusters)


def _list(names: list[str], limit: int) -> str:
    return ", ".join(names[:limit]) + (f" … +{len(names) - limit} more" if len(names) > limit else "")


Named = list[tuple[str, list[tuple[str, list[str]]]]]  # per row: its heading, and per place its clusters


def named(plan: Plan, all_rows: list[Row]) -> Named:
    """Each row's places (targets, and clusters gaining or losing it) with their display names, sorted."""
    out: Named = []
    for r in all_rows:
        places = [(_place(where), _display(plan, r.workspace, clusters or ())) for where, clusters in _where(plan, r)]
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
        for place, names in places:
            listed = f": {cell(_list(names, limit))}" if names else ""
            lines.append(f"- {cell(place)}: **{len(names)}**{listed}")
        body += [*lines, ""]
        size += sum(map(len, lines))
    return details(f"Clusters per Secret and target ({total} clusters, display names)", body[:-1])


def bundle_lines(plan: Plan, detail: Callable[[BundleDiff], str]) -> list[str]:
    changed = [d for d in plan.bundles if d.change != UNCHANGED]
    changed.sort(key=lambda d: _ORDER[d.change])
    body = [f"- {ICON[d.change]} `{d.path}` · handshake `{cell(d.handshake)}` · target {cell(d.target)} · "
            f"{cell(detail(d)) or 'no content change'}" for d in changed]  # fmt: skip
    return details(f"Bundles ({len(changed)})", body)


def move_lines(plan: Plan) -> list[str]:
    if not plan.moves:
        return []
    body = [f"- {cell(m.message)}" for m in plan.moves[:MAX_MOVES]]
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
    rendered = [_row(plan, r, workspaces) for r in all_rows]
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
            elif any(not n for r in all_rows[:count] for _, n in _where(plan, r)):
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
