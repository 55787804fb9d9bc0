"""`status` output for terminals (text), pull requests and job summaries (Markdown) and tools (JSON).

Names, Fleet's states and messages, commits; never a value (status reads no Secret). Fleet's
messages are clipped: they quote what the cluster's API server said.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import groupby
from typing import Any

from .planrows import cell
from .status import Delivery, Report

SHORT = 12  # a commit as shown; JSON has it whole
MAX_MESSAGE = 300


def short(commit: str | None) -> str:
    """A commit as the reports show it ("-" when unknown)."""
    return commit[:SHORT] if commit else "-"


def _clip(text: str) -> str:
    """One line of at most MAX_MESSAGE characters. Messages come from Fleet's objects, which
    anyone who can write them sets: a control character (a terminal escape) or an invisible format
    character (a right-to-left override) is shown as `?`, not obeyed by the terminal or the page."""
    text = "".join(c if c.isprintable() else "?" for c in " ".join(text.split()))
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def _by_handshake(report: Report) -> Iterator[tuple[tuple[str, str], list[Delivery]]]:
    for key, rows in groupby(report.deliveries, key=lambda d: (d.workspace, d.handshake)):
        yield key, list(rows)


def _secret(report: Report, key: tuple[str, str]) -> str:
    secret = report.secrets.get(key)
    return f" (Secret {secret})" if secret else ""


def _verdict(report: Report) -> str:
    ready, total = report.counts()
    at = f"at OUT's commit {short(report.commit)}" if report.commit else "(OUT's commit not compared)"
    if report.ready:
        # A bundle that targets no cluster delivers its Secret nowhere: not "every cluster" of it.
        nowhere = (
            f"; {len(report.unmatched)} bundle(s) target no cluster: no Secret from them" if report.unmatched else ""
        )
        return f"Ready: every targeted cluster is Ready {at} ({total} bundle deployment(s)){nowhere}."
    clusters = ", ".join(report.not_ready())
    lagging = f"; not Ready: {clusters}" if clusters else ""
    if report.not_synced:
        lagging += f"; not Synced in OUT: {', '.join(f'{n.workspace}/{n.name}' for n in report.not_synced)}"
    if report.uncommitted:
        lagging += f"; {len(report.uncommitted)} bundle folder(s) of OUT not committed"
    if report.lost:
        lagging += f"; {len(report.lost)} bundle folder(s) missing from OUT"
    return f"NOT READY: {ready} of {total} bundle deployment(s) Ready {at}{lagging}."


def _sections(report: Report) -> list[tuple[str, list[str]]]:
    extra = [f"{x.workspace}/{x.name} (handshake {x.workspace}/{x.handshake or '?'})"
             + (f" on {', '.join(x.clusters)}" if x.clusters else "") for x in report.extra]  # fmt: skip
    stale = [f"{n.workspace}/{n.name}: {n.status}: {_clip(n.message)}" for n in report.not_synced]
    return [
        ("Bundle folders of OUT that differ from OUT's commit (not committed: Fleet cannot read them)",
         list(report.uncommitted)),
        ("Bundle folders OUT's status.json lists for a Synced handshake that OUT lacks (removed by hand? Fleet "
         "removes their Secrets; run generate to write them again)", list(report.lost)),
        ("Handshakes OUT records as not Synced (their previous bundles are kept: the source's Secret as it is "
         "now is not delivered)", stale),
        ("Bundles OUT has that Fleet lacks (no GitRepo points at OUT, or it has not read OUT's commit yet)",
         list(report.absent)),
        ("fleet-handshake Bundles Fleet still has that OUT no longer has (their Secrets are still delivered)", extra),
        ("Bundles of OUT that target no cluster", list(report.unmatched)),
    ]  # fmt: skip


def to_text(report: Report) -> str:
    lines = [f"OUT is at commit {report.commit}." if report.commit else "OUT's commit is not known: commits are "
             "shown, not compared (give --out OUT)."]  # fmt: skip
    width = max((len(d.display) for d in report.deliveries), default=0)
    for key, rows in _by_handshake(report):
        lines += ["", f"{key[0]}/{key[1]}{_secret(report, key)}"]
        for d in rows:
            message = f"  {_clip(d.message)}" if d.message else ""
            lines.append(f"  {d.display:<{width}}  {d.state:<11}  {short(d.commit):<{SHORT}}{message}".rstrip())
    for title, items in _sections(report):
        if items:
            lines += ["", f"{title}:", *(f"  {item}" for item in items)]
    if not (report.deliveries or report.absent or report.extra or report.unmatched or report.not_synced
            or report.uncommitted or report.lost):  # fmt: skip
        lines += ["", "No fleet-handshake bundle to report: OUT has none, and Fleet has none of this source's."]
    return "\n".join([*lines, "", _verdict(report)]) + "\n"


def _cell(text: str) -> str:
    """One table cell: Fleet's messages quote Go values such as `<nil>`, which GitHub would read as
    an HTML tag and hide."""
    return cell(_clip(text).replace("\\", "\\\\").replace("`", "'"))


def to_markdown(report: Report) -> str:
    icon = "✅" if report.ready else "⏳"
    lines = ["<!-- fleet-handshake-status -->", f"### {icon} fleet-handshake status", "", f"**{_verdict(report)}**"]
    for key, rows in _by_handshake(report):
        secret = report.secrets.get(key)
        lines += ["", f"#### `{key[0]}/{key[1]}`" + (f" (Secret `{_cell(secret)}`)" if secret else ""), "",
                  "| cluster | state | commit | message |", "| --- | --- | --- | --- |"]  # fmt: skip
        for d in rows:
            mark = "✅ " if d.ready else ""
            lines.append(f"| {_cell(d.display)} | {mark}{d.state} | `{short(d.commit)}` | {_cell(d.message)} |")
    for title, items in _sections(report):
        if items:
            lines += ["", f"**{title}:**", "", *(f"- `{_cell(item)}`" for item in items)]
    return "\n".join(lines) + "\n"


def to_json(report: Report) -> str:
    handshakes = []
    for key, rows in _by_handshake(report):
        clusters = [
            {"cluster": d.cluster, "displayName": d.display, "bundle": d.bundle, "state": d.state,
             "message": _clip(d.message), "commit": d.commit or None, "ready": d.ready}
            for d in rows
        ]  # fmt: skip
        entry: dict[str, Any] = {"namespace": key[0], "name": key[1], "clusters": clusters}
        if key in report.secrets:
            entry["secret"] = report.secrets[key]
        handshakes.append(entry)
    ready, total = report.counts()
    doc = {
        "apiVersion": "fleet-handshake/v1",
        "commit": report.commit,
        "ready": report.ready,
        "summary": {"ready": ready, "deployments": total, "notReadyClusters": list(report.not_ready())},
        "handshakes": handshakes,
        "absentBundles": list(report.absent),
        "extraBundles": [
            {"namespace": x.workspace, "name": x.name, "handshake": x.handshake, "clusters": list(x.clusters)}
            for x in report.extra
        ],
        "unmatchedBundles": list(report.unmatched),
        "uncommittedBundles": list(report.uncommitted),
        "missingBundles": list(report.lost),
        "notSynced": [
            {"namespace": n.workspace, "name": n.name, "status": n.status, "message": _clip(n.message)}
            for n in report.not_synced
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


RENDER = {"text": to_text, "markdown": to_markdown, "json": to_json}
