"""Plan output for machines (JSON), pull requests (Markdown) and terminals (text).

Only names, key names, counts and cluster names appear here; values never reach a plan.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from . import plancomment
from .plan import ADDED, MODIFIED, REMOVED, UNCHANGED, BundleDiff, Move, Plan
from .plancomment import COMMENT_LIMIT, FULL_PLAN_CLI
from .removals import ALLOW_OPTION

MAX_LIST = 10
# A target that reaches no cluster: say why, where a bare "none" would leave the reader guessing.
NO_CLUSTER = "none in the inventory (no cluster matches this target, or earlier targets of the handshake take them all)"


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.title() for word in rest)


_BUNDLE_KEYS = {f.name: _camel(f.name) for f in fields(BundleDiff)}


def to_json(plan: Plan) -> str:
    # The cluster fields only when an inventory was given.
    bundles = [
        {_BUNDLE_KEYS[k]: v for k, v in vars(d).items() if d.clusters is not None or not k.startswith("clusters")}
        for d in plan.bundles
    ]
    doc: dict[str, Any] = {
        "bundles": bundles,
        "conflicts": [vars(c) for c in plan.conflicts],
        "moves": [_move(m) for m in plan.moves],
        "handshakes": [
            {"namespace": h.workspace, "name": h.name, "status": h.status.value, "message": h.message}
            for h in plan.handshakes
        ],
        "summary": dict(plan.summary, changed=plan.has_changes),
    }
    if plan.removals is not None:
        doc["removalGuard"] = {**vars(plan.removals), "refused": plan.removals.refused}
    if plan.clusters is not None:
        doc["clusters"] = [
            {"workspace": c.workspace, "cluster": c.cluster,
             "displayName": plan.display.get((c.workspace, c.cluster)),
             "gains": c.gains, "loses": c.loses, "changes": c.changes}
            for c in plan.clusters
        ]  # fmt: skip
    return json.dumps(doc) + "\n"


def _move(m: Move) -> dict[str, str]:
    return {"workspace": m.workspace, "cluster": m.cluster, "handshake": m.handshake, "secret": m.secret,
            "from": m.before, "to": m.after, "message": m.message}  # fmt: skip


def headline(plan: Plan) -> str:
    s = plan.summary
    parts = [f"{s[ADDED]} added", f"{s[MODIFIED]} modified", f"{s[REMOVED]} removed", f"{s[UNCHANGED]} unchanged"]
    text = "bundles: " + ", ".join(parts)
    if plan.clusters is not None:
        text += f"; {s.get('clusters_affected', 0)} cluster(s) affected"
    if plan.conflicts:
        text += f"; {len(plan.conflicts)} conflict(s)"
    if plan.moves:
        text += f"; {len(plan.moves)} cluster move(s) between bundles"
    if plan.not_synced:
        text += f"; {len(plan.not_synced)} handshake(s) not Synced"
    if plan.removals is not None and plan.removals.refused:
        text += f"; removals REFUSED without {ALLOW_OPTION}"
    return text


def _details(d: BundleDiff) -> str:
    words = [c for c in d.changes if c != "data"]
    if d.change != ADDED and d.keys_added:
        words.append("+keys " + ", ".join(d.keys_added))
    if d.change != REMOVED and d.keys_removed:
        words.append("-keys " + ", ".join(d.keys_removed))
    if d.keys_changed:
        words.append("changed keys " + ", ".join(d.keys_changed))
    if d.change == ADDED:
        words.append("keys " + ", ".join(d.keys_added))
    return "; ".join(words)


def _clusters(plan: Plan, d: BundleDiff) -> str:
    if d.clusters is None:
        return ""
    names = [plan.cluster_label(d.workspace, c) for c in d.clusters]
    text = ", ".join(names[:MAX_LIST]) + (f" (+{len(names) - MAX_LIST} more)" if len(names) > MAX_LIST else "")
    extra = []
    if d.change == MODIFIED and d.clusters_gained:
        extra.append(f"+{len(d.clusters_gained)}")
    if d.change == MODIFIED and d.clusters_lost:
        extra.append(f"-{len(d.clusters_lost)}")
    return (text or NO_CLUSTER) + (f" ({' '.join(extra)})" if extra else "")


def guard_text(plan: Plan) -> str | None:
    """What the removal guard says of this plan's removals, if anything."""
    guard = plan.removals
    if guard is None or guard.refusal is None:
        return None
    if guard.allowed:
        return f"allowed by {ALLOW_OPTION}: {guard.describe()}"
    return f"generate and publish will refuse this: {guard.describe()}; if intended, run them with {ALLOW_OPTION}"


def _text_rows(plan: Plan, diffs: list[BundleDiff]) -> list[str]:
    lines = []
    for d in diffs:
        lines.append(f"  {d.change:<9} {d.path}  {d.handshake} -> {d.target_namespace}/{d.secret}  [{d.target}]")
        if detail := _details(d):
            lines.append(f"            {detail}")
        if d.clusters is not None:
            lines.append(f"            clusters: {_clusters(plan, d)}")
    return lines


def to_text(plan: Plan) -> str:
    lines = [headline(plan)]
    removed = [d for d in plan.bundles if d.change == REMOVED]
    others = [d for d in plan.bundles if d.change not in (UNCHANGED, REMOVED)]
    if removed:  # first and loudly: a removed bundle is a Secret uninstalled from every cluster it reached
        lines.append(
            f"REMOVALS: {len(removed)} bundle(s); Fleet uninstalls their Secrets from every cluster they reach"
        )
        if guard := guard_text(plan):
            lines.append(f"  {'REFUSED' if plan.removals and plan.removals.refused else 'NOTE'}: {guard}")
        lines += _text_rows(plan, removed)
        if others:
            lines.append("OTHER CHANGES:")
    lines += _text_rows(plan, others)
    for c in plan.clusters or ():
        for kind, items in (("gains", c.gains), ("loses", c.loses), ("changes", c.changes)):
            for item in items:
                lines.append(f"  cluster {c.workspace}/{plan.cluster_label(c.workspace, c.cluster)} {kind} {item}")
    for conflict in plan.conflicts:
        lines.append(f"  CONFLICT {conflict.kind}: {conflict.message}")
    for move in plan.moves:
        lines.append(f"  MOVE {move.says(plan.cluster_label(move.workspace, move.cluster))}")
    for h in plan.not_synced:
        lines.append(f"  {h.status.value}: {h.workspace}/{h.name}: {h.message}")
    return "\n".join(lines) + "\n"


def to_markdown(plan: Plan, limit: int | None = COMMENT_LIMIT, full_plan: str = FULL_PLAN_CLI) -> str:
    """The pull-request comment (core/plancomment.py), within `limit` characters (None: all of it)."""
    return plancomment.render(plan, guard=guard_text(plan), detail=_details, limit=limit, full_plan=full_plan)
