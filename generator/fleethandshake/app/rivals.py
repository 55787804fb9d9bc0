"""Controller mode: two FleetHandshake objects of one workspace that deliver one Secret name into
one namespace, with targets that may reach the same cluster. Fleet/Helm refuses the second
Bundle's Secret on a cluster both reach (it belongs to the other release), so both cannot be
Synced. The rule is `generate`'s (core/deliveries.py, README "Deliveries that would fight"); a
source is refused whole, but objects come one by one, so here the older handshake keeps
delivering and the newer is Error: nothing written for it, its Bundles kept as they are (Error
never removes). Older: the earlier creationTimestamp; as it has whole seconds only, two created in
the same second are ordered by which one the controller let deliver first (its status says so:
`_claims`), and only when that does not tell them apart (both or neither) by name. So one that
delivered before its twin reached the controller's cache is not turned Error (keeping its Bundles
beside the twin's), and the order never flips on later resyncs: the refused one never claims.

The controller finds the others in its cache through DeliveryIndex, by (workspace,
targetNamespace, secretName); a handshake that comes, goes or changes reconciles the others of
its old and new key, so a refused one is delivered as soon as the conflict ends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
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


def refusal(
    obj: Mapping[str, Any],
    hs: Handshake,
    others: Iterable[Mapping[str, Any]],
    status: Callable[[Mapping[str, Any]], Any] = lambda obj: obj.get("status"),
) -> str | None:
    """Why the handshake `hs` (of the object `obj`) may not deliver: one of `others` (objects that
    deliver its Secret name into its namespace) is older and may reach a cluster it reaches. None:
    it may deliver. An invalid object writes nothing, so it is no rival. `status(o)`: the status
    last written for `o` (the cached object may not show it yet)."""

    def age(o: Mapping[str, Any]) -> tuple[str, bool, str]:
        return _age(o, _claims(status(o)))

    mine = age(obj)
    for other in sorted(others, key=age):
        if (theirs_age := age(other)) >= mine:
            break
        theirs, _ = handshake_of(other)
        if theirs is None:
            continue
        # generate's message says where the other is: "(<it> is in <its file>)".
        theirs = dataclasses.replace(theirs, file=f"the cluster since {theirs_age[0] or 'an unknown time'}")
        for problem in conflicting_deliveries((hs, theirs)):
            if problem.file == hs.file:
                why = _why(theirs_age, mine)
                return f"{problem.message}. {theirs.ref} came first ({why}) and keeps delivering it: {WAITS}"
    return None


# The end of a refusal's message: a status that says it is no claim (`_claims`).
WAITS = "nothing is written for this handshake (its Bundles are kept as they are) until the two no longer fight"


def _claims(status: Any) -> bool:
    """Whether the status says the controller let the handshake deliver: it was reconciled and
    not refused as a rival (Synced, Missing, or an Error of another kind: it keeps its Bundles, and
    it would have refused a newer one as well)."""
    return isinstance(status, Mapping) and bool(status.get("status")) and WAITS not in str(status.get("message"))


def _age(obj: Mapping[str, Any], claims: bool) -> tuple[str, bool, str]:
    """Oldest first: the API server's creationTimestamp (RFC 3339, UTC, whole seconds, so it sorts
    as text); in one second, the one the controller let deliver; then by name (one workspace:
    names are unique)."""
    meta = obj.get("metadata") or {}
    return (str(meta.get("creationTimestamp") or ""), not claims, str(meta.get("name")))


def _why(theirs: tuple[str, bool, str], mine: tuple[str, bool, str]) -> str:
    if theirs[0] != mine[0]:
        return "created earlier: creationTimestamp"
    if theirs[1] != mine[1]:
        return "created in the same second, and the controller let it deliver first"
    return "created in the same second: the first by name"
