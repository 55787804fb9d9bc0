"""Two handshakes that deliver one Secret name into one namespace of a workspace: refused unless
their targets are provably disjoint. The rules, and why nothing else proves it, are in README.md
("Deliveries that would fight").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..errors import Problem
from .matching import has_criteria
from .models import Handshake, LabelSelector, Target, item_path


def conflicting_deliveries(handshakes: Iterable[Handshake]) -> list[Problem]:
    """A problem at each of two handshakes that may deliver one Secret into one namespace of one
    cluster, naming the other."""
    groups: dict[tuple[str, str, str], list[Handshake]] = {}
    for hs in handshakes:
        groups.setdefault((hs.workspace, hs.target_namespace, hs.secret_name), []).append(hs)
    problems: list[Problem] = []
    for (workspace, namespace, name), group in sorted(groups.items()):
        if len(group) < 2:
            continue
        group = sorted(group, key=lambda h: h.name)
        for i, first in enumerate(group):
            for second in group[i + 1 :]:
                if first.ref == second.ref or _disjoint(first.targets, second.targets):
                    continue  # one handshake defined twice is a problem of its own (validate._duplicates)
                for hs, other in ((first, second), (second, first)):
                    problems.append(Problem(hs.file, hs.document, item_path(hs.item, "spec.secretName"), (
                        f"handshakes {first.ref} and {second.ref} both deliver Secret {namespace}/{name} in workspace"
                        f" {workspace} ({other.ref} is in {other.file}), and their targets may reach the same cluster,"
                        " where the two would fight over it; deliver the Secret under one handshake, or make their"
                        " targets provably disjoint (different clusterName, or cluster selectors that require"
                        " different values of one label)"
                    )))  # fmt: skip
    return problems


def _disjoint(ours: Sequence[Target], theirs: Sequence[Target]) -> bool:
    return all(_targets_disjoint(a, b) for a in ours for b in theirs)


def _targets_disjoint(a: Target, b: Target) -> bool:
    if _selects_nothing(a) or _selects_nothing(b):
        return True
    if a.cluster_name and b.cluster_name and a.cluster_name != b.cluster_name:
        return True
    if a.cluster_selector is not None and b.cluster_selector is not None:
        return _unsatisfiable((a.cluster_selector, b.cluster_selector))
    return False


def _selects_nothing(t: Target) -> bool:
    if not has_criteria(t):
        return True  # Fleet: a target with no criteria matches nothing
    return any(s is not None and _unsatisfiable((s,)) for s in (t.cluster_selector, t.cluster_group_selector))


def _unsatisfiable(selectors: Sequence[LabelSelector]) -> bool:
    """Whether no label set satisfies every selector: per key, the values allowed, the values
    excluded, and whether the key must be present or absent."""
    allowed: dict[str, set[str]] = {}
    excluded: dict[str, set[str]] = {}
    present: set[str] = set()
    absent: set[str] = set()

    def allow(key: str, values: Iterable[str]) -> None:
        allowed[key] = allowed[key] & set(values) if key in allowed else set(values)
        present.add(key)

    for selector in selectors:
        for key, value in selector.match_labels:
            allow(key, (value,))
        for r in selector.match_expressions:
            if r.operator == "In":
                allow(r.key, r.values)
            elif r.operator == "NotIn":
                excluded.setdefault(r.key, set()).update(r.values)
            elif r.operator == "Exists":
                present.add(r.key)
            elif r.operator == "DoesNotExist":
                absent.add(r.key)
    if present & absent:
        return True
    return any(not (values - excluded.get(key, set())) for key, values in allowed.items())
