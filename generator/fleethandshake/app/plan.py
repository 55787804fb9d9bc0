"""`fleet-handshake plan`: what a change does, for reviewers. Writes nothing."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..adapters.background import Background
from ..adapters.sops import age
from ..core import bundles, output, planreport, removals, render
from ..core.conflicts import Resolve
from ..core.inventory import EXPORT_COMMAND, Inventory
from ..core.models import Status
from ..core.plan import Plan, make_plan
from ..errors import EXIT_CHANGES, EXIT_FAILED, EXIT_OK, InvalidInputs, UsageError, UserError
from . import generate
from . import source as source_loader
from .build import build, cached_sources, handshake_mode, read_out_and_source

MAP_NEEDS_INVENTORY = (
    "--map needs --inventory FILE: the clusters come from Fleet's inventory, for example "
    f"`{EXPORT_COMMAND} > inventory.yaml` "
    "on the management cluster"
)


def read_inventory(path: Path) -> Inventory:
    """The inventory file, parsed and checked; InvalidInputs names every problem."""
    from ..core import inventory
    from ..core.yaml.reader import YamlError, parse_documents
    from ..errors import Problem

    try:
        content = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read inventory {path} ({e.strerror})") from None
    try:
        docs = parse_documents(content)
    except YamlError as e:
        raise InvalidInputs([Problem(str(path), None, "", e.message, e.line)]) from None
    inv, problems = inventory.parse_inventory(docs, str(path))
    if problems:
        raise InvalidInputs(problems)
    return inv


def resolver_for(inv: Inventory, path: Path) -> tuple[Resolve, dict[tuple[str, str], str]]:
    """The inventory's resolver, and each cluster's Rancher display name."""
    from ..core import matching
    from ..core.models import Target
    from ..core.validate_handshake import parse_target

    resolver = matching.Resolver(inv)
    reach: dict[str, frozenset[str]] = {}

    def to_target(data: Mapping[str, Any]) -> Target:
        target, problems = parse_target(dict(data), file=str(path))
        # A bundle fleet-handshake wrote always has a valid target; anything else reaches nothing.
        return target if target is not None and not problems else Target()

    def resolve(workspace: str, target: Mapping[str, Any], earlier: tuple[Mapping[str, Any], ...]) -> frozenset[str]:
        # Plans ask for the same bundle several times (diff, per cluster, conflicts): resolve once.
        key = json.dumps([workspace, target, earlier], sort_keys=True)
        if key not in reach:
            reach[key] = resolver.bundle_clusters(workspace, to_target(target), [to_target(t) for t in earlier])
        return reach[key]

    display = {
        (c.workspace, c.name): c.label_map[matching.DISPLAY_NAME_LABEL]
        for c in inv.clusters
        if matching.DISPLAY_NAME_LABEL in c.label_map
    }
    return resolve, display


def compute(
    src: Path,
    out: Path,
    *,
    against: str | None,
    inventory: Path | None,
    sops_binary: str | None,
    mode: str | None = None,
    allow_removals: bool = False,
    delivery_map: bool = False,
) -> Plan:
    """The plan; with `delivery_map` (and an inventory) also what every cluster receives."""
    generate.check_paths(src, out)

    def load(cache: Mapping[str, tuple[str, Any]]) -> source_loader.LoadedSource:
        return source_loader.load(src, out, cache)

    identities = age.load_identities(os.environ)  # once per run: a SOPS_AGE_KEY_CMD runs once
    # The inventory (thousands of clusters) is parsed in a second process meanwhile.
    with Background(read_inventory, inventory) if inventory is not None else nullcontext() as pending:
        old: Mapping[str, bytes]
        if against is not None:
            from ..adapters import git

            check_against(against)
            old = git.read_tree_at(out, against)
            loaded = load(cached_sources(old, identities))
        else:
            old, loaded = read_out_and_source(out, load, identities)
        comp = build(src, old, sops_binary=sops_binary, say=lambda t: print(t, file=sys.stderr), loaded=loaded,
                     mode=mode, identities=identities).composition  # fmt: skip
        inv = pending.result() if pending is not None else None
        resolve, display = resolver_for(inv, inventory) if inv is not None and inventory is not None else (None, {})
    known = known_fleet_files(loaded, comp, mode)
    plan = make_plan(old, comp.tree, comp.changes, resolve, display, known, inv)
    plan = replace(plan, removals=removals.check(old, comp, allow=allow_removals))
    if delivery_map and inv is not None and resolve is not None:
        from ..core import deliverymap
        from ..core.bundleview import read_views

        plan = replace(plan, delivery_map=deliverymap.build(read_views(comp.tree, memo=known), resolve, inv))
    return plan


def check_against(ref: str) -> None:
    """`--against` names a commit. A path (`REV:path`) would read another folder than OUT, and a
    range (`A..B`) is no single tree: both are refused before git is asked."""
    if ":" in ref or ".." in ref or not ref.strip():
        raise UsageError(f"--against takes a commit (a branch, tag or commit id), not a path or a range: {ref!r}")


def known_fleet_files(
    loaded: source_loader.LoadedSource, comp: output.Composition, mode: str | None
) -> dict[bytes, Any]:
    """fleet.yaml contents -> their document, for the bundles of Synced handshakes.

    Their files are this run's rendering (or the last run's, verified by the state's keyed MAC
    and the same input digests), so each fleet.yaml is exactly its mode's `fleet` written out:
    the plan need not parse it again. Missing and Error handshakes keep old files, which are
    parsed as they are.
    """
    synced = {(c.workspace, c.name) for c in comp.changes if c.status is Status.SYNCED}
    known: dict[bytes, Any] = {}
    for hs in loaded.source.handshakes:
        if (hs.workspace, hs.name) not in synced:
            continue
        hs_mode = handshake_mode(hs, loaded, mode)
        for bundle in bundles.bundles_for(hs, hs_mode.name):
            content = comp.tree.get(f"{bundle.path}/{render.FLEET_YAML}")
            if content is not None:
                known[content] = hs_mode.fleet(hs, bundle, loaded.identity)
    return known


def exit_code(plan: Plan) -> int:
    if plan.conflicts or plan.not_synced or (plan.removals is not None and plan.removals.refused):
        return EXIT_FAILED
    return EXIT_CHANGES if plan.has_changes else EXIT_OK


def run(
    src: Path,
    out: Path,
    *,
    against: str | None,
    inventory: Path | None,
    fmt: str,
    sops_binary: str | None,
    mode: str | None = None,
    allow_removals: bool = False,
    delivery_map: bool = False,
) -> int:
    if delivery_map and inventory is None:
        raise UsageError(MAP_NEEDS_INVENTORY)
    plan = compute(src, out, against=against, inventory=inventory, sops_binary=sops_binary, mode=mode,
                   allow_removals=allow_removals, delivery_map=delivery_map)  # fmt: skip
    if plan.delivery_map is not None:
        from ..core import mapreport

        show = {"json": mapreport.to_json, "markdown": mapreport.to_markdown, "text": mapreport.to_text}[fmt]
        sys.stdout.write(show(plan.delivery_map, plan))
        return exit_code(plan)
    render = {"json": planreport.to_json, "markdown": planreport.to_markdown, "text": planreport.to_text}[fmt]
    sys.stdout.write(render(plan))
    return exit_code(plan)
