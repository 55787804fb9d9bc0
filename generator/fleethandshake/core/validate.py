"""Turn parsed documents into validated models, collecting every problem at once."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import Problem
from . import validate_secret
from .collector import Collector, kind_of, plain_scalars
from .deliveries import conflicting_deliveries
from .models import API_VERSION, KIND, Handshake, Source, SourceSecret, item_path
from .validate_handshake import handshake
from .validate_secret import looks_encrypted
from .yaml.reader import Document

_GROUP = API_VERSION.split("/")[0] + "/"
# What `kubectl get -o yaml` prints for several objects, and the API's typed lists, whose items
# may leave out their kind and apiVersion: (kind, apiVersion) -> what their items default to.
_TYPED_LISTS: dict[tuple[str, str], tuple[str, str]] = {
    (f"{KIND}List", API_VERSION): (KIND, API_VERSION),
    ("SecretList", "v1"): ("Secret", "v1"),
}
_KIND_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,62}")


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
            if _go_unset(item.get("kind")) and _go_unset(item.get("apiVersion")):
                item = {**item, "kind": default[0], "apiVersion": default[1]}  # as kubectl does, below
            else:
                item = {"kind": default[0], "apiVersion": default[1], **item}
        yield i, item


def _go_unset(value: Any) -> bool:
    """A kind or apiVersion Go's decoder takes for unset (`GetKind() == ""`): missing, null, empty
    or not a string. An item of a list whose kind and apiVersion are both unset gets the list's."""
    return not isinstance(value, str) or not value


def kubectl_items(doc: Document) -> Iterator[tuple[int, Any]]:
    """(item index, object) of a document fleet-handshake does not read as a List but kubectl, Helm
    and Fleet do: their decoder takes any object with `items` for a list of objects, whatever its
    kind, and gives an item with neither kind nor apiVersion the list's kind without `List`
    (k8s.io/apimachinery, unstructured.unstructuredJSONScheme decode and decodeToList)."""
    data = doc.data
    if not isinstance(data, dict) or list_items(data) is not None or not isinstance(data.get("items"), list):
        return
    kind, api = data.get("kind"), data.get("apiVersion")
    for i, item in enumerate(data["items"]):
        if isinstance(item, dict) and _go_unset(item.get("kind")) and _go_unset(item.get("apiVersion")):
            item = {**item, "kind": kind.removesuffix("List") if isinstance(kind, str) else "", "apiVersion": api}
        yield i, item


# What Go reads as the core group's v1 (schema.ParseGroupVersion: "/v1" is group "", version "v1").
CORE_V1 = ("v1", "/v1")


def is_secret(data: Any) -> bool:
    return isinstance(data, dict) and data.get("kind") == "Secret" and data.get("apiVersion") in CORE_V1


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
                Problem(file, doc.index, "items", f"must be a list, not {kind_of(found[0])}", doc.line("items"))
            )
        for item, data in objects(doc):
            c = Collector(file, doc, item=item, data=data)
            if item is not None and not isinstance(data, dict):
                c.add("", f"must be a Kubernetes object (a mapping), not {kind_of(data)}")
            elif item is not None and list_items(data) is not None:
                c.add("", "is a List inside a List; list the objects themselves under items")
            elif is_handshake(data):
                hs = handshake(c)
                plain_scalars(c)
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
                    or looks_encrypted(data.get("kind"))
                ):
                    c.add(
                        "kind",
                        "is encrypted or missing, so this cannot be recognised as a Secret; "
                        "encrypt only data and stringData (encrypted_regex: ^(data|stringData)$)",
                    )
            elif is_secret(data):
                secret = validate_secret.secret(c)
                plain_scalars(c)  # not in data and stringData (UNCHECKED): nothing secret is quoted
                if secret is not None and not c.problems:
                    secrets.append(secret)
            problems.extend(c.problems)
        for item, data in kubectl_items(doc):  # not read, but applied: a clear-text Secret there leaks all the same
            c = Collector(file, doc, item=item, data=data)
            if is_secret(data):
                validate_secret.secret(c)
            elif is_handshake(data) or in_handshake_group(data):
                # Skipped in silence, the handshake would look deleted and its bundles be removed.
                what = f"a {KIND}" if is_handshake(data) else f"an object of API group {_GROUP.rstrip('/')}"
                c.add(
                    "",
                    f"is {what} in a document fleet-handshake does not read as a List "
                    f"(kind {_shown(doc.data.get('kind'))}), though kubectl applies it; "
                    f"write kind: List (apiVersion: v1) or kind: {KIND}List ({API_VERSION})",
                )
            problems.extend(c.problems)
    return handshakes, secrets, problems


def _shown(kind: Any) -> str:
    """A kind for a message: short, and never more than a name."""
    if isinstance(kind, str) and _KIND_LIKE.fullmatch(kind):
        return repr(kind)
    return kind_of(kind) if not isinstance(kind, str) else "a string that is not a kind"


def finish(
    handshakes: list[Handshake], secrets: list[SourceSecret], problems: list[Problem]
) -> tuple[Source, list[Problem]]:
    """The checks across files (duplicates, deliveries that may fight), and the source in a stable order."""
    problems = problems + _duplicates(handshakes, secrets) + conflicting_deliveries(handshakes)
    handshakes = sorted(handshakes, key=lambda h: (h.workspace, h.name))
    secrets = sorted(secrets, key=lambda s: (s.namespace, s.name))
    return Source(tuple(handshakes), tuple(secrets)), problems


def _where(document: int, item: int | None) -> str:
    return f"document {document}" + ("" if item is None else f", items[{item}]")


def _duplicates(handshakes: list[Handshake], secrets: list[SourceSecret]) -> list[Problem]:
    problems: list[Problem] = []
    for what, defined in (("handshake", handshakes), ("Secret", secrets)):
        first: dict[str, Handshake | SourceSecret] = {}
        for d in defined:
            prev = first.setdefault(d.ref, d)
            if prev is not d:
                where = f"{prev.file} ({_where(prev.document, prev.item)})"
                path = item_path(d.item, "metadata.name")
                problems.append(Problem(d.file, d.document, path, f"{what} {d.ref} is also defined in {where}"))
    return problems
