"""Targets in words, for plans and messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def describe_target(target: Mapping[str, Any]) -> str:
    """A short human description of a target, e.g. `prod-eu: clusters env=prod, region in (a, b)`."""
    text = describe_criteria(target)
    return f"{target['name']}: {text}" if target.get("name") else text


def describe_criteria(target: Mapping[str, Any]) -> str:
    """Which clusters a target chooses, without its name: `group edge`, `clusters env=prod`."""
    parts = []
    if target.get("clusterName"):
        parts.append(f"cluster {target['clusterName']}")
    if target.get("clusterGroup"):
        parts.append(f"group {target['clusterGroup']}")
    if isinstance(target.get("clusterSelector"), dict):
        parts.append(f"clusters {_describe_selector(target['clusterSelector'])}")
    if isinstance(target.get("clusterGroupSelector"), dict):
        parts.append(f"groups {_describe_selector(target['clusterGroupSelector'])}")
    return " and ".join(parts) or "no criteria"


def _describe_selector(selector: Mapping[str, Any]) -> str:
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr.get("operator"), expr.get("key"), ", ".join(expr.get("values") or [])
        terms.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": f"{key}",
             "DoesNotExist": f"!{key}"}.get(str(op), f"{key} {op} ({values})")
        )  # fmt: skip
    return ", ".join(terms) or "(all)"
