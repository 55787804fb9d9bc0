"""What a change does: per bundle, per cluster, and the conflicts it creates. Never a value."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..modes import modes
from .bundleview import BundleView, read_views, resealed_reason
from .conflicts import Conflict, Resolve, cluster_label, find_conflicts
from .describe import describe_criteria, describe_target
from .inventory import Inventory
from .namespacemaps import mapped_deliveries
from .output import HandshakeChange, group_by_bundle
from .planwords import META_UNCOMPARED, Words, what_changed
from .removals import Removals

if TYPE_CHECKING:
    from .deliverymap import DeliveryMap

ADDED, REMOVED, MODIFIED, UNCHANGED = "added", "removed", "modified", "unchanged"
# The files are rewritten while what they deliver reads the same: written by an older version of
# fleet-handshake (which left strings unquoted and wrote stringData), or edited by hand.
REWRITTEN = "files rewritten in fleet-handshake's format (every string quoted, Secret as data): same delivery"
# A removed and an added bundle of the same handshake target: the folder got a new name.
RENAMED_WHY = ("its name carries the bundle's identity (workspace, handshake, target, target namespace, "
               "Secret name, delivery mode) in 64 bits; earlier versions used 32 bits of fewer")  # fmt: skip
# The same, when the delivery mode changed: the mode is part of the name, and that is the reason.
MODE_CHANGED = "its delivery mode changed from {before} to {after}, and the mode is part of a bundle's identity"


@dataclass(frozen=True)
class BundleDiff:
    """One bundle's change. The JSON plan holds these fields in this order (camelCase)."""

    workspace: str
    handshake: str
    target: str
    bundle: str
    path: str
    change: str
    secret: str | None
    target_namespace: str | None
    changes: tuple[str, ...] = ()  # what changed, in words: "targets", "secret type", ...
    keys_added: tuple[str, ...] = ()
    keys_removed: tuple[str, ...] = ()
    keys_changed: tuple[str, ...] = ()
    clusters: tuple[str, ...] | None = None  # reached after the change (before, if removed)
    clusters_gained: tuple[str, ...] = ()
    clusters_lost: tuple[str, ...] = ()
    where: str = ""  # the target's criteria without its name: "group edge", "clusters env=prod"


@dataclass(frozen=True)
class ClusterImpact:
    workspace: str
    cluster: str
    gains: tuple[str, ...]  # "namespace/secret (handshake)"
    loses: tuple[str, ...]
    changes: tuple[str, ...]


@dataclass(frozen=True)
class Move:
    """A cluster that keeps a handshake's Secret but gets it from another bundle after the change.

    Not an error, but not seamless either: Fleet installs the new bundle's Helm release while the
    old one still owns the Secret, then uninstalls the old one (README: "When a cluster moves").
    """

    workspace: str
    cluster: str
    handshake: str
    secret: str  # namespace/name on the cluster
    before: str  # bundle folder (workspace/bundle) that delivered it
    after: str  # bundle folder that delivers it now

    @property
    def message(self) -> str:
        return self.says(self.cluster)

    def says(self, cluster: str) -> str:
        """The message, naming the cluster as given (plans for people give its display name too)."""
        return (
            f"cluster {cluster} moves from bundle {self.before} to {self.after} of handshake "
            f"{self.workspace}/{self.handshake} (Secret {self.secret}): the new bundle takes the Secret over"
        )


@dataclass(frozen=True)
class Plan:
    bundles: tuple[BundleDiff, ...]
    handshakes: tuple[HandshakeChange, ...]
    clusters: tuple[ClusterImpact, ...] | None = None
    conflicts: tuple[Conflict, ...] = ()
    moves: tuple[Move, ...] = ()
    summary: dict[str, int] = field(default_factory=dict)
    display: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (workspace, cluster) -> display name
    removals: Removals | None = None  # the removal guard's decision, when the plan is for a run
    delivery_map: DeliveryMap | None = None  # what every cluster receives (plan --map)

    def cluster_label(self, workspace: str, cluster: str) -> str:
        return cluster_label(self.display, workspace, cluster)

    @property
    def has_changes(self) -> bool:
        return any(b.change != UNCHANGED for b in self.bundles)

    @property
    def not_synced(self) -> tuple[HandshakeChange, ...]:
        return tuple(h for h in self.handshakes if h.status.value != "Synced")


def _diff(
    old: BundleView | None, new: BundleView | None, resolve: Resolve | None, same: bool = False, resealed: str = ""
) -> BundleDiff:
    view = new or old
    assert view is not None
    diff = BundleDiff(
        workspace=view.workspace, handshake=view.handshake, target=describe_target(view.target),
        bundle=view.name, path=view.path, change=UNCHANGED, secret=view.secret_name,
        target_namespace=view.target_namespace, where=describe_criteria(view.target),
    )  # fmt: skip
    if resolve is not None:
        reach_old = resolve(old.workspace, old.target, old.earlier) if old else frozenset()
        reach_new = resolve(new.workspace, new.target, new.earlier) if new else frozenset()
        diff = replace(
            diff,
            clusters=tuple(sorted(reach_new if new else reach_old)),
            clusters_gained=tuple(sorted(reach_new - reach_old)),
            clusters_lost=tuple(sorted(reach_old - reach_new)),
        )
    if old is None:
        return replace(diff, change=ADDED, keys_added=view.keys)
    if new is None:
        return replace(diff, change=REMOVED, keys_removed=view.keys)
    if same:
        return diff  # byte-identical folders: unchanged, whatever their content
    changes, added, removed, changed = what_changed(old, new)
    unexplained = resealed or (META_UNCOMPARED if old.meta is None or new.meta is None else REWRITTEN)
    return replace(diff, change=MODIFIED, changes=changes or (unexplained,),
                   keys_added=added, keys_removed=removed, keys_changed=changed)  # fmt: skip


def make_plan(
    old_tree: Mapping[str, bytes],
    new_tree: Mapping[str, bytes],
    handshakes: Iterable[HandshakeChange],
    resolve: Resolve | None = None,
    display: Mapping[tuple[str, str], str] | None = None,
    known: dict[bytes, Any] | None = None,
    inventory: Inventory | None = None,
) -> Plan:
    """The plan from `old_tree` to `new_tree`.

    `known` maps file contents to the document they hold, when the caller knows it without
    parsing (the fleet.yaml files this run rendered or verified): a plan over thousands of
    unchanged bundles then parses only what it must. What the plan parses is added to it, for
    the caller's further reading of the same trees.
    """
    old_dirs, new_dirs = group_by_bundle(old_tree), group_by_bundle(new_tree)
    same = {d for d in old_dirs.keys() & new_dirs.keys() if old_dirs[d] == new_dirs[d]}
    memo: dict[bytes, Any] = known if known is not None else {}
    old, new = read_views(old_tree, same, memo), read_views(new_tree, same, memo)
    sealed = [m.file for m in modes().values() if m.seals]
    resealed = {
        d: resealed_reason(old_dirs[d][f"{d}/{f}"], new_dirs[d].get(f"{d}/{f}"), memo)
        for d in old_dirs.keys() & new_dirs.keys() - same
        for f in sealed
        if f"{d}/{f}" in old_dirs[d] and old_dirs[d][f"{d}/{f}"] != new_dirs[d].get(f"{d}/{f}")
    }
    paths = sorted(set(old) | set(new))
    diffs = _renames(
        tuple(_diff(old.get(p), new.get(p), resolve, p in same, resealed.get(p, "")) for p in paths), old, new
    )
    hs = tuple(handshakes)
    impacts: tuple[ClusterImpact, ...] | None = None
    conflicts: list[Conflict] = []
    moves: tuple[Move, ...] = ()
    if resolve is not None:
        impacts, moves = _impacts(diffs, old, new, resolve)
        conflicts = find_conflicts(new, resolve, display or {})
        if inventory is not None:
            conflicts += mapped_deliveries(new.values(), inventory, resolve, display or {})
    summary = {kind: sum(1 for d in diffs if d.change == kind) for kind in (ADDED, REMOVED, MODIFIED, UNCHANGED)}
    summary["conflicts"] = len(conflicts)
    if resolve is not None:
        summary["moves"] = len(moves)
    summary["not_synced"] = sum(1 for h in hs if h.status.value != "Synced")
    if impacts is not None:
        summary["clusters_affected"] = len(impacts)
    return Plan(diffs, hs, impacts, tuple(conflicts), moves, summary, dict(display or {}))


def _renames(
    diffs: tuple[BundleDiff, ...], old: dict[str, BundleView], new: dict[str, BundleView]
) -> tuple[BundleDiff, ...]:
    """A bundle removed and one added for the same handshake, target, namespace and Secret: a rename.

    Both stay what they are to Fleet (one Bundle deleted, one created), but the plan says so and why.
    """

    def what(view: BundleView) -> str:
        return json.dumps([view.workspace, view.handshake, view.target, view.target_namespace, view.secret_name],
                          sort_keys=True)  # fmt: skip

    added = {what(new[d.path]): d for d in diffs if d.change == ADDED}
    pairs = {d.path: added[what(old[d.path])] for d in diffs if d.change == REMOVED and what(old[d.path]) in added}
    renamed_to = {a.path: r for r, a in pairs.items()}

    def why(before: BundleView, after: BundleView) -> str:
        if before.mode and after.mode and before.mode != after.mode:
            return MODE_CHANGED.format(before=before.mode, after=after.mode)
        return RENAMED_WHY

    out = []
    for d in diffs:
        if d.path in pairs:
            d = replace(d, changes=(f"renamed to {pairs[d.path].bundle}: {why(old[d.path], new[pairs[d.path].path])}",))
        elif d.path in renamed_to:
            before, after = old[renamed_to[d.path]], new[d.path]
            # What the clusters receive may change with the rename (a value rotated in the same
            # change): said as for a bundle modified in place, where the two views compare.
            words, changed = _renamed_changes(before, after)
            d = replace(d, changes=(f"renamed from {before.name}: {why(before, after)}", *words), keys_changed=changed)
        out.append(d)
    return tuple(out)


def _renamed_changes(before: BundleView, after: BundleView) -> tuple[Words, Words]:
    """What changes in the Secret a renamed bundle delivers, beyond its name: words and keys changed.

    Only where the two views read the Secret alike (both from the Secret, or both from the state
    file's digests of the same key): a plain-mode view against a digest view compares nothing."""
    if before.values_key != after.values_key or (before.meta is None) != (after.meta is None):
        return (), ()
    if before.mode != after.mode:  # each mode reads other metadata back (a SopsSecret's own labels): the digests say
        after = replace(after, secret_type=before.secret_type, secret_labels=before.secret_labels,
                        secret_annotations=before.secret_annotations)  # fmt: skip
    changes, _, removed, changed = what_changed(before, after)
    words = [c for c in changes if c != "data"]
    words += [f"keys removed {', '.join(removed)}"] if removed else []
    return tuple(words), changed


def _impacts(
    diffs: tuple[BundleDiff, ...], old: dict[str, BundleView], new: dict[str, BundleView], resolve: Resolve
) -> tuple[tuple[ClusterImpact, ...], tuple[Move, ...]]:
    """Per cluster: which deliveries (namespace/secret from a handshake) it gains, loses or sees
    change; and the clusters that keep a delivery but get it from another bundle (moves)."""
    gains: dict[tuple[str, str], set[str]] = {}
    loses: dict[tuple[str, str], set[str]] = {}
    changes: dict[tuple[str, str], set[str]] = {}
    came: dict[tuple[str, str, str], str] = {}  # (workspace, cluster, delivery) -> bundle gaining it
    went: dict[tuple[str, str, str], str] = {}  # ... -> bundle losing it

    def reach(view: BundleView | None) -> dict[str, str]:
        if view is None:
            return {}
        delivery = f"{view.target_namespace}/{view.secret_name} ({view.handshake})"
        return dict.fromkeys(resolve(view.workspace, view.target, view.earlier), delivery)

    for d in diffs:
        if d.change == UNCHANGED:
            continue
        before, after = reach(old.get(d.path)), reach(new.get(d.path))
        for cluster, delivery in after.items():
            key = (d.workspace, cluster)
            if before.get(cluster) != delivery:
                gains.setdefault(key, set()).add(delivery)
                came[(*key, delivery)] = d.path
            else:
                changes.setdefault(key, set()).add(f"{delivery}: {', '.join(_change_words(d))}")
        for cluster, delivery in before.items():
            if after.get(cluster) != delivery:
                loses.setdefault((d.workspace, cluster), set()).add(delivery)
                went[(d.workspace, cluster, delivery)] = d.path
    moves = []
    by_path = {d.path: d for d in diffs}
    for ws, cluster, delivery in sorted(came.keys() & went.keys()):
        # The same Secret of the same handshake, from another bundle: a move, not a gain and a loss.
        gains[(ws, cluster)].discard(delivery)
        loses[(ws, cluster)].discard(delivery)
        source, target = went[(ws, cluster, delivery)], came[(ws, cluster, delivery)]
        also = _moved_words(by_path[target])
        move = f"{delivery}: moves from bundle {source} to {target}"
        changes.setdefault((ws, cluster), set()).add(", ".join([move, *also]))
        view = new[target]
        moves.append(Move(ws, cluster, view.handshake, f"{view.target_namespace}/{view.secret_name}", source, target))
    impacts = tuple(
        ClusterImpact(ws, c, tuple(sorted(gains.get((ws, c), ()))), tuple(sorted(loses.get((ws, c), ()))),
                      tuple(sorted(changes.get((ws, c), ()))))
        for ws, c in sorted(set(gains) | set(loses) | set(changes))
    )  # fmt: skip
    return impacts, tuple(moves)


def _moved_words(d: BundleDiff) -> list[str]:
    """What changes in a Secret a cluster keeps while it moves to bundle `d`: its keys, and for a
    renamed bundle the other changes of its Secret (not the bundle's targets: the move says them)."""
    if d.change == ADDED:
        words = [c for c in d.changes if not c.startswith("renamed ")]
        return words + ([f"keys changed {', '.join(d.keys_changed)}"] if d.keys_changed else [])
    return [w for w in _change_words(d) if w.startswith("keys ")]


def _change_words(d: BundleDiff) -> list[str]:
    words = [c for c in d.changes if c != "data"]
    if d.keys_added:
        words.append("keys added " + ", ".join(d.keys_added))
    if d.keys_removed:
        words.append("keys removed " + ", ".join(d.keys_removed))
    if d.keys_changed:
        words.append("keys changed " + ", ".join(d.keys_changed))
    return words
