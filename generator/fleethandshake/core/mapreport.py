"""The delivery map for terminals (text), pull requests and job summaries (Markdown) and tools (JSON).

Text and JSON list every cluster. Markdown is read in a browser, at up to thousands of clusters:
clusters that receive the same Secrets are one group, counted, with their names collapsed and
capped. Only names, key names, modes and counts appear here; never a value.
"""

from __future__ import annotations

import json

from .deliverymap import Delivery, DeliveryMap, Group
from .plan import ADDED, MODIFIED, REMOVED, Plan
from .plancomment import COMMENT_LIMIT
from .planrows import cell, clip

FORMAT = "fleet-handshake-map/v2"
# Markdown: a comment or a job summary, read in a browser. Groups are shown whole, largest first,
# while they fit; each workspace gets an equal share of what is left (a share it does not use
# passes on). What is left out is counted and pointed to: the text and JSON maps have it all.
MAX_CHARS = COMMENT_LIMIT  # the plan comment's: under GitHub's limit (65,536)
MAX_NAMES = 100  # cluster names per group
MAX_ATTENTION = 50  # lines under "Needs attention"


def _n(count: int, word: str, plural: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else plural or word + 's'}"


def headline(m: DeliveryMap) -> str:
    nothing = len(m.clusters) - m.receiving
    text = (
        f"{_n(len(m.clusters), 'cluster')} in {_n(len(m.workspaces), 'workspace')}: {m.receiving:,} receive"
        f" {_n(m.deliveries, 'Secret delivery', 'Secret deliveries')}, {nothing:,} receive nothing"
    )
    if m.unreached:
        text += f"; {_n(len(m.unreached), 'handshake reaches', 'handshakes reach')} no cluster"
    return text


def changes_line(plan: Plan) -> str:
    """Whether the map (the source as rendered now) differs from OUT: the plan's counts."""
    if not plan.has_changes:
        return "The output folder already delivers this: no bundle changes."
    s = plan.summary
    return (
        f"This is the source as rendered now; against the output folder {s[ADDED]} bundle(s) are added, "
        f"{s[MODIFIED]} modified, {s[REMOVED]} removed (plan without --map lists the changes)."
    )


def _attention(m: DeliveryMap, plan: Plan) -> list[str]:
    """One line per thing to look at: handshakes that reach no cluster, clusters that get one
    Secret from two handshakes, handshakes not Synced (their bundles are kept as they were)."""
    lines = [
        f"handshake {u.workspace}/{u.handshake} reaches no cluster (Secret {', '.join(u.secrets)}; "
        f"bundle {', '.join(u.bundles)})"
        for u in m.unreached
    ]
    lines += [f"{c.kind}: {c.message}" for c in plan.conflicts if c.kind != "no-cluster"]
    lines += [f"{h.status.value}: {h.workspace}/{h.name}: {h.message} (its bundles are kept as they were)"
              for h in plan.not_synced]  # fmt: skip
    return lines


def _delivery_text(d: Delivery) -> str:
    return (
        f"{d.secret}  from {d.handshake} [{d.target}]  bundle {d.bundle}  {d.mode}  "
        f"keys: {', '.join(d.keys) or '(none)'}"
    )


def to_text(m: DeliveryMap, plan: Plan) -> str:
    lines = [f"delivery map: {headline(m)}", changes_line(plan)]
    for ws in m.workspaces:
        clusters = m.clusters_in(ws)
        lines.append(f"workspace {ws}: {_n(len(clusters), 'cluster')}" + ("" if clusters else " in the inventory"))
        for c in clusters:
            if not c.deliveries:
                lines.append(f"  {c.label}: nothing")
                continue
            lines.append(f"  {c.label}: {_n(len(c.deliveries), 'Secret')}")
            lines.extend(f"    {_delivery_text(d)}" for d in c.deliveries)
    if attention := _attention(m, plan):
        lines.append("NEEDS ATTENTION:")
        lines.extend(f"  {line}" for line in attention)
    return "\n".join(lines) + "\n"


def _code(text: str) -> str:
    return f"`{text}`" if text and "`" not in text else cell(text)


def _group_markdown(group: Group) -> list[str]:
    count = len(group.clusters)
    who = f"**{_n(count, 'cluster')}** receive{'s' if count == 1 else ''}"
    out = [f"{who} nothing" if not group.deliveries else f"{who} {_n(len(group.deliveries), 'Secret')}", ""]
    if group.deliveries:
        out += ["| Secret | Handshake: target | Bundle | Mode | Keys |", "|---|---|---|---|---|"]
        out += [
            f"| {_code(d.secret)} | {cell(d.handshake)}: {cell(d.target)} | {_code(d.bundle)} | {d.mode} | "
            f"{', '.join(_code(k) for k in d.keys) or '(none)'} |"
            for d in group.deliveries
        ]
        out.append("")
    names = ", ".join(_code(c.label) for c in group.clusters[:MAX_NAMES])
    if count > MAX_NAMES:
        names += f" and {count - MAX_NAMES:,} more (the text and JSON maps list every cluster)"
    out += [f"<details><summary>{'The cluster' if count == 1 else f'The {count:,} clusters'}</summary>", "",
            names, "", "</details>", ""]  # fmt: skip
    return out


def to_markdown(m: DeliveryMap, plan: Plan) -> str:
    out = ["### fleet-handshake delivery map", "", f"**{headline(m)}**", "", changes_line(plan), ""]
    if attention := _attention(m, plan):
        out += [
            "#### ⚠️ Needs attention",
            *(f"- {cell(clip(line, 'the text map'))}" for line in attention[:MAX_ATTENTION]),
        ]
        if len(attention) > MAX_ATTENTION:
            out.append(f"- ... and {len(attention) - MAX_ATTENTION:,} more: the text and JSON maps list them all")
        out.append("")
    foot = "<sub>The delivery map shows names, key names and clusters only: never a value.</sub>"
    left = MAX_CHARS - len("\n".join(out)) - len(foot) - 2
    for i, ws in enumerate(m.workspaces):
        clusters, groups = m.clusters_in(ws), m.groups(ws)
        sets = f", {_n(len(groups), 'different set')}" if len(groups) > 1 else ""
        block = [f"#### Workspace `{ws}`: {_n(len(clusters), 'cluster')}{sets}", ""]
        if not clusters:
            block += ["No cluster of this workspace is in the inventory.", ""]
        if _size(block) + 2 * _NOTE_ROOM > left:  # not even its heading and a note: the rest are counted
            gone = m.workspaces[i:]
            held = _n(sum(len(m.clusters_in(w)) for w in gone), "cluster")
            out += [f"*{_n(len(gone), 'more workspace')}, with {held}, left out to keep this under "
                    f"{MAX_CHARS:,} characters: the text and JSON maps list every cluster.*", ""]  # fmt: skip
            break
        share = left // (len(m.workspaces) - i) - _NOTE_ROOM
        shown = 0
        for group in groups:
            lines = _group_markdown(group)
            if _size(block) + _size(lines) > share:
                break
            block += lines
            shown += 1
        if shown < len(groups):
            rest = groups[shown:]
            received_by = _n(sum(len(g.clusters) for g in rest), "cluster")
            block += [f"*{'' if shown == 0 else 'And '}{_n(len(rest), 'set')} of Secrets, received by {received_by}, "
                      f"left out to keep this under {MAX_CHARS:,} characters: the text and JSON maps list every "
                      "cluster.*", ""]  # fmt: skip
        out += block
        left -= _size(block)
    out.append(foot)
    return "\n".join(out) + "\n"


_NOTE_ROOM = 200  # the note of a workspace's left-out groups


def _size(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def to_json(m: DeliveryMap, plan: Plan) -> str:
    """The schema is in the README ("plan --map").

    Each bundle a cluster receives is written once, in `bundles`; a cluster lists the indexes of
    its own. Under every cluster that receives it (v1), one record was written thousands of times:
    97 MB for 1,000 handshakes over 5,000 clusters. In Delivery's order, so a cluster's indexes
    ascend and give its Secrets in the order the text map lists them.
    """
    bundles = sorted({d for c in m.clusters for d in c.deliveries})
    index = {d: i for i, d in enumerate(bundles)}
    doc = {
        "format": FORMAT,
        "summary": {
            "workspaces": len(m.workspaces), "clusters": len(m.clusters), "receiving": m.receiving,
            "receivingNothing": len(m.clusters) - m.receiving, "deliveries": m.deliveries,
            "unreached": len(m.unreached), "changed": plan.has_changes,
        },
        "bundles": [vars(d) for d in bundles],
        "clusters": [
            {"workspace": c.workspace, "cluster": c.cluster, "displayName": c.display_name,
             "bundles": [index[d] for d in c.deliveries]}
            for c in m.clusters
        ],
        "unreached": [{"workspace": u.workspace, "handshake": u.handshake, "secrets": list(u.secrets),
                       "bundles": list(u.bundles)} for u in m.unreached],
        "conflicts": [vars(c) for c in plan.conflicts if c.kind != "no-cluster"],
        "notSynced": [{"namespace": h.workspace, "name": h.name, "status": h.status.value, "message": h.message}
                      for h in plan.not_synced],
    }  # fmt: skip
    return json.dumps(doc) + "\n"
