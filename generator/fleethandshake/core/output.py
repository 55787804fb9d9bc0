"""Compose the next output tree from the previous one and this run's results.

Nothing lost: bundles of handshakes that are Missing or Error are carried over byte for
byte; only a handshake that is gone (or a target it no longer has) loses its bundles.
Files fleet-handshake did not write are kept as they are.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..modes import modes
from .models import LABEL_HANDSHAKE, LABEL_MANAGED_BY, LABEL_SOURCE, LABEL_WORKSPACE, MANAGER, Handshake, Status
from .ownership import Ownership
from .render import FLEET_YAML, STATE_DIR, Tree
from .yaml import reader

STATUS_FILE = f"{STATE_DIR}/status.json"
STATUS_API_VERSION = "fleet-handshake/v1"  # of status.json (status_json, read_status)
_OUR_LABELS = re.compile(  # fleet.yaml's labels as render writes them, up to the next top-level key
    rf'\n"labels":\n  "{re.escape(LABEL_MANAGED_BY)}": "{re.escape(MANAGER)}"'
    rf'\n  "{re.escape(LABEL_WORKSPACE)}": "([a-z0-9][a-z0-9-]*)"'
    rf'\n  "{re.escape(LABEL_HANDSHAKE)}": "([a-z0-9][a-z0-9.-]*)"'
    rf'(?:\n  "{re.escape(LABEL_SOURCE)}": "([A-Za-z0-9][-A-Za-z0-9_.]*)")?\n(?=")'.encode()
)


@dataclass(frozen=True)
class Outcome:
    """What happened to one handshake in this run."""

    handshake: Handshake
    status: Status
    message: str
    files: Tree = field(default_factory=dict, repr=False)  # plain mode: Secrets in clear text


@dataclass(frozen=True)
class HandshakeChange:
    workspace: str
    name: str
    status: Status
    message: str
    bundles: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True)
class Composition:
    tree: Tree
    changes: tuple[HandshakeChange, ...]
    pruned: tuple[str, ...]  # bundle folders removed because their handshake or target is gone
    decrypted_files: int = 0  # how much work the run did (incremental runs skip unchanged inputs)
    decrypt_failed: int = 0  # files sops could not decrypt (not counted in decrypted_files)
    reused: int = 0
    source: str = ""  # the source identity that owns what this run writes and removes
    removed: tuple[Removal, ...] = ()  # every removal: the pruned bundle folders, then management Secrets
    unclaimed: tuple[str, ...] = ()  # bundle folders of an earlier version whose handshake this source lacks


@dataclass(frozen=True)
class Removal:
    """One thing a run removes: a bundle folder (`ws/bundle`) or a Secret on the management cluster."""

    kind: str  # "bundle" | "Secret"
    path: str  # ws/bundle, or namespace/name of the Secret
    handshake: str  # ws/handshake it belonged to

    def to_dict(self) -> dict[str, str]:
        if self.kind == "bundle":
            return {"kind": self.kind, "path": self.path, "handshake": self.handshake}
        namespace, name = self.path.split("/", 1)
        return {"kind": self.kind, "namespace": namespace, "name": name, "handshake": self.handshake}


# The names of the files fleet-handshake writes into a bundle folder, in every mode. Any other file
# there (or a sub-folder) was put there by someone else and is left alone.
OWN_FILES = frozenset({FLEET_YAML, *(m.file for m in modes().values())})


@functools.cache
def bundle_folder(path: str) -> str | None:
    """`ws/bundle` for any file below a bundle-level folder, else None."""
    first = path.find("/")
    if first <= 0 or path[0] == ".":
        return None
    second = path.find("/", first + 1)
    return path[:second] if second > first + 1 else None


@functools.cache
def bundle_dir(path: str) -> str | None:
    """`ws/bundle` for a file fleet-handshake writes in a bundle folder, else None."""
    folder = bundle_folder(path)
    return folder if folder is not None and path[len(folder) + 1 :] in OWN_FILES else None


def is_own_path(path: str) -> bool:
    """Whether `path` is a file fleet-handshake writes (in a bundle folder or its state folder)."""
    return path.startswith(f"{STATE_DIR}/") or bundle_dir(path) is not None


def owned_bundles(old: Mapping[str, bytes], owner: Ownership) -> dict[tuple[str, str], set[str]]:
    """Bundle folders fleet-handshake wrote for `owner`'s source (core/ownership.py), by
    (workspace, handshake), read from their labels.

    The tree itself is the record of ownership, so a lost or foreign state file cannot make
    the tool forget (and then keep or delete) a bundle.
    """
    return _owned(managed_bundles(old), owner)


def _owned(managed: Mapping[str, tuple[str, str, str | None]], owner: Ownership) -> dict[tuple[str, str], set[str]]:
    owned: dict[tuple[str, str], set[str]] = {}
    for directory, (workspace, name, source) in managed.items():
        labels = {LABEL_MANAGED_BY: MANAGER, LABEL_WORKSPACE: workspace, LABEL_HANDSHAKE: name}
        if owner.owns(labels if source is None else {**labels, LABEL_SOURCE: source}):
            owned.setdefault((workspace, name), set()).add(directory)
    return owned


def managed_bundles(old: Mapping[str, bytes]) -> dict[str, tuple[str, str, str | None]]:
    """Every bundle folder fleet-handshake wrote (any source): `ws/bundle` -> its workspace,
    handshake and source labels (None: written before sources were recorded)."""
    managed: dict[str, tuple[str, str, str | None]] = {}
    for path, content in old.items():
        parts = path.split("/")
        if len(parts) != 3 or parts[2] != FLEET_YAML or parts[0].startswith("."):
            continue
        labels = rendered_labels(content) or _parsed_labels(content)
        if labels is not None:
            managed[f"{parts[0]}/{parts[1]}"] = labels
    return managed


def rendered_labels(content: bytes) -> tuple[str, str, str | None] | None:
    """The labels of a fleet.yaml exactly as render.py writes it, found without parsing the YAML
    (every run reads every fleet.yaml of OUT); None for any other text."""
    found = _OUR_LABELS.search(content)
    if found is None:
        return None
    return found[1].decode(), found[2].decode(), found[3].decode() if found[3] is not None else None


def _parsed_labels(content: bytes) -> tuple[str, str, str | None] | None:
    try:
        doc = reader.load(content)
    except yaml.YAMLError:
        return None
    labels = doc.get("labels") if isinstance(doc, dict) else None
    if not isinstance(labels, dict) or labels.get(LABEL_MANAGED_BY) != MANAGER:
        return None
    workspace, name, source = labels.get(LABEL_WORKSPACE), labels.get(LABEL_HANDSHAKE), labels.get(LABEL_SOURCE)
    if not isinstance(workspace, str) or not isinstance(name, str):
        return None
    return workspace, name, source if isinstance(source, str) else None


def compose(old: Mapping[str, bytes], outcomes: Iterable[Outcome], source: str = "") -> Composition:
    """The next tree. Only bundle folders this source owns (core/ownership.py) are rewritten or
    removed; `outcomes` holds one entry for every handshake of the source."""
    outcomes = list(outcomes)
    managed = managed_bundles(old)
    owner = Ownership(source, frozenset((o.handshake.workspace, o.handshake.name) for o in outcomes))
    owned = _owned(managed, owner)
    owned_dirs: set[str] = set().union(*owned.values())
    old_by_dir = group_by_bundle(old)
    # Kept: what is not ours, and someone else's files in our bundle folders.
    tree = {p: c for p, c in old.items() if not p.startswith(f"{STATE_DIR}/") and bundle_dir(p) not in owned_dirs}
    foreign_dirs = {bundle_folder(p) for p in tree} - owned_dirs - {None}
    outcomes = sorted(outcomes, key=lambda o: (o.handshake.workspace, o.handshake.name))
    # Folders kept for handshakes that are not Synced are theirs whatever comes later in the
    # order: a Synced handshake whose new folder is one of them must not take it over.
    claimed: dict[str, str] = {
        d: o.handshake.ref
        for o in outcomes
        if o.status is not Status.SYNCED
        for d in owned.get((o.handshake.workspace, o.handshake.name), ())
    }
    changes = []
    for outcome in outcomes:
        hs = outcome.handshake
        previous = owned.get((hs.workspace, hs.name), set())
        status, message = outcome.status, outcome.message
        new_by_dir = group_by_bundle(outcome.files)
        clash = sorted(d for d in new_by_dir if d in foreign_dirs or claimed.get(d, hs.ref) != hs.ref)
        if status is Status.SYNCED and clash:
            status = Status.ERROR
            user = claimed.get(clash[0])
            message = (f"bundle folder {clash[0]} is already used by handshake {user}; kept the previous bundles"
                       if user is not None else _clash_message(clash[0], managed.get(clash[0]), source))  # fmt: skip
        if status is not Status.SYNCED:
            new_by_dir = {d: old_by_dir.get(d, {}) for d in previous}
        for files in new_by_dir.values():
            tree.update(files)
        claimed.update(dict.fromkeys(new_by_dir, hs.ref))
        changed = tuple(sorted(d for d, files in new_by_dir.items() if files != old_by_dir.get(d)))
        removed = tuple(sorted(previous - set(new_by_dir)))
        changes.append(
            HandshakeChange(hs.workspace, hs.name, status, message, tuple(sorted(new_by_dir)), changed, removed)
        )
    pruned = tuple(sorted(owned_dirs - set(claimed)))
    removals = tuple(Removal("bundle", d, "/".join(managed[d][:2])) for d in pruned)
    unclaimed = tuple(sorted(d for d, (_, _, label) in managed.items() if label is None and d not in owned_dirs))
    comp = Composition(tree, tuple(changes), pruned, source=source, removed=removals, unclaimed=unclaimed)
    return with_status(comp, old)


def _clash_message(directory: str, owner: tuple[str, str, str | None] | None, source: str) -> str:
    if owner is None or owner[2] is None:
        return f"bundle folder {directory} is already used by something else; kept the previous bundles"
    return (f"bundle folder {directory} was written for handshake {owner[0]}/{owner[1]} of source {owner[2]}, not"
            f" this source ({source}); kept the previous bundles. If this source's identity changed, set"
            f" `source: {owner[2]}` in its .fleet-handshake.yaml")  # fmt: skip


def with_status(comp: Composition, old: Mapping[str, bytes]) -> Composition:
    """`comp` with its status.json. A run that removes nothing and changes no other file keeps
    the previous status.json, removals included: it still describes the run that made OUT as it is
    (and a second run after a removal writes nothing, so publish makes no empty commit)."""
    removed = [r.to_dict() for r in comp.removed]
    status = status_json(comp.changes, comp.source, removed)
    previous = old.get(STATUS_FILE)
    if not removed and previous is not None and previous != status and b'\n  "removed": []\n' not in previous:
        earlier = (read_status(previous) or {}).get("removed")
        if isinstance(earlier, list) and status_json(comp.changes, comp.source, earlier) == previous:
            outside = f"{STATE_DIR}/"
            paths = (p for p in set(old) | set(comp.tree) if not p.startswith(outside))
            if all(old.get(p) == comp.tree.get(p) for p in paths):
                status = previous
    comp.tree[STATUS_FILE] = status
    return comp


def group_by_bundle(tree: Mapping[str, bytes]) -> dict[str, dict[str, bytes]]:
    """Files of each bundle folder, by `ws/bundle`."""
    out: dict[str, dict[str, bytes]] = {}
    for path, content in tree.items():
        d = bundle_dir(path)
        if d is not None:
            out.setdefault(d, {})[path] = content
    return out


def status_json(changes: Iterable[HandshakeChange], source: str = "", removed: Iterable[Any] = ()) -> bytes:
    """status.json: deterministic (no times), so an unchanged run rewrites nothing; one handshake
    per line. `source`: the source identity; `removed`: what the run removed (Removal.to_dict rows)."""
    rows = ",\n    ".join(
        json.dumps({"namespace": c.workspace, "name": c.name, "status": str(c.status), "message": c.message,
                    "bundles": c.bundles})
        for c in changes
    )  # fmt: skip
    gone = ",\n    ".join(json.dumps(r) for r in removed)
    gone = f"[\n    {gone}\n  ]" if gone else "[]"
    return (f'{{\n  "apiVersion": "{STATUS_API_VERSION}",\n  "source": {json.dumps(source)},\n  "handshakes": [\n'
            f'    {rows}\n  ],\n  "removed": {gone}\n}}\n').encode()  # fmt: skip


def read_status(content: bytes | None) -> dict[str, Any] | None:
    """status.json as `status_json` writes it: a JSON object of this apiVersion with a list of
    handshakes; None for anything else (absent, empty, not JSON, another format)."""
    try:
        doc = json.loads(content or b"")
    except ValueError:  # not JSON, or not UTF-8 text
        return None
    if not isinstance(doc, dict) or doc.get("apiVersion") != STATUS_API_VERSION:
        return None
    return doc if isinstance(doc.get("handshakes"), list) else None


def status_rows(value: Any) -> list[Mapping[str, Any]]:
    """The rows of a status record's `handshakes` or `removed`: its objects, whatever else it holds."""
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []


def recorded_bundles(record: Mapping[str, Any]) -> frozenset[str]:
    """The bundle folders (`ws/bundle`) a status record lists for its handshakes."""
    found = (row.get("bundles") for row in status_rows(record.get("handshakes")))
    return frozenset(b for bundles in found if isinstance(bundles, list) for b in bundles if isinstance(b, str))


def clear_text_files() -> tuple[str, ...]:
    """The names of the files a bundle folder holds a Secret in clear text in (plain mode's)."""
    return tuple(m.file for m in modes().values() if m.clear_text)


def changed_paths(old: Mapping[str, bytes], new: Mapping[str, bytes]) -> list[str]:
    return sorted(p for p in set(old) | set(new) if old.get(p) != new.get(p))
