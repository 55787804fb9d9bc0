"""Validate a FleetHandshake: metadata, spec and targets with their label selectors."""

from __future__ import annotations

from typing import Any

from ..errors import Problem
from ..modes import NAMES
from . import names
from .collector import Collector, kind_of
from .models import (
    ANNOTATION_MODE,
    API_VERSION,
    DEFAULT_WORKSPACE,
    Handshake,
    LabelSelector,
    Requirement,
    Target,
)
from .yaml.reader import Document, join

_TOP_KEYS = {"apiVersion", "kind", "metadata", "spec", "status"}
# ObjectMeta fields a handshake exported from a cluster may carry; they change nothing here.
META_KEYS = {
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "finalizers",
    "ownerReferences",
    "selfLink",
}
_SPEC_KEYS = {"secretName", "secretNamespace", "targetNamespace", "targets"}
_TARGET_KEYS = {"name", "clusterName", "clusterSelector", "clusterGroup", "clusterGroupSelector", "doNotDeploy"}
# BundleTarget fields the CRD accepts but that would change how Fleet deploys the bundle.
_TARGET_UNSUPPORTED = {
    "correctDrift",
    "defaultNamespace",
    "deleteCRDResources",
    "deleteNamespace",
    "diff",
    "forceSyncGeneration",
    "helm",
    "ignore",
    "keepResources",
    "kustomize",
    "namespace",
    "namespaceAnnotations",
    "namespaceLabels",
    "serviceAccount",
    "yaml",
}
_SELECTOR_KEYS = {"matchLabels", "matchExpressions"}
_REQUIREMENT_KEYS = {"key", "operator", "values"}
_OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}


def handshake(c: Collector) -> Handshake | None:
    data = c.mapping(c.data, "", _TOP_KEYS)
    if data.get("apiVersion") != API_VERSION:
        c.add("apiVersion", f"must be {API_VERSION}")
    meta = c.mapping(data.get("metadata"), "metadata", META_KEYS)
    name = c.string(meta, "name", "metadata", rule=lambda v: names.dns1123_subdomain_problem(v, max_len=63))
    workspace = c.string(meta, "namespace", "metadata", required=False) or DEFAULT_WORKSPACE
    annotations = meta.get("annotations")
    mode = annotations.get(ANNOTATION_MODE) if isinstance(annotations, dict) else None
    if mode is not None and mode not in NAMES:
        c.add(join(join("metadata", "annotations"), ANNOTATION_MODE), f"must be one of {', '.join(NAMES)}")
    c.check("metadata.namespace", names.dns1123_label_problem(workspace))
    spec = c.mapping(data.get("spec"), "spec", _SPEC_KEYS)
    secret_name = c.string(spec, "secretName", "spec", rule=names.dns1123_subdomain_problem)
    secret_ns = c.string(spec, "secretNamespace", "spec", rule=names.dns1123_label_problem)
    target_ns = c.string(spec, "targetNamespace", "spec", rule=names.dns1123_label_problem)
    targets = _targets(c, spec.get("targets"))
    if name is None or secret_name is None or secret_ns is None or target_ns is None:
        return None
    return Handshake(
        workspace=workspace,
        name=name,
        secret_name=secret_name,
        secret_namespace=secret_ns,
        target_namespace=target_ns,
        targets=tuple(targets),
        file=c.file,
        document=c.doc.index,
        mode=mode if isinstance(mode, str) else None,
        item=c.item,
    )


def _targets(c: Collector, value: Any) -> list[Target]:
    path = "spec.targets"
    if value is None:
        c.add(path, "is required: list at least one target")
        return []
    if not isinstance(value, list):
        c.add(path, f"must be a list, not {kind_of(value)}")
        return []
    if not value:
        c.add(path, "must list at least one target")
    targets: list[Target] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(value):
        where = join(path, i)
        target = _target(c, item, where)
        if target is None:
            continue
        if target.key in seen:
            c.add(where, f"repeats spec.targets[{seen[target.key]}] (same name or same criteria)")
        seen.setdefault(target.key, i)
        targets.append(target)
    if targets and len(targets) == len(value) and all(t.do_not_deploy for t in targets):
        c.add(path, "every target has doNotDeploy: true, so no target deploys and the handshake delivers nothing")
    return targets


def _target(c: Collector, value: Any, path: str) -> Target | None:
    if not isinstance(value, dict):
        c.add(path, f"must be a mapping, not {kind_of(value)}")
        return None
    before = len(c.problems)
    for key in value:
        if key in _TARGET_UNSUPPORTED:
            c.add(
                join(path, key),
                "is a BundleTarget field fleet-handshake does not support: "
                "bundles carry only the fields that choose clusters; remove it",
            )
        elif key not in _TARGET_KEYS:
            c.add(join(path, key), f"unknown field (allowed: {', '.join(sorted(_TARGET_KEYS))})")
    # The CRD marks these nullable: null means "not given".
    name = c.string(value, "name", path, required=False)
    cluster_name = c.string(value, "clusterName", path, required=False)
    cluster_group = c.string(value, "clusterGroup", path, required=False, rule=names.dns1123_subdomain_problem)
    selector = _selector(c, value.get("clusterSelector"), join(path, "clusterSelector"))
    group_selector = _selector(c, value.get("clusterGroupSelector"), join(path, "clusterGroupSelector"))
    do_not_deploy = value.get("doNotDeploy")
    if do_not_deploy is not None and not isinstance(do_not_deploy, bool):
        c.add(join(path, "doNotDeploy"), f"must be true or false, not {kind_of(do_not_deploy)}")
    target = Target(name, cluster_name, selector, cluster_group, group_selector, do_not_deploy is True)
    if len(c.problems) == before and not target.criteria():
        c.add(
            path,
            "has no cluster criteria (clusterName, clusterSelector, clusterGroup or "
            "clusterGroupSelector), so it would match no cluster",
        )
    return target if len(c.problems) == before else None


def _selector(c: Collector, value: Any, path: str) -> LabelSelector | None:
    if value is None:
        return None
    data = c.mapping(value, path, _SELECTOR_KEYS)
    labels: list[tuple[str, str]] = []
    raw_labels = data.get("matchLabels")
    if raw_labels is not None:
        for key, val in c.mapping(raw_labels, join(path, "matchLabels")).items():
            where = join(join(path, "matchLabels"), str(key))
            if not isinstance(key, str):
                c.add(where, f"label key must be a string, not {kind_of(key)}")
                continue
            if not c.check(where, names.label_key_problem(key)):
                continue
            if not isinstance(val, str):
                c.add(where, f"must be a string, not {kind_of(val)}")
            elif c.check(where, names.label_value_problem(val)):
                labels.append((key, val))
    exprs: list[Requirement] = []
    raw_exprs = data.get("matchExpressions")
    if raw_exprs is not None:
        if not isinstance(raw_exprs, list):
            c.add(join(path, "matchExpressions"), f"must be a list, not {kind_of(raw_exprs)}")
        else:
            for i, item in enumerate(raw_exprs):
                req = _requirement(c, item, join(join(path, "matchExpressions"), i))
                if req is not None:
                    exprs.append(req)
    return LabelSelector(tuple(sorted(labels)), tuple(exprs))


def _requirement(c: Collector, value: Any, path: str) -> Requirement | None:
    data = c.mapping(value, path, _REQUIREMENT_KEYS)
    before = len(c.problems)
    key = c.string(data, "key", path, rule=names.label_key_problem)
    op = c.string(data, "operator", path)
    if op is not None and op not in _OPERATORS:
        c.add(join(path, "operator"), f"must be one of {', '.join(sorted(_OPERATORS))}")
    raw_values = data.get("values")
    values: list[str] = []
    if raw_values is not None and not isinstance(raw_values, list):
        c.add(join(path, "values"), f"must be a list, not {kind_of(raw_values)}")
    for i, val in enumerate(raw_values if isinstance(raw_values, list) else []):
        where = join(join(path, "values"), i)
        if not isinstance(val, str):
            c.add(where, f"must be a string, not {kind_of(val)}")
        elif c.check(where, names.label_value_problem(val)):
            values.append(val)
    if op in ("In", "NotIn") and not raw_values:
        c.add(join(path, "values"), f"must not be empty for operator {op}")
    if op in ("Exists", "DoesNotExist") and raw_values:
        c.add(join(path, "values"), f"must be empty for operator {op}")
    if key is None or op is None or len(c.problems) != before:
        return None
    return Requirement(key, op, tuple(values))


def parse_selector(
    value: Any, path: str = "", *, file: str = "", doc: Document | None = None
) -> tuple[LabelSelector | None, list[Problem]]:
    """A Kubernetes LabelSelector, checked exactly as a handshake target's selectors are.

    null gives None with no problem: Fleet's nil selector, which selects nothing (unlike `{}`,
    which selects everything). With problems the selector is None too. `doc` supplies the
    document index and line numbers for the problems; `path` is where `value` sits in it.
    """
    c = Collector(file, doc if doc is not None else Document(index=0, data=value))
    selector = _selector(c, value, path)
    return (None if c.problems else selector), c.problems


def parse_target(
    value: Any, path: str = "", *, file: str = "", doc: Document | None = None
) -> tuple[Target | None, list[Problem]]:
    """One BundleTarget, checked exactly as an entry of a handshake's `spec.targets` is."""
    c = Collector(file, doc if doc is not None else Document(index=0, data=value))
    target = _target(c, value, path)
    return (None if c.problems else target), c.problems
