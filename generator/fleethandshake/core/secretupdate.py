"""Changes Kubernetes refuses to make to an existing Secret: a bundle must not ask for one.

The API server never changes a Secret's `type`, and changes nothing but the metadata of a Secret
that is `immutable: true` (apimachinery pkg/apis/core/validation ValidateSecretUpdate: "field is
immutable"). A bundle rewritten in place under the same name is upgraded by Helm (a three-way
merge patch; `--force` replaces, and is refused the same way), and a SopsSecret's Secret is
updated by the sops-secrets-operator: both are refused, and the old Secret stays on every
cluster. So such a change makes its handshake Error (its previous bundles kept, as for every
Error) with what to do instead. Labels and annotations may change: Kubernetes allows it.

The Secret "as last delivered" is the one the bundle holds in the output: readable in plain mode
(secret.yaml); in sops mode sealed for the clusters, so its type is known only as the keyed digest
the state file records (core/state.py `meta_digests`). A first delivery, or a bundle whose
previous Secret is unknown, goes ahead. Downstream mode writes its Secret through the API
server, which refuses such a change itself (app/downstream.py says so). Never a value in a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from ..modes.base import Mode
from .bundleview import delivered_values
from .models import Handshake
from .output import group_by_bundle
from .yaml import reader

Digests = Mapping[str, str]  # "type", "labels", "annotations" -> keyed digest (core/state.py)


def refused_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """What in `new` Kubernetes refuses as an update of the Secret `old` (both manifests), in
    words naming no value; None when the update is allowed."""
    before, after = _type(old), _type(new)
    if before != after:
        return f"type {before} -> {after}"
    if old.get("immutable") is not True:
        return None
    changed = [
        name
        for name, differs in (
            ("data", delivered_values(old) != delivered_values(new)),
            ("immutable", new.get("immutable") is not True),
        )
        if differs
    ]
    return f"immutable Secret's {' and '.join(changed)} changed" if changed else None


def _type(secret: Mapping[str, Any]) -> str:
    found = secret.get("type")
    return found if isinstance(found, str) and found else "Opaque"  # the API server's default


def refusal(
    hs: Handshake,
    mode: Mode,
    old_by_dir: Mapping[str, Mapping[str, bytes]],
    files: Mapping[str, bytes],
    digests: tuple[Digests, Digests] | None = None,
    then: str = "publish",
) -> str | None:
    """The Error message for a handshake whose bundle folders (`files`: the rendered ones; the
    sealed files of sops mode are not yet there) would change their Secret in a way Kubernetes
    refuses, compared with the output's folders (`old_by_dir`); None when none would.

    `digests`: the type digests recorded for the bundles in the output and those of this
    rendering, for a mode whose bundles do not hold the Secret readable (None: not known)."""
    if mode.elsewhere:  # the API server refuses it on apply, and says so
        return None
    for directory in sorted(group_by_bundle(files)):  # sops mode: fleet.yaml only, its file is sealed later
        old = (old_by_dir.get(directory) or {}).get(f"{directory}/{mode.file}")
        new = files.get(f"{directory}/{mode.file}")
        if old is None or old == new:
            continue  # a first delivery, or the same bytes
        before = mode.read_back(old, {}, _load, False)
        if before is None:
            continue  # not a Secret this mode wrote: unknown
        if before[1] and new is not None:
            after = mode.read_back(new, {}, _load, False)
            what = refused_change(before[0], after[0]) if after is not None else None
        elif digests is not None and digests[0].get("type") and digests[0].get("type") != digests[1].get("type"):
            what = "type changed (sops mode names no type: the source may hold it encrypted)"
        else:
            continue
        if what is not None:
            return message(hs, directory, what, then)
    return None


def _load(content: bytes | None) -> Any:
    if content is None:
        return None
    try:
        return reader.load(content)
    except yaml.YAMLError:
        return None


def message(hs: Handshake, directory: str, what: str, then: str = "publish") -> str:
    """The Error message: the handshake, the Secret, what changed, and what to do. No value."""
    return (
        f"cannot change Secret {hs.target_namespace}/{hs.secret_name} in place (bundle"
        f' {directory}): {what}; Kubernetes refuses that on update ("field is immutable"), so Fleet\'s upgrade'
        " of the bundle would fail and the old Secret would stay on every cluster."
        " To deliver it, give the Secret a new name (its metadata.name and the handshake's spec.secretName),"
        f" or remove the target (or the handshake), {then}, then add it back: Fleet deletes the old Secret"
        " and creates the new one (the clusters have none in between)"
    )
