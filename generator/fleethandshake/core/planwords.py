"""What changed in the Secret a bundle delivers, in words, between two readings of it. Never a value."""

from __future__ import annotations

from .bundleview import NO_KEYS, UNRECORDED, BundleView

# The value digests of the two trees were made with different keys (the age identities the runs
# decrypted with), or the output has none: whether a value changed cannot be told, so no key is
# called changed.
VALUES_UNCOMPARED = (
    "values not compared: this run's age identities did not make the output's state file "
    "(a rotated source key?); only key names are compared"
)
# sops and downstream modes: the output's state file does not record the handshake, so the
# bundle's values (and, in downstream mode, its key names) are unknown: no key is called added,
# removed or changed for want of a record.
VALUES_UNRECORDED = (
    "values not compared: the output's state file does not record them (deleted, from another "
    "repository, or written by an earlier version); only key names the bundle shows are compared"
)
# sops and downstream modes: the output's state file (of an earlier version) does not record the
# Secret's type, labels and annotations, so a change to them cannot be told from none.
META_UNCOMPARED = (
    "files changed; the Secret's type, labels and annotations are not compared: the output's state "
    "file, written by an earlier version, does not record them"
)
META_WORDS = {"type": "secret type", "labels": "labels", "annotations": "annotations"}

Words = tuple[str, ...]


def what_changed(old: BundleView, new: BundleView) -> tuple[Words, Words, Words, Words]:
    """Words for what changed (beside "data"), and the keys added, removed and changed."""
    changes = []
    if (old.target, old.earlier) != (new.target, new.earlier):
        changes.append("targets")
    if old.target_namespace != new.target_namespace:
        changes.append(f"target namespace {old.target_namespace} -> {new.target_namespace}")
    if old.secret_name != new.secret_name:
        changes.append(f"secret name {old.secret_name} -> {new.secret_name}")
    if old.secret_type != new.secret_type:
        changes.append(f"secret type {old.secret_type} -> {new.secret_type}")
    if old.secret_labels != new.secret_labels:
        changes.append("labels")
    if old.secret_annotations != new.secret_annotations:
        changes.append("annotations")
    before, after = dict(old.values), dict(new.values)
    added = tuple(sorted(set(after) - set(before)))
    removed = tuple(sorted(set(before) - set(after)))
    changed: Words = ()
    if UNRECORDED & {old.values_key, new.values_key}:
        changes.append(VALUES_UNRECORDED)
        if NO_KEYS in (old.values_key, new.values_key):
            added = removed = ()
    elif old.values_key != new.values_key:
        changes.append(VALUES_UNCOMPARED)
    else:
        changed = tuple(sorted(k for k in set(before) & set(after) if before[k] != after[k]))
    if added or removed or changed:
        changes.append("data")
    if old.meta and new.meta and old.values_key == new.values_key:  # not readable: the state's digests
        before_meta, after_meta = dict(old.meta), dict(new.meta)
        changes += [word for name, word in META_WORDS.items()
                    if before_meta.get(name) != after_meta.get(name) and word not in changes]  # fmt: skip
    return tuple(changes), added, removed, changed
