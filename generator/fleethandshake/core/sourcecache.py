"""What a valid source file defines, as JSON, so an unchanged file need not be parsed again.

Only names, specs and targets: nothing secret (encrypted values are never recorded). Records are
HMAC-verified by state.py before they get here, so they are the validator's own output; anything
that does not decode exactly is ignored, and the file is parsed as usual.
"""

from __future__ import annotations

from typing import Any

from .models import Handshake, LabelSelector, Requirement, SourceSecret, Target

# The validation rules a record was made under: records of other rules are parsed again, so a file
# that stopped being valid (plain scalars Kubernetes reads differently) is not taken from the cache.
RULES = 2


def encode(handshakes: list[Handshake], secrets: list[SourceSecret]) -> dict[str, Any]:
    return {
        "r": RULES,
        "h": [
            [h.workspace, h.name, h.secret_name, h.secret_namespace, h.target_namespace, h.document, h.mode,
             [t.to_dict() for t in h.targets], h.item]
            for h in handshakes
        ],
        "s": [[s.namespace, s.name, s.document, s.item] for s in secrets],
    }  # fmt: skip


def decode(file: str, record: Any) -> tuple[list[Handshake], list[SourceSecret]] | None:
    try:
        if record["r"] != RULES:
            return None
        handshakes = [
            Handshake(str(ws), str(name), str(sname), str(sns), str(tns), tuple(_target(t) for t in targets), file,
                      int(document), None if mode is None else str(mode), _item(item))
            for ws, name, sname, sns, tns, document, mode, targets, item in record["h"]
        ]  # fmt: skip
        secrets = [
            SourceSecret(str(ns), str(name), file, int(document), _item(item))
            for ns, name, document, item in record["s"]
        ]
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return handshakes, secrets


def _item(value: Any) -> int | None:
    return None if value is None else int(value)


def _selector(data: Any) -> LabelSelector | None:
    if data is None:
        return None
    labels = tuple(sorted((str(k), str(v)) for k, v in data.get("matchLabels", {}).items()))
    exprs = tuple(
        Requirement(str(e["key"]), str(e["operator"]), tuple(str(v) for v in e.get("values", ())))
        for e in data.get("matchExpressions", ())
    )
    return LabelSelector(labels, exprs)


def _target(data: Any) -> Target:
    return Target(
        name=data.get("name"),
        cluster_name=data.get("clusterName"),
        cluster_selector=_selector(data.get("clusterSelector")),
        cluster_group=data.get("clusterGroup"),
        cluster_group_selector=_selector(data.get("clusterGroupSelector")),
        do_not_deploy=data.get("doNotDeploy") is True,
    )
