"""Strict kinds, and List documents read item by item (what `kubectl get ... -o yaml` prints).

Inputs are YAML text parsed with parse_documents, so paths and lines are the real ones.
"""

from __future__ import annotations

from pathlib import Path

from fleethandshake.app.check_secrets import check_file
from fleethandshake.core import sourcecache
from fleethandshake.core.validate import validate_source
from fleethandshake.core.yaml.reader import parse_documents
from fleethandshake.errors import Problem
from unit.test_validate import ENC, SOPS_META, handshake_text, line_of

EXPORT = Path(__file__).resolve().parents[1] / "data" / "export" / "fleethandshakes-list.yaml"


def validate(text: str, file: str = "f.yaml") -> tuple[list[tuple[str, str, int | None]], list[Problem]]:
    source, problems = validate_source([(file, parse_documents(text))])
    found = [(h.ref, h.secret_name, h.item) for h in source.handshakes]
    found += [(s.ref, "Secret", s.item) for s in source.secrets]
    return found, problems


def as_items(*objects: str) -> str:
    """A kubectl List holding the given objects (YAML text of each)."""
    out = "apiVersion: v1\nkind: List\nmetadata:\n  resourceVersion: ''\nitems:\n"
    for text in objects:
        lines = text.rstrip("\n").split("\n")
        out += "- " + lines[0] + "\n" + "".join(f"  {line}\n" for line in lines[1:])
    return out


def test_a_misspelled_kind_in_the_handshake_group_is_an_error() -> None:
    text = handshake_text().replace("kind: FleetHandshake", "kind: Fleethandshake")
    found, problems = validate(text, "handshakes.yaml")
    assert found == []
    (p,) = problems
    assert (p.file, p.document, p.path, p.line) == ("handshakes.yaml", 0, "kind", 2)
    assert "must be FleetHandshake" in p.message and "'Fleethandshake'" in p.message


def test_any_kind_of_the_group_but_fleethandshake_is_an_error() -> None:
    for kind in ("FleetHandshakes", "Handshake", "fleethandshake"):
        text = handshake_text(api_version="riverpointtechnology.com/v1beta1").replace(
            "kind: FleetHandshake", f"kind: {kind}"
        )
        _, problems = validate(text)
        assert [p.path for p in problems] == ["kind"], kind
    # A kind that is no name at all is not quoted back.
    _, problems = validate(handshake_text().replace("kind: FleetHandshake", "kind: '<b>x y'"))
    assert "<b>" not in problems[0].message


def test_other_groups_and_kinds_are_still_ignored() -> None:
    found, problems = validate("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert (found, problems) == ([], [])
    found, problems = validate("apiVersion: riverpointtechnology.example/v1\nkind: Other\n")
    assert (found, problems) == ([], [])


def test_a_kubectl_export_of_the_original_operator_is_a_valid_source() -> None:
    found, problems = validate(EXPORT.read_text(), "export.yaml")
    assert problems == []
    assert found == [
        ("fleet-default/fleethandshake-sample", "fleethandshake-sample", 0),
        ("fleet-default/fleethandshake-test-only", "fleethandshake-test-only", 1),
    ]


def test_problems_inside_a_list_name_the_item_and_its_line() -> None:
    bad = handshake_text(name="second", targets="    - clusterName: prod-1\n      bogus: 1\n")
    text = as_items(handshake_text(name="first"), bad)
    found, problems = validate(text)
    assert found == [("fleet-default/first", "db-creds", 0)]
    (p,) = problems
    assert p.path == "items[1].spec.targets[0].bogus"
    assert p.line == line_of(text, "bogus")
    assert str(p).startswith(f"f.yaml:{p.line} (document 0) items[1].spec.targets[0].bogus: unknown field")


def test_a_misspelled_kind_inside_a_list() -> None:
    text = as_items(handshake_text(name="first"), handshake_text(name="b").replace("FleetHandshake", "Fleethandshake"))
    _, problems = validate(text)
    assert [(p.path, p.line) for p in problems] == [("items[1].kind", line_of(text, "Fleethandshake"))]


def test_typed_lists_give_their_items_a_kind() -> None:
    item = handshake_text(name="typed").replace("apiVersion: riverpointtechnology.com/v1alpha1\n", "")
    item = item.replace("kind: FleetHandshake\n", "")
    text = (
        as_items(item)
        .replace("kind: List", "kind: FleetHandshakeList")
        .replace("apiVersion: v1", "apiVersion: riverpointtechnology.com/v1alpha1")
    )
    found, problems = validate(text)
    assert (found, problems) == ([("fleet-default/typed", "db-creds", 0)], [])


def test_lists_that_are_not_lists_of_objects() -> None:
    _, problems = validate("apiVersion: v1\nkind: List\nitems: 3\n")
    assert [(p.path, p.message) for p in problems] == [("items", "must be a list, not a number")]
    _, problems = validate("apiVersion: v1\nkind: List\nitems:\n- 42\n- apiVersion: v1\n  kind: List\n  items: []\n")
    assert [p.path for p in problems] == ["items[0]", "items[1]"]
    assert "List inside a List" in problems[1].message
    assert validate("apiVersion: v1\nkind: List\nitems: []\n") == ([], [])


def test_duplicates_across_a_list_and_a_file_name_the_item() -> None:
    _, problems = validate_source(
        [("a.yaml", parse_documents(as_items(handshake_text()))), ("b.yaml", parse_documents(handshake_text()))]
    )
    (p,) = problems
    assert (p.file, p.path) == ("b.yaml", "metadata.name")
    assert "also defined in a.yaml (document 0, items[0])" in p.message
    _, problems = validate_source(
        [("a.yaml", parse_documents(handshake_text())), ("b.yaml", parse_documents(as_items(handshake_text())))]
    )
    assert [p.path for p in problems] == ["items[0].metadata.name"]


SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-creds\n  namespace: default\ntype: Opaque\n"


def test_an_encrypted_list_of_secrets_is_read_item_by_item() -> None:
    text = as_items(SECRET + f"data:\n  password: {ENC}\n", handshake_text()) + SOPS_META
    found, problems = validate(text)
    assert problems == []
    assert found == [("fleet-default/db-creds", "db-creds", 1), ("default/db-creds", "Secret", 0)]


def test_a_clear_text_secret_inside_a_list_is_refused_by_validate_and_check_secrets() -> None:
    canary = "list-canary-Qz81Lk"
    text = as_items(handshake_text(), SECRET + f"stringData:\n  password: {canary}\n")
    _, problems = validate(text)
    found = check_file("export.yaml", text.encode())
    assert [(p.path, p.line) for p in found] == [("items[1].stringData", line_of(text, f"password: {canary}"))]
    assert [(p.path, p.line) for p in problems] == [(p.path, p.line) for p in found]
    assert all(canary not in str(p) for p in [*problems, *found])


def test_a_value_left_clear_in_an_encrypted_list_is_found_by_check_secrets() -> None:
    text = as_items(SECRET + f"data:\n  password: {ENC}\n  token: dG9rZW4=\n") + SOPS_META
    found = check_file("export.yaml", text.encode())
    assert [p.path for p in found] == ["items[0].data.token"]


def test_the_last_applied_annotation_of_an_exported_secret_is_a_leak() -> None:
    annotated = SECRET.replace(
        "  namespace: default\n",
        "  namespace: default\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: |\n"
        '      {"data":{"password":"c2VjcmV0"}}\n',
    )
    text = as_items(annotated + f"data:\n  password: {ENC}\n") + SOPS_META
    _, problems = validate(text)
    assert [p.path for p in problems] == [
        "items[0].metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']"
    ]
    assert "c2VjcmV0" not in str(problems[0])
    assert [p.path for p in check_file("export.yaml", text.encode())] == [problems[0].path]


def test_the_parse_cache_keeps_list_items() -> None:
    text = as_items(SECRET + f"data:\n  password: {ENC}\n", handshake_text()) + SOPS_META
    source, _ = validate_source([("f.yaml", parse_documents(text))])
    record = sourcecache.encode(list(source.handshakes), list(source.secrets))
    decoded = sourcecache.decode("f.yaml", record)
    assert decoded == (list(source.handshakes), list(source.secrets))
    assert decoded is not None and decoded[0][0].item == 1 and decoded[1][0].item == 0
    # A record from before items were recorded does not decode: the file is parsed again.
    old = {"h": [h[:-1] for h in record["h"]], "s": [s[:-1] for s in record["s"]]}
    assert sourcecache.decode("f.yaml", old) is None


def test_plain_scalars_of_list_items_are_checked_but_never_their_data() -> None:
    """A plain `0o17` is a number to Kubernetes: in a handshake item it is named at its path; in a
    Secret item's data it is never quoted back (it is a value), whether or not the List is encrypted."""
    text = as_items(handshake_text(name="first", target_namespace="0o17"))
    _, problems = validate(text)
    assert [p.path for p in problems] == ["items[0].spec.targetNamespace"]
    assert "Kubernetes reads the plain value 0o17 as" in problems[0].message
    low = "yes"  # a low-entropy secret: must not appear in any message
    clear = as_items(SECRET + f"stringData:\n  password: {low}\n  pin: 0o17\n")
    _, problems = validate(clear)
    assert [p.path for p in problems] == ["items[0].stringData"]
    found = check_file("export.yaml", clear.encode())
    assert [p.path for p in found] == ["items[0].stringData"]
    assert all(f" {low}" not in p.message and "0o17" not in p.message for p in [*problems, *found])
    encrypted = as_items(SECRET + f"data:\n  password: {ENC}\n  token: {low}\n") + SOPS_META
    found = check_file("export.yaml", encrypted.encode())
    assert [p.path for p in found] == ["items[0].data.token"]
    assert all(f" {low}" not in p.message for p in found)


def test_a_fighting_delivery_inside_a_list_names_the_item_path() -> None:
    """Two handshakes of one List delivering one Secret: each problem points into its own item."""
    text = as_items(handshake_text(name="first"), handshake_text(name="second"))
    _, problems = validate_source([("export.yaml", parse_documents(text))])
    paths = sorted(p.path for p in problems if "both deliver Secret" in p.message)
    assert paths == ["items[0].spec.secretName", "items[1].spec.secretName"]


def test_handshakes_in_a_document_not_read_as_a_list_are_an_error() -> None:
    """kubectl, Helm and Fleet read any object with `items` as a list of objects: a handshake in
    `kind: list` (or a typo, or another kind's List) is applied by kubectl. Skipped in silence it
    would look deleted, and its bundles (the Secret on every cluster) would be removed."""
    first = as_items(handshake_text(name="first"))
    for kind in ("list", "Lsit", "ConfigMapList", "FleetHandshakeList"):
        text = first.replace("kind: List", f"kind: {kind}")
        found, problems = validate(text)
        assert found == []
        (p,) = problems
        assert (p.path, p.line) == ("items[0]", line_of(text, "- apiVersion"))
        assert "does not read as a List" in p.message and f"'{kind}'" in p.message
    # An item without kind and apiVersion takes the list's kind without `List`, as in kubectl.
    item = handshake_text(name="typed").replace("apiVersion: riverpointtechnology.com/v1alpha1\n", "")
    item = item.replace("kind: FleetHandshake\n", "")
    _, problems = validate(as_items(item).replace("kind: List", "kind: FleetHandshakeList"))
    assert [p.path for p in problems] == ["items[0]"]
    # Other objects in such a document are not read, and no problem either.
    configmaps = first.replace("kind: List", "kind: ConfigMapList").replace("kind: FleetHandshake", "kind: ConfigMap")
    assert validate(configmaps.replace("riverpointtechnology.com/v1alpha1", "v1")) == ([], [])
    # Another kind of the handshake's group is an error there, as in a document of its own.
    _, problems = validate(configmaps)
    assert [p.path for p in problems] == ["items[0]"]
    assert "an object of API group riverpointtechnology.com" in problems[0].message
