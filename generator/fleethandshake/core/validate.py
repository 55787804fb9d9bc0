"""Turn parsed documents into validated models, collecting every problem at once."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from ..errors import Problem
from ..modes import NAMES
from . import names
from .models import (
    ANNOTATION_MODE,
    API_VERSION,
    DEFAULT_WORKSPACE,
    KIND,
    Handshake,
    LabelSelector,
    Requirement,
    Source,
    SourceSecret,
    Target,
    item_path,
)
from .yaml.reader import UNCHECKED, Document, join

if TYPE_CHECKING:
    from typing import Any

_TOP_KEYS = {"apiVersion", "kind", "metadata", "spec", "status"}
# ObjectMeta fields a handshake exported from a cluster may carry; they change nothing here.
_META_KEYS = {
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
_SECRET_DATA_KEYS = ("data", "stringData")
# `kubectl apply` keeps the whole object here, a Secret's values in clear text: an export carries it.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
LAST_APPLIED_PATH = join(join("metadata", "annotations"), LAST_APPLIED)
_GROUP = API_VERSION.split("/")[0] + "/"
# What `kubectl get -o yaml` prints for several objects, and the API's typed lists, whose items
# may leave out their kind and apiVersion: (kind, apiVersion) -> what their items default to.
_TYPED_LISTS: dict[tuple[str, str], tuple[str, str]] = {
    (f"{KIND}List", API_VERSION): (KIND, API_VERSION),
    ("SecretList", "v1"): ("Secret", "v1"),
}
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}")
_KIND_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,62}")


def is_encrypted_value(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("ENC[") and value.endswith("]")


class _Collector:
    """Problems of one object: a document, or an item of a List document (`items[3]`)."""

    def __init__(self, file: str, doc: Document, *, item: int | None = None, data: Any = None) -> None:
        self.file, self.doc, self.item = file, doc, item
        self.data = doc.data if item is None else data  # the object
        self.problems: list[Problem] = []
        top = doc.data if isinstance(doc.data, dict) else {}
        # SOPS metadata sits at the top of the document; a List's covers its items.
        self.sops_key, self.encrypted = "sops" in top, isinstance(top.get("sops"), dict)

    def add(self, path: str, message: str) -> None:
        full = item_path(self.item, path)
        self.problems.append(Problem(self.file, self.doc.index, full, message, self.doc.line(full)))

    def mapping(self, value: Any, path: str, allowed: set[str] | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.add(path, f"must be a mapping, not {_kind(value)}")
            return {}
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    self.add(
                        join(path, str(key)),
                        f"unknown field (allowed: {', '.join(sorted(allowed))})",
                    )
        return value

    def string(self, parent: dict[str, Any], key: str, path: str, required: bool = True) -> str | None:
        value = parent.get(key)
        where = join(path, key)
        if value is None:
            if required:
                self.add(where, "is required")
            return None
        if not isinstance(value, str):
            self.add(where, f"must be a string, not {_kind(value)}")
            return None
        if not value:
            self.add(where, "must not be empty")
            return None
        return value

    def check(self, where: str, problem: str | None) -> bool:
        if problem is not None:
            self.add(where, problem)
            return False
        return True


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def is_handshake(data: Any) -> bool:
    return isinstance(data, dict) and data.get("kind") == KIND


def in_handshake_group(data: Any) -> bool:
    """An object of the handshake's API group (riverpointtechnology.com/...), whatever its kind."""
    api = data.get("apiVersion") if isinstance(data, dict) else None
    return isinstance(api, str) and api.startswith(_GROUP)


def list_items(data: Any) -> tuple[Any, tuple[str, str] | None] | None:
    """(`items`, what its items default to) of a List document, else None."""
    if not isinstance(data, dict):
        return None
    kind, api = data.get("kind"), data.get("apiVersion")
    if kind == "List":  # kubectl's, whatever apiVersion it names (v1)
        return data.get("items"), None
    if not isinstance(kind, str) or not isinstance(api, str) or (kind, api) not in _TYPED_LISTS:
        return None
    return data.get("items"), _TYPED_LISTS[(kind, api)]


def objects(doc: Document) -> Iterator[tuple[int | None, Any]]:
    """(item index or None, object) for a document: itself, or each item of a List."""
    found = list_items(doc.data)
    if found is None:
        yield None, doc.data
        return
    items, default = found
    for i, item in enumerate(items if isinstance(items, list) else ()):
        if default is not None and isinstance(item, dict):
            item = {"kind": default[0], "apiVersion": default[1], **item}
        yield i, item


def is_secret(data: Any) -> bool:
    return isinstance(data, dict) and data.get("kind") == "Secret" and data.get("apiVersion") == "v1"


def validate_source(files: Iterable[tuple[str, list[Document]]]) -> tuple[Source, list[Problem]]:
    """Validate every handshake and Secret in the parsed files; nothing is decrypted here."""
    problems: list[Problem] = []
    handshakes: list[Handshake] = []
    secrets: list[SourceSecret] = []
    for file, docs in files:
        file_handshakes, file_secrets, file_problems = validate_file(file, docs)
        handshakes += file_handshakes
        secrets += file_secrets
        problems += file_problems
    return finish(handshakes, secrets, problems)


def validate_file(file: str, docs: list[Document]) -> tuple[list[Handshake], list[SourceSecret], list[Problem]]:
    """One file on its own: what it defines, and what is wrong with it. A List document
    (`kubectl get ... -o yaml`) is read item by item."""
    problems: list[Problem] = []
    handshakes: list[Handshake] = []
    secrets: list[SourceSecret] = []
    for doc in docs:
        found = list_items(doc.data)
        if found is not None and found[0] is not None and not isinstance(found[0], list):
            problems.append(
                Problem(file, doc.index, "items", f"must be a list, not {_kind(found[0])}", doc.line("items"))
            )
        for item, data in objects(doc):
            c = _Collector(file, doc, item=item, data=data)
            if item is not None and not isinstance(data, dict):
                c.add("", f"must be a Kubernetes object (a mapping), not {_kind(data)}")
            elif item is not None and list_items(data) is not None:
                c.add("", "is a List inside a List; list the objects themselves under items")
            elif is_handshake(data):
                hs = _handshake(c)
                _plain_scalars(c)
                if hs is not None and not c.problems:
                    handshakes.append(hs)
            elif in_handshake_group(data):
                c.add(
                    "kind",
                    f"must be {KIND} (the kind fleet-handshake reads from {API_VERSION}), "
                    f"not {_shown(data.get('kind'))}",
                )
            elif c.sops_key and not is_secret(data):
                if (
                    not isinstance(data, dict)
                    or not isinstance(data.get("kind"), str)
                    or is_encrypted_value(data.get("kind"))
                ):
                    c.add(
                        "kind",
                        "is encrypted or missing, so this cannot be recognised as a Secret; "
                        "encrypt only data and stringData (encrypted_regex: ^(data|stringData)$)",
                    )
            elif is_secret(data):
                secret = _secret(c)
                _plain_scalars(c)  # not in data and stringData (UNCHECKED): nothing secret is quoted
                if secret is not None and not c.problems:
                    secrets.append(secret)
            problems.extend(c.problems)
    return handshakes, secrets, problems


def _shown(kind: Any) -> str:
    """A kind for a message: short, and never more than a name."""
    if isinstance(kind, str) and _KIND_LIKE.fullmatch(kind):
        return repr(kind)
    return _kind(kind) if not isinstance(kind, str) else "a string that is not a kind"


def below(path: str, base: str) -> str | None:
    """What `path` is inside `base` ("" for `base` itself), or None when it is not inside it."""
    if not base or path == base:
        return path if not base else ""
    if path.startswith(f"{base}."):
        return path[len(base) + 1 :]
    return path[len(base) :] if path.startswith(f"{base}[") else None


def _plain_scalars(c: _Collector) -> None:
    """A handshake or Secret is a Kubernetes object: every plain scalar in it must mean to
    fleet-handshake what it means to kubectl and Fleet. Where it does not, that problem replaces
    the others at its path (`must be a string` for `1:30`, which Kubernetes reads as a string).
    For an item of a List, only its own scalars, and never those of its data and stringData:
    the reader leaves out only the document's top-level UNCHECKED fields, and a message quotes the
    scalar."""
    base = item_path(c.item, "")
    plain = []
    for path, message in c.doc.plain_problems:
        rel = below(path, base)
        if rel is not None and not (c.item is not None and re.split(r"[.\[]", rel, maxsplit=1)[0] in UNCHECKED):
            plain.append((rel, message))
    if plain:
        paths = {item_path(c.item, rel) for rel, _ in plain}
        c.problems = [p for p in c.problems if p.path not in paths]
        for rel, message in plain:
            c.add(rel, message)


def finish(
    handshakes: list[Handshake], secrets: list[SourceSecret], problems: list[Problem]
) -> tuple[Source, list[Problem]]:
    """The checks across files (duplicates, deliveries that may fight), and the source in a stable order."""
    from .deliveries import conflicting_deliveries

    problems = problems + _duplicates(handshakes, secrets) + conflicting_deliveries(handshakes)
    handshakes = sorted(handshakes, key=lambda h: (h.workspace, h.name))
    secrets = sorted(secrets, key=lambda s: (s.namespace, s.name))
    return Source(tuple(handshakes), tuple(secrets)), problems


def _handshake(c: _Collector) -> Handshake | None:
    data = c.mapping(c.data, "", _TOP_KEYS)
    if data.get("apiVersion") != API_VERSION:
        c.add("apiVersion", f"must be {API_VERSION}")
    meta = c.mapping(data.get("metadata"), "metadata", _META_KEYS)
    name = c.string(meta, "name", "metadata")
    if name is not None:
        c.check("metadata.name", names.dns1123_subdomain_problem(name, max_len=63))
    workspace = c.string(meta, "namespace", "metadata", required=False) or DEFAULT_WORKSPACE
    annotations = meta.get("annotations")
    mode = annotations.get(ANNOTATION_MODE) if isinstance(annotations, dict) else None
    if mode is not None and mode not in NAMES:
        c.add(join(join("metadata", "annotations"), ANNOTATION_MODE), f"must be one of {', '.join(NAMES)}")
    c.check("metadata.namespace", names.dns1123_label_problem(workspace))
    spec = c.mapping(data.get("spec"), "spec", _SPEC_KEYS)
    secret_name = c.string(spec, "secretName", "spec")
    if secret_name is not None:
        c.check("spec.secretName", names.dns1123_subdomain_problem(secret_name))
    secret_ns = c.string(spec, "secretNamespace", "spec")
    if secret_ns is not None:
        c.check("spec.secretNamespace", names.dns1123_label_problem(secret_ns))
    target_ns = c.string(spec, "targetNamespace", "spec")
    if target_ns is not None:
        c.check("spec.targetNamespace", names.dns1123_label_problem(target_ns))
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


def _targets(c: _Collector, value: Any) -> list[Target]:
    path = "spec.targets"
    if value is None:
        c.add(path, "is required: list at least one target")
        return []
    if not isinstance(value, list):
        c.add(path, f"must be a list, not {_kind(value)}")
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


def _target(c: _Collector, value: Any, path: str) -> Target | None:
    if not isinstance(value, dict):
        c.add(path, f"must be a mapping, not {_kind(value)}")
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
    cluster_group = c.string(value, "clusterGroup", path, required=False)
    if cluster_group is not None:
        c.check(join(path, "clusterGroup"), names.dns1123_subdomain_problem(cluster_group))
    selector = _selector(c, value.get("clusterSelector"), join(path, "clusterSelector"))
    group_selector = _selector(c, value.get("clusterGroupSelector"), join(path, "clusterGroupSelector"))
    do_not_deploy = value.get("doNotDeploy")
    if do_not_deploy is not None and not isinstance(do_not_deploy, bool):
        c.add(join(path, "doNotDeploy"), f"must be true or false, not {_kind(do_not_deploy)}")
    target = Target(name, cluster_name, selector, cluster_group, group_selector, do_not_deploy is True)
    if len(c.problems) == before and not target.criteria():
        c.add(
            path,
            "has no cluster criteria (clusterName, clusterSelector, clusterGroup or "
            "clusterGroupSelector), so it would match no cluster",
        )
    return target if len(c.problems) == before else None


def _selector(c: _Collector, value: Any, path: str) -> LabelSelector | None:
    if value is None:
        return None
    data = c.mapping(value, path, _SELECTOR_KEYS)
    labels: list[tuple[str, str]] = []
    raw_labels = data.get("matchLabels")
    if raw_labels is not None:
        for key, val in c.mapping(raw_labels, join(path, "matchLabels")).items():
            where = join(join(path, "matchLabels"), str(key))
            if not isinstance(key, str):
                c.add(where, f"label key must be a string, not {_kind(key)}")
                continue
            if not c.check(where, names.label_key_problem(key)):
                continue
            if not isinstance(val, str):
                c.add(where, f"must be a string, not {_kind(val)}")
            elif c.check(where, names.label_value_problem(val)):
                labels.append((key, val))
    exprs: list[Requirement] = []
    raw_exprs = data.get("matchExpressions")
    if raw_exprs is not None:
        if not isinstance(raw_exprs, list):
            c.add(join(path, "matchExpressions"), f"must be a list, not {_kind(raw_exprs)}")
        else:
            for i, item in enumerate(raw_exprs):
                req = _requirement(c, item, join(join(path, "matchExpressions"), i))
                if req is not None:
                    exprs.append(req)
    return LabelSelector(tuple(sorted(labels)), tuple(exprs))


def _requirement(c: _Collector, value: Any, path: str) -> Requirement | None:
    data = c.mapping(value, path, _REQUIREMENT_KEYS)
    before = len(c.problems)
    key = c.string(data, "key", path)
    if key is not None:
        c.check(join(path, "key"), names.label_key_problem(key))
    op = c.string(data, "operator", path)
    if op is not None and op not in _OPERATORS:
        c.add(join(path, "operator"), f"must be one of {', '.join(sorted(_OPERATORS))}")
    raw_values = data.get("values")
    values: list[str] = []
    if raw_values is not None and not isinstance(raw_values, list):
        c.add(join(path, "values"), f"must be a list, not {_kind(raw_values)}")
    for i, val in enumerate(raw_values if isinstance(raw_values, list) else []):
        where = join(join(path, "values"), i)
        if not isinstance(val, str):
            c.add(where, f"must be a string, not {_kind(val)}")
        elif c.check(where, names.label_value_problem(val)):
            values.append(val)
    if op in ("In", "NotIn") and not raw_values:
        c.add(join(path, "values"), f"must not be empty for operator {op}")
    if op in ("Exists", "DoesNotExist") and raw_values:
        c.add(join(path, "values"), f"must be empty for operator {op}")
    if key is None or op is None or len(c.problems) != before:
        return None
    return Requirement(key, op, tuple(values))


def _secret(c: _Collector) -> SourceSecret | None:
    data = c.data
    meta = c.mapping(data.get("metadata"), "metadata")
    encrypted = c.encrypted
    for key in ("name", "namespace"):
        if is_encrypted_value(meta.get(key)):
            c.add(
                f"metadata.{key}",
                "is encrypted; keep metadata in clear text and encrypt only "
                "data and stringData (encrypted_regex: ^(data|stringData)$)",
            )
    # Whatever is wrong with the metadata, the data is still checked: a clear-text Secret with a
    # broken metadata is a leak all the same (and check-secrets reports only the data's problems).
    meta_ok = not c.problems
    _last_applied(c, meta.get("annotations"))  # its value may be the Secret in clear text
    has_data = any(data.get(k) for k in _SECRET_DATA_KEYS)
    if not encrypted:
        if has_data:
            c.add(
                "",
                "is a Secret with data that is not SOPS-encrypted; encrypt it with sops "
                "before committing (never commit clear-text secrets)",
            )
        return None
    for section in _SECRET_DATA_KEYS:
        values = data.get(section)
        if values is None:
            continue
        if not isinstance(values, dict):
            c.add(section, f"must be a mapping, not {_kind(values)}")
            continue
        for key, val in values.items():
            if not isinstance(key, str) or not _SECRET_KEY.fullmatch(key) or key in (".", ".."):
                c.add(
                    join(section, str(key)),
                    "is not a valid Secret key (letters, digits, '-', '_', '.')",
                )
            elif val != "" and not is_encrypted_value(val):  # sops leaves an empty value as it is
                c.add(
                    join(section, str(key)),
                    "is not encrypted although the file has SOPS metadata (check encrypted_regex / unencrypted_suffix)",
                )
    if not meta_ok:
        return None
    name = c.string(meta, "name", "metadata")
    if name is not None:
        c.check("metadata.name", names.dns1123_subdomain_problem(name))
    namespace = c.string(meta, "namespace", "metadata")
    if namespace is not None:
        c.check("metadata.namespace", names.dns1123_label_problem(namespace))
    if name is None or namespace is None:
        return None
    return SourceSecret(namespace=namespace, name=name, file=c.file, document=c.doc.index, item=c.item)


def _last_applied(c: _Collector, annotations: Any) -> None:
    if isinstance(annotations, dict) and not is_encrypted_value(annotations.get(LAST_APPLIED, "ENC[]")):
        c.add(LAST_APPLIED_PATH, "holds the Secret as `kubectl apply` last wrote it, values in clear text; remove it")


def _where(document: int, item: int | None) -> str:
    return f"document {document}" + ("" if item is None else f", items[{item}]")


def _duplicates(handshakes: list[Handshake], secrets: list[SourceSecret]) -> list[Problem]:
    problems: list[Problem] = []
    first_hs: dict[tuple[str, str], Handshake] = {}
    for hs in handshakes:
        prev = first_hs.setdefault((hs.workspace, hs.name), hs)
        if prev is not hs:
            problems.append(
                Problem(
                    hs.file,
                    hs.document,
                    item_path(hs.item, "metadata.name"),
                    f"handshake {hs.ref} is also defined in {prev.file} ({_where(prev.document, prev.item)})",
                )
            )
    first_secret: dict[tuple[str, str], SourceSecret] = {}
    for s in secrets:
        prev_s = first_secret.setdefault((s.namespace, s.name), s)
        if prev_s is not s:
            problems.append(
                Problem(
                    s.file,
                    s.document,
                    item_path(s.item, "metadata.name"),
                    f"Secret {s.ref} is also defined in {prev_s.file} ({_where(prev_s.document, prev_s.item)})",
                )
            )
    return problems


def parse_selector(
    value: Any, path: str = "", *, file: str = "", doc: Document | None = None
) -> tuple[LabelSelector | None, list[Problem]]:
    """A Kubernetes LabelSelector, checked exactly as a handshake target's selectors are.

    null gives None with no problem: Fleet's nil selector, which selects nothing (unlike `{}`,
    which selects everything). With problems the selector is None too. `doc` supplies the
    document index and line numbers for the problems; `path` is where `value` sits in it.
    """
    c = _Collector(file, doc if doc is not None else Document(index=0, data=value))
    selector = _selector(c, value, path)
    return (None if c.problems else selector), c.problems


def parse_target(
    value: Any, path: str = "", *, file: str = "", doc: Document | None = None
) -> tuple[Target | None, list[Problem]]:
    """One BundleTarget, checked exactly as an entry of a handshake's `spec.targets` is."""
    c = _Collector(file, doc if doc is not None else Document(index=0, data=value))
    target = _target(c, value, path)
    return (None if c.problems else target), c.problems
