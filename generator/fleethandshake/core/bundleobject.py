"""Controller mode's pure part: a FleetHandshake object read from the cluster, the Fleet `Bundle`
objects its rendered bundle folders become, and the status it is given.

A folder becomes a Bundle as Fleet makes one (rancher/fleet v0.16, internal/bundlereader/read.go
`bundleFromDir`, resources.go `readResources`): fleet.yaml is read as a FleetYAML; `name` and
`labels` become the object's; every other field is the BundleSpec (`namespace`, `helm`,
`correctDrift`, `downstreamResources`, ...); `targetCustomizations` are appended to
`spec.targets` and those without a name are named `target000`, `target001`, ... by position
(setTargetNames); then each `overrideTargets` entry is appended to `spec.targets` and to
`spec.targetRestrictions` with its name and criteria only. Every file of the folder but
fleet.yaml (ignoreApplyConfigs) is one `spec.resources` entry, `{name: its path in the folder,
content: its text}`, sorted by name; when the Bundle would be 1,000,000 bytes of JSON or more,
Fleet stores every content gzipped and base64-encoded (`encoding: base64+gz`) instead.
So the controller's Bundles are generate's folders as Fleet would read them.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
from collections.abc import Mapping
from typing import Any

import yaml

from ..errors import Problem
from . import validate_handshake
from .collector import Collector
from .inventory import FLEET_API_VERSION
from .models import Handshake, Status
from .output import group_by_bundle
from .render import FLEET_YAML, Tree
from .yaml.reader import Document

COMPRESS_AT = 1_000_000  # read.go loadBundle: a Bundle whose JSON is this size or more is compressed
_TARGET_FIELDS = ("name", "clusterName", "clusterSelector", "clusterGroup", "clusterGroupSelector")
_NOT_SPEC = ("name", "labels", "targetCustomizations", "overrideTargets", "imageScans")


def handshake_of(obj: Mapping[str, Any]) -> tuple[Handshake | None, list[Problem]]:
    """The handshake an API object holds, validated as `generate` validates a source document;
    problems name the object and the YAML path."""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    assert isinstance(meta, Mapping)
    collector = Collector(f"FleetHandshake {meta.get('namespace')}/{meta.get('name')}", Document(0, dict(obj)))
    found = validate_handshake.handshake(collector)
    return (found if not collector.problems else None), collector.problems


def problems_message(problems: list[Problem]) -> str:
    """The status message for invalid handshake: the YAML paths and what is wrong (no values)."""
    return "invalid: " + "; ".join(f"{p.path}: {p.message}" if p.path else p.message for p in problems)


def bundle_object(fleet: Mapping[str, Any], files: Mapping[str, bytes], namespace: str) -> dict[str, Any]:
    """The Bundle Fleet makes of one folder: `fleet` is its fleet.yaml as read, `files` the other
    files by their path inside the folder, `namespace` the GitRepo's (the workspace)."""
    spec: dict[str, Any] = {k: copy.deepcopy(v) for k, v in fleet.items() if k not in _NOT_SPEC}
    targets = [*(spec.pop("targets", None) or []), *copy.deepcopy(fleet.get("targetCustomizations") or [])]
    for index, target in enumerate(targets):
        if not target.get("name"):
            target["name"] = f"target{index:03d}"
    overrides = [{k: copy.deepcopy(t[k]) for k in _TARGET_FIELDS if k in t} for t in fleet.get("overrideTargets") or []]
    spec["targets"] = targets + overrides
    if overrides:
        spec["targetRestrictions"] = copy.deepcopy(overrides)
    spec["resources"] = [
        {"name": name, "content": files[name].decode()} for name in sorted(files) if name != FLEET_YAML
    ]
    metadata: dict[str, Any] = {"name": fleet["name"], "namespace": namespace}
    if fleet.get("labels"):
        metadata["labels"] = dict(fleet["labels"])
    bundle = {"apiVersion": FLEET_API_VERSION, "kind": "Bundle", "metadata": metadata, "spec": spec}
    if len(json.dumps(bundle, separators=(",", ":"))) >= COMPRESS_AT:
        for resource in spec["resources"]:
            packed = gzip.compress(resource["content"].encode(), mtime=0)
            resource.update(content=base64.b64encode(packed).decode(), encoding="base64+gz")
    return bundle


def bundle_files(bundle: Mapping[str, Any]) -> dict[str, bytes]:
    """The files of the folder a Bundle was made of (`bundle_object` read back: fleet.yaml left
    out), by `ws/bundle/file`; a resource that cannot be read is left out."""
    meta, spec = bundle.get("metadata") or {}, bundle.get("spec") or {}
    folder = f"{meta.get('namespace')}/{meta.get('name')}"
    files = {}
    for resource in spec.get("resources") or ():
        content = resource.get("content") if isinstance(resource, Mapping) else None
        if not isinstance(content, str) or not isinstance(resource.get("name"), str):
            continue
        try:
            raw = gzip.decompress(base64.b64decode(content)) if resource.get("encoding") else content.encode()
        except (ValueError, OSError, EOFError):  # binascii.Error is a ValueError; gzip's BadGzipFile an OSError
            continue
        files[f"{folder}/{resource['name']}"] = raw
    return files


def bundle_objects(tree: Tree) -> list[dict[str, Any]]:
    """Every bundle folder of a rendered tree (`ws/bundle/file`) as its Bundle, by name."""
    bundles = []
    for folder, files in sorted(group_by_bundle(tree).items()):
        workspace = folder.split("/", 1)[0]
        fleet = yaml.load(files[f"{folder}/{FLEET_YAML}"], Loader=yaml.CSafeLoader)  # every string quoted
        inside = {path[len(folder) + 1 :]: content for path, content in files.items()}
        bundles.append(bundle_object(fleet, inside, workspace))
    return bundles


def owner_reference(handshake: Mapping[str, Any]) -> dict[str, Any]:
    """The reference that makes Kubernetes' garbage collector delete a Bundle with its handshake.
    No blockOwnerDeletion: it would need the update permission on fleethandshakes/finalizers."""
    meta = handshake["metadata"]
    return {"apiVersion": handshake["apiVersion"], "kind": handshake["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": True}  # fmt: skip


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def status_of(status: Status, message: str, generation: int | None) -> dict[str, Any]:
    """The handshake's `status`: the operator's word, a message (names only) and the generation it is about."""
    body: dict[str, Any] = {"status": str(status), "message": message}
    if generation is not None:
        body["observedGeneration"] = generation
    return body
