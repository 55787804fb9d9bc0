"""Conflicts a plan reports: two handshakes delivering one Secret name into one namespace of a
cluster, and handshakes that reach no cluster of the inventory."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .bundleview import BundleView

# (workspace, override target, earlier targets) -> cluster names the bundle reaches
Resolve = Callable[[str, Mapping[str, Any], tuple[Mapping[str, Any], ...]], frozenset[str]]


@dataclass(frozen=True)
class Conflict:
    """The JSON plan holds these fields in this order."""

    kind: str  # "duplicate-delivery" | "no-cluster" | "mapped-delivery" (namespacemaps.py)
    workspace: str
    cluster: str | None
    handshakes: tuple[str, ...]
    message: str


def cluster_label(display: Mapping[tuple[str, str], str], workspace: str, cluster: str) -> str:
    return labelled(cluster, display.get((workspace, cluster)))


def labelled(cluster: str, shown: str | None) -> str:
    """`prod-frankfurt (c-m-2bn8v6xt)`: Rancher's generated names mean nothing to a reviewer."""
    return f"{shown} ({cluster})" if shown and shown != cluster else cluster


def find_conflicts(
    new: dict[str, BundleView], resolve: Resolve, display: Mapping[tuple[str, str], str]
) -> list[Conflict]:
    # Group first: only a Secret name that two handshakes deliver into one namespace can clash,
    # so clusters are intersected for those groups alone, not for every bundle and cluster.
    groups: dict[tuple[str, str | None, str | None], dict[str, set[str]]] = {}
    reach_by_handshake: dict[tuple[str, str], set[str]] = {}
    for view in new.values():
        clusters = resolve(view.workspace, view.target, view.earlier)
        reach_by_handshake.setdefault((view.workspace, view.handshake), set()).update(clusters)
        group = groups.setdefault((view.workspace, view.target_namespace, view.secret_name), {})
        group.setdefault(view.handshake, set()).update(clusters)
    found: dict[tuple[str, str, str | None, str | None], set[str]] = {}
    for (ws, ns, secret), by_handshake in groups.items():
        if len(by_handshake) < 2:
            continue
        for handshake, reached in by_handshake.items():
            for cluster in reached:
                found.setdefault((ws, cluster, ns, secret), set()).add(handshake)
    out = []
    for (ws, cluster, ns, secret), handshakes in sorted(found.items(), key=lambda kv: tuple(map(str, kv[0]))):
        if len(handshakes) > 1:
            names = tuple(sorted(handshakes))
            message = f"handshakes {', '.join(names)} all deliver Secret {ns}/{secret} to cluster "
            message += cluster_label(display, ws, cluster)
            out.append(Conflict("duplicate-delivery", ws, cluster, names, message))
    for (ws, hs), reach in sorted(reach_by_handshake.items()):
        if not reach:
            out.append(
                Conflict("no-cluster", ws, None, (hs,), f"handshake {ws}/{hs} matches no cluster in the inventory")
            )
    return out
