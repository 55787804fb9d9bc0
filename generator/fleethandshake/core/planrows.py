"""The plan comment's table: one row per changed Secret, removals first, and the summary line above it.

A row is a Secret (target namespace/name, as clusters see it) with one kind of change in one
workspace: which keys change, by name; on how many clusters; and where, in the words of its
targets (cluster group, selector labels, cluster name) with the clusters each reaches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .bundleview import RESEALED
from .plan import ADDED, MODIFIED, REMOVED, RENAMED_WHY, REWRITTEN, UNCHANGED, BundleDiff, Plan
from .removals import ALLOW_OPTION

ICON = {ADDED: "🟢", REMOVED: "🔴", MODIFIED: "🟡", UNCHANGED: "⚪"}
MAX_KEYS = 8  # key names per kind of change in a table cell
MAX_WHERE = 3  # targets in a table cell
FIRST_ROWS = 20  # rows on the first screen; more go into a collapsed table below it
ORDER = {REMOVED: 0, ADDED: 1, MODIFIED: 2}


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
    if d.change == ADDED:  # a renamed bundle's keys may change too
        return " · ".join([_names(d.keys_added), *([f"changed {_names(d.keys_changed)}"] if d.keys_changed else [])])
    if d.change == REMOVED:
        return _names(d.keys_removed)
    parts = [f"{kind} {_names(keys)}" for kind, keys in
             (("changed", d.keys_changed), ("added", d.keys_added), ("removed", d.keys_removed)) if keys]  # fmt: skip
    return " · ".join(parts) or "none"


def rows(plan: Plan) -> list[Row]:
    """One row per changed Secret and kind of change; removals first."""
    groups: dict[tuple[int, str, str, str, str, str], list[BundleDiff]] = {}
    for d in plan.bundles:
        if d.change != UNCHANGED:
            key = (ORDER[d.change], d.workspace, f"{d.target_namespace}/{d.secret}", d.change, _short(d), _keys(d))
            groups.setdefault(key, []).append(d)
    return [Row(change, ws, secret, what, keys, tuple(ds)) for (_, ws, secret, change, what, keys), ds in
            sorted(groups.items())]  # fmt: skip


def cell(text: str) -> str:
    """Text for one line of the comment or one table cell: no line break, no HTML tag it could open."""
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


LINE_CHARS = 400  # of a line under "Needs attention": one message may name hundreds of handshakes


def clip(line: str, whole: str) -> str:
    """`line` cut at a word to at most LINE_CHARS, saying where it stands whole."""
    if len(line) <= LINE_CHARS:
        return line
    return line[: LINE_CHARS - 40].rsplit(" ", 1)[0] + f" … (cut: {whole} has it all)"


def where(row: Row) -> list[tuple[str, set[str] | None]]:
    """The row's targets in words (cluster group, selector labels, cluster name) and their clusters."""
    by: dict[str, set[str] | None] = {}
    for d in row.bundles:
        found = by.setdefault(d.where or d.target, None if d.clusters is None else set())
        if found is not None:
            found.update(d.clusters or ())
    return sorted(by.items(), key=lambda kv: (-len(kv[1] or ()), kv[0]))


def place(where: str) -> str:
    """A target's criteria as the Where cell shows them: `env=prod`, `group edge`, `cluster x`."""
    return "all clusters" if where == "clusters (all)" else where.removeprefix("clusters ")


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def row_line(plan: Plan, row: Row, workspaces: bool) -> str:
    what = [f"**{row.change}**"] if row.change != MODIFIED else []
    what += [row.what] if row.what else []
    what += [row.keys] if row.keys != "none" else []
    places = where(row)
    shown = [place(w) if n is None else f"{place(w)}: {len(n)}" for w, n in places[:MAX_WHERE]]
    if len(places) > MAX_WHERE:
        shown.append(f"+{plural(len(places) - MAX_WHERE, 'more target')}")
    cells = ([row.workspace] if workspaces else []) + [f"{ICON[row.change]} `{row.secret}`", " · ".join(what)]
    if plan.clusters is not None:
        gained, lost = row.clusters("clusters_gained"), row.clusters("clusters_lost")
        moved = [f"+{len(gained)}" if gained else "", f"-{len(lost)}" if lost else ""]
        extra = " ".join(m for m in moved if m) if row.change == MODIFIED else ""
        cells.append(str(len(row.clusters())) + (f" ({extra})" if extra else ""))
    cells.append(" · ".join(shown))
    return "| " + " | ".join(cell(c) for c in cells) + " |"


def table(plan: Plan, all_rows: list[Row], count: int, rendered: list[str]) -> list[str]:
    """The first FIRST_ROWS rows, then the rest of the first `count` in a collapsed table of their own.

    `rendered`: every row as `row_line` renders it."""
    workspaces = len({r.workspace for r in all_rows}) > 1
    head = (["Workspace"] if workspaces else []) + ["Secret", "Change"]
    head += (["Clusters"] if plan.clusters is not None else []) + ["Where"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    shown = rendered[:count]
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


def details(summary_text: str, body: list[str]) -> list[str]:
    """A collapsed block: blank lines around the body so that GitHub renders its Markdown."""
    return [f"<details><summary>{summary_text}</summary>", "", *body, "", "</details>", ""]
