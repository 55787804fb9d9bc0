"""Read a bundle folder back: what it delivers, where, and which keys; values stay wrapped."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from ..modes import modes
from .models import LABEL_HANDSHAKE, LABEL_MANAGED_BY, LABEL_WORKSPACE, MANAGER, SecretValue
from .output import group_by_bundle
from .render import FLEET_YAML, go_base64_decode
from .state import STATE_FILE, digests_key_id, value_digests_by_handshake
from .yaml import reader

# sops mode: the sealed file differs while what fleet-handshake seals reads the same. Only the
# cluster's key opens the old file, so what it delivered is not known here: never "same delivery".
RESEALED = (
    "sealed again: the SopsSecret in the output is not the one fleet-handshake sealed "
    "(replaced, edited, or written by an older version); what it delivered cannot be read here"
)
# `values_key` of a bundle whose Secret is not readable and whose handshake the tree's state file
# does not record (deleted, foreign, of an earlier version): its key names as read from the
# bundle (sops leaves them in clear), or none at all (downstream). Never compared as values.
NAMES_ONLY = "names-only"
NO_KEYS = "no-keys"
UNRECORDED = frozenset({NAMES_ONLY, NO_KEYS})


@dataclass(frozen=True)
class BundleView:
    path: str  # ws/bundle
    workspace: str
    name: str
    handshake: str
    target: dict[str, Any]
    earlier: tuple[dict[str, Any], ...]
    target_namespace: str | None
    secret_name: str | None
    secret_type: str | None
    secret_labels: tuple[tuple[str, str], ...]
    secret_annotations: tuple[tuple[str, str], ...]
    values: tuple[tuple[str, SecretValue], ...]  # key -> canonical value (base64 of the bytes)
    mode: str = ""  # the delivery mode whose file the folder holds
    # "" when `values` are read from the Secret; else the id of the key whose digests they are
    # (the state file's): digests made with different keys cannot be compared.
    values_key: str = ""
    # Where the Secret is not readable: keyed digests of its type, labels and annotations from the
    # state file (None: the state file does not record them); () where they are read from the Secret.
    meta: tuple[tuple[str, str], ...] | None = ()
    bundle_labels: tuple[tuple[str, str], ...] = ()  # what its fleet.yaml sets on the Bundle

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.values)


def _pairs(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in value.items()))


def delivered_values(secret: Mapping[str, Any]) -> tuple[tuple[str, SecretValue], ...]:
    # data and stringData may say the same thing two ways; compare the bytes they deliver.
    out: dict[str, SecretValue] = {}
    data = secret.get("data")
    if isinstance(data, dict):
        for key, value in data.items():
            try:
                raw = go_base64_decode(str(value))
            except (binascii.Error, ValueError):
                raw = str(value).encode()
            out[str(key)] = SecretValue(base64.b64encode(raw).decode())
    string_data = secret.get("stringData")
    if isinstance(string_data, dict):
        for key, value in string_data.items():
            out[str(key)] = SecretValue(base64.b64encode(str(value).encode()).decode())
    return tuple(sorted(out.items()))


def read_views(
    tree: Mapping[str, bytes], light: set[str] | frozenset[str] = frozenset(), memo: dict[bytes, Any] | None = None
) -> dict[str, BundleView]:
    """Every bundle folder fleet-handshake wrote in `tree`, by `ws/bundle`.

    Where a bundle holds no readable Secret (sops and downstream modes), its keys and whether
    their values changed come from the keyed digests in the tree's state file. Folders in
    `light` (unchanged between the trees a plan compares) skip reading Secret values; `memo`
    shares parsed files between the two trees.
    """
    memo = {} if memo is None else memo

    def load(content: bytes | None) -> Any:
        if content is None:
            return None
        if content not in memo:
            try:
                memo[content] = reader.load(content)
            except yaml.YAMLError:
                memo[content] = None
        return memo[content]

    digests = value_digests_by_handshake(tree.get(STATE_FILE))
    digests_key = digests_key_id(tree.get(STATE_FILE))
    metas = value_digests_by_handshake(tree.get(STATE_FILE), "meta")
    views: dict[str, BundleView] = {}
    for directory, files in group_by_bundle(tree).items():
        fleet = load(files.get(f"{directory}/{FLEET_YAML}"))
        if not isinstance(fleet, dict):
            continue
        labels = fleet.get("labels")
        if not isinstance(labels, dict) or labels.get(LABEL_MANAGED_BY) != MANAGER:
            continue
        targets = fleet.get("overrideTargets") or [{}]
        earlier = fleet.get("targetCustomizations") or []
        # The first mode that finds its file in the folder says which Secret it delivers.
        found = (
            (m.name, m.read_back(files.get(f"{directory}/{m.file}"), fleet, load, directory in light))
            for m in modes().values()
        )
        mode, (secret, readable) = next(((n, f) for n, f in found if f is not None), ("", ({}, False)))
        unrecorded = ""
        meta: dict[str, Any] = secret["metadata"] if isinstance(secret.get("metadata"), dict) else {}
        described: tuple[tuple[str, str], ...] | None = ()
        if readable:
            values = delivered_values(secret)
        else:  # its keys and value digests, from the state file
            ref = (str(labels.get(LABEL_WORKSPACE)), str(labels.get(LABEL_HANDSHAKE)))
            described = tuple(sorted(metas[ref].items())) if ref in metas else None
            if ref in digests:
                values = tuple((k, SecretValue(d)) for k, d in sorted(digests[ref].items()))
            else:  # not recorded: the key names the bundle shows, if any
                names = secret.get("data")
                values = tuple((str(k), SecretValue("")) for k in sorted(names)) if isinstance(names, dict) else ()
                unrecorded = NAMES_ONLY if isinstance(names, dict) else NO_KEYS
        workspace, name = directory.split("/", 1)
        views[directory] = BundleView(
            path=directory,
            workspace=str(labels.get(LABEL_WORKSPACE, workspace)),
            name=str(fleet.get("name", name)),
            handshake=str(labels.get(LABEL_HANDSHAKE, "")),
            target=dict(targets[0]) if isinstance(targets[0], dict) else {},
            earlier=tuple({k: v for k, v in t.items() if k != "doNotDeploy"} for t in earlier if isinstance(t, dict)),
            target_namespace=fleet.get("namespace"),
            secret_name=meta.get("name"),
            secret_type=str(secret["type"]) if isinstance(secret.get("type"), str) else None,
            secret_labels=_pairs(meta.get("labels")),
            secret_annotations=_pairs(meta.get("annotations")),
            values=values,
            mode=mode,
            values_key="" if readable else unrecorded or digests_key,
            meta=described,
            bundle_labels=_pairs(labels),
        )
    return views


def age_recipients(content: bytes | None, memo: Mapping[bytes, Any]) -> frozenset[str]:
    """The age recipients a sealed file names in its sops metadata (public keys, in clear text),
    from the documents `read_views` parsed."""
    doc = memo.get(content) if content is not None else None
    sops = doc.get("sops") if isinstance(doc, dict) else None
    entries = sops.get("age") if isinstance(sops, dict) else None
    if not isinstance(entries, list):
        return frozenset()
    return frozenset(str(e["recipient"]) for e in entries if isinstance(e, dict) and "recipient" in e)


def resealed_reason(old: bytes, new: bytes | None, memo: Mapping[bytes, Any]) -> str:
    """Why a sealed file is sealed again: its recipients changed (they are public, in clear text in
    the file's sops metadata), or the old file is not the one fleet-handshake sealed."""
    before, after = age_recipients(old, memo), age_recipients(new, memo)
    if not after or before == after:
        return RESEALED
    changed = (("added", after - before), ("removed", before - after))
    parts = [f"{label} {', '.join(sorted(keys))}" for label, keys in changed if keys]
    return f"sealed again for other age recipients: {'; '.join(parts)}"
