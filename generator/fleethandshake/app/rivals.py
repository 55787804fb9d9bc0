"""Controller mode: two FleetHandshake objects of one workspace that deliver one Secret name into
one namespace, with targets that may reach the same cluster. Fleet/Helm refuses the second
Bundle's Secret on a cluster both reach (it belongs to the other release), so both cannot be
Synced. The rule is `generate`'s (core/deliveries.py, README "Deliveries that would fight"); a
source is refused whole, but objects come one by one, so here the older handshake
(creationTimestamp, then name) keeps delivering and the newer is Error: nothing written for it,
its Bundles kept as they are (Error never removes).

The controller finds the others in its cache through DeliveryIndex, by (workspace,
targetNamespace, secretName); a handshake that comes, goes or changes reconciles the others of
its old and new key, so a refused one is delivered as soon as the conflict ends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from ..core.bundleobject import handshake_of
from ..core.deliveries import conflicting_deliveries
from ..core.models import Handshake

Key = tuple[str, str]  # (namespace, name) of a handshake
Delivery = tuple[str, str, str]  # (workspace, targetNamespace, secretName)


class DeliveryIndex:
    """The handshakes by what they deliver. Not thread-safe: the controller holds its lock."""

    def __init__(self) -> None:
        self._by_delivery: dict[Delivery, set[Key]] = {}

    def clear(self) -> None:
        self._by_delivery.clear()

    def add(self, key: Key, obj: Mapping[str, Any]) -> None:
        self._by_delivery.setdefault(delivery_of(obj), set()).add(key)

    def discard(self, key: Key, obj: Mapping[str, Any]) -> None:
        delivery = delivery_of(obj)
        if (keys := self._by_delivery.get(delivery)) is not None:
            keys.discard(key)
            if not keys:
                del self._by_delivery[delivery]

    def holding(self, delivery: Delivery) -> list[Key]:
        return sorted(self._by_delivery.get(delivery, ()))


def delivery_of(obj: Mapping[str, Any]) -> Delivery:
    meta = obj.get("metadata") or {}
    spec = obj["spec"] if isinstance(obj.get("spec"), Mapping) else {}
    return (str(meta.get("namespace")), str(spec.get("targetNamespace")), str(spec.get("secretName")))


def refusal(obj: Mapping[str, Any], hs: Handshake, others: Iterable[Mapping[str, Any]]) -> str | None:
    """Why the handshake `hs` (of the object `obj`) may not deliver: one of `others` (objects that
    deliver its Secret name into its namespace) is older and may reach a cluster it reaches. None:
    it may deliver. An invalid object writes nothing, so it is no rival."""
    age = _age(obj)
    for other in sorted(others, key=_age):
        if _age(other) >= age:
            break
        theirs, _ = handshake_of(other)
        if theirs is None:
            continue
        # generate's message says where the other is: "(<it> is in <its file>)".
        theirs = dataclasses.replace(theirs, file=f"the cluster since {_age(other)[0] or 'an unknown time'}")
        for problem in conflicting_deliveries((hs, theirs)):
            if problem.file == hs.file:
                return (
                    f"{problem.message}. {theirs.ref} came first (creationTimestamp, then name) and keeps delivering"
                    " it: nothing is written for this handshake (its Bundles are kept as they are) until the two no"
                    " longer fight"
                )
    return None


def _age(obj: Mapping[str, Any]) -> tuple[str, str]:
    """Oldest first: the API server's creationTimestamp (RFC 3339, UTC, whole seconds, so it sorts
    as text), ties broken by name (one workspace: names are unique)."""
    meta = obj.get("metadata") or {}
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("name")))
