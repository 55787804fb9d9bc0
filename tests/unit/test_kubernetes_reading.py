"""A handshake or Secret is read as Kubernetes reads it: a plain scalar that sigs.k8s.io/yaml
types differently from PyYAML is refused, with the quoted form to write.
"""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from test_validate import ENC, handshake_text, line_of, secret_text, validate

from fleethandshake.core import sourcecache
from fleethandshake.core.inventory import parse_inventory
from fleethandshake.core.models import LabelSelector, Requirement
from fleethandshake.core.yaml.reader import Loader, YamlError, parse_documents


def _selector_targets(labels: str = "", values: str = "") -> str:
    text = "    - clusterSelector:\n"
    if labels:
        text += f"        matchLabels: {labels}\n"
    if values:
        text += f"        matchExpressions:\n          - {{key: zone, operator: In, values: {values}}}\n"
    return text


REFUSED = [
    pytest.param(
        handshake_text(targets=_selector_targets(labels="{gpu: y}")),
        "spec.targets[0].clusterSelector.matchLabels.gpu",
        'Kubernetes reads the plain value y as the boolean true; write it quoted: "y"',
        id="label-y",
    ),
    pytest.param(
        handshake_text(targets=_selector_targets(labels="{zone: 1e3}")),
        "spec.targets[0].clusterSelector.matchLabels.zone",
        'Kubernetes reads the plain value 1e3 as the number 1000; write it quoted: "1e3"',
        id="label-exponent",
    ),
    pytest.param(
        handshake_text(targets=_selector_targets(labels="{N: prod}")),
        "spec.targets[0].clusterSelector.matchLabels.N",
        'Kubernetes reads the plain key N as the string "false"; write it quoted: "N"',
        id="label-key-N",
    ),
    pytest.param(
        handshake_text(targets=_selector_targets(values="[prod, 0o17]")),
        "spec.targets[0].clusterSelector.matchExpressions[0].values[1]",
        'Kubernetes reads the plain value 0o17 as the number 15; write it quoted: "0o17"',
        id="values-octal",
    ),
    pytest.param(
        handshake_text(targets=_selector_targets(values="[0X1F]")),
        "spec.targets[0].clusterSelector.matchExpressions[0].values[0]",
        'Kubernetes reads the plain value 0X1F as the number 31; write it quoted: "0X1F"',
        id="values-hex-upper",
    ),
    pytest.param(
        handshake_text(target_namespace="0o17"),
        "spec.targetNamespace",
        'Kubernetes reads the plain value 0o17 as the number 15; write it quoted: "0o17"',
        id="target-namespace",
    ),
    pytest.param(
        handshake_text(targets="    - clusterName: 08\n"),
        "spec.targets[0].clusterName",
        'Kubernetes reads the plain value 08 as the number 8; write it quoted: "08"',
        id="cluster-name-leading-zero",
    ),
    pytest.param(
        # PyYAML reads a number here, Kubernetes the string: one problem, not also "must be a string".
        handshake_text(targets="    - clusterName: 1:30\n"),
        "spec.targets[0].clusterName",
        'Kubernetes reads the plain value 1:30 as the string "1:30", fleet-handshake (YAML 1.1) reads it as the'
        ' number 90; write it quoted: "1:30"',
        id="sexagesimal",
    ),
    pytest.param(
        handshake_text(extra_meta="  labels:\n    reviewed: n\n"),
        "metadata.labels.reviewed",
        'Kubernetes reads the plain value n as the boolean false; write it quoted: "n"',
        id="handshake-label",
    ),
]


@pytest.mark.parametrize(("text", "path", "message"), REFUSED)
def test_a_plain_scalar_kubernetes_reads_differently_is_refused(text: str, path: str, message: str) -> None:
    source, problems = validate(("hs.yaml", text))
    assert [(p.path, p.message) for p in problems] == [(path, message)]
    assert problems[0].line == line_of(text, path.rsplit(".", 1)[-1].split("[")[0] + ":")
    assert source.handshakes == ()


ACCEPTED = [
    (_selector_targets(labels='{gpu: "y", zone: "1e3", "N": prod}'), {"gpu": "y", "zone": "1e3", "N": "prod"}, ()),
    (_selector_targets(values="['0o17', \"0X1F\", prod]"), {}, ("0o17", "0X1F", "prod")),
    (_selector_targets(labels="{version: '1.30'}"), {"version": "1.30"}, ()),
]


@pytest.mark.parametrize(("targets", "labels", "values"), ACCEPTED)
def test_the_quoted_form_is_accepted(targets: str, labels: dict[str, str], values: tuple[str, ...]) -> None:
    source, problems = validate(("hs.yaml", handshake_text(targets=targets)))
    assert problems == []
    (hs,) = source.handshakes
    exprs = (Requirement("zone", "In", values),) if values else ()
    assert hs.targets[0].cluster_selector == LabelSelector(tuple(sorted(labels.items())), exprs)


def test_quoted_target_namespace_and_an_explicit_str_tag_are_accepted() -> None:
    targets = "    - clusterName: !!str 08\n    - clusterName: '1:30'\n"
    text = handshake_text(target_namespace='"0o17"', targets=targets)
    source, problems = validate(("hs.yaml", text))
    assert problems == []
    assert source.handshakes[0].target_namespace == "0o17"
    assert [t.cluster_name for t in source.handshakes[0].targets] == ["08", "1:30"]


def test_secret_metadata_is_checked() -> None:
    text = secret_text().replace("metadata:\n", "metadata:\n  labels:\n    tier: 0B101\n")
    source, problems = validate(("db.enc.yaml", text))
    assert [(p.path, p.message) for p in problems] == [
        ("metadata.labels.tier", 'Kubernetes reads the plain value 0B101 as the number 5; write it quoted: "0B101"')
    ]
    assert source.secrets == ()


def test_secret_values_and_sops_metadata_are_never_quoted() -> None:
    # Not SOPS-encrypted values (here by mistake) are reported as such; their text never appears.
    values = {"y": ENC, "pin": "0o17", "flag": "y", "when": "1:30"}
    text = secret_text(string_data=values).replace("version: 3.9.0", "version: 1e3")
    _, problems = validate(("db.enc.yaml", text))
    assert sorted(p.path for p in problems) == ["stringData.flag", "stringData.pin", "stringData.when"]
    for problem in problems:
        assert "quoted" not in problem.message
        assert "0o17" not in str(problem) and "1:30" not in str(problem)


def test_documents_of_other_kinds_are_not_checked() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: y}\n---\n" + handshake_text()
    source, problems = validate(("hs.yaml", text))
    assert problems == []
    assert len(source.handshakes) == 1


def test_the_plain_scalars_are_found_in_flow_and_block_style_and_in_keys() -> None:
    text = "a:\n  y: n\n  b: [0o17, '0o17', x]\n  c: {d: 1e3}\ndata:\n  y: n\n"
    (doc,) = parse_documents(text)
    assert [path for path, _ in doc.plain_problems] == ["a.y", "a.y", "a.b[0]", "a.c.d"]


SCALARS = ["y", "n", "yes", "No", "ON", "true", "~", "null", "", "0o17", "0x1F", "0b101", "017", "08", "1_000", "1e3",
           "1.5e+3", ".inf", "-.Inf", ".NaN", "1:30", "2024-01-01", "2001-12-14t21:59:43.10-05:00", "+1", "-0", ".5",
           "prod", "'y'", '"0o17"', "!!str y", "!!int 017", "!!float 1", "{}", "[]"]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(SCALARS), min_size=1, max_size=8), st.sampled_from(["block", "flow"]))
def test_the_plain_marking_reader_reads_as_pyyaml_does(values: list[str], style: str) -> None:
    """The reader's loader (PyYAML's resolver table, marking the tags of plain scalars) reads exactly
    what PyYAML's safe loader reads, and its tags are PyYAML's."""
    if style == "block":
        text = "# café\nk:\n" + "".join(f"  - {v}\n" for v in values)
    else:
        text = f"# café\nk: [{', '.join(v or '~' for v in values)}]\n"
    expected = yaml.load(text, Loader=yaml.CSafeLoader)
    (doc,) = parse_documents(text)
    assert doc.data == expected
    ours = yaml.compose(text, Loader=Loader)
    theirs = yaml.compose(text, Loader=yaml.CSafeLoader)
    assert [n.tag for n in ours.value[0][1].value] == [n.tag for n in theirs.value[0][1].value]


def test_a_hand_written_inventory_is_read_as_fleet_reads_it() -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "  - apiVersion: fleet.cattle.io/v1alpha1\n    kind: Cluster\n"
        "    metadata:\n      name: c1\n      namespace: fleet-default\n      labels:\n        gpu: y\n"
        "  - apiVersion: fleet.cattle.io/v1alpha1\n    kind: Cluster\n"
        "    metadata:\n      name: c2\n      namespace: fleet-default\n      labels:\n        gpu: 'y'\n"
    )
    inv, problems = parse_inventory(parse_documents(text), "inventory.yaml")
    assert [(p.path, p.message) for p in problems] == [
        ("items[0].metadata.labels.gpu", 'Kubernetes reads the plain value y as the boolean true; write it quoted: "y"')
    ]
    assert [c.name for c in inv.clusters] == ["c2"]


def test_parse_cache_records_of_older_rules_are_not_used() -> None:
    # A file that was valid before this check (`gpu: y`) and has not changed since must be read again.
    source, _ = validate(("hs.yaml", handshake_text()))
    record = sourcecache.encode(list(source.handshakes), [])
    assert sourcecache.decode("hs.yaml", record) == (list(source.handshakes), [])
    older = {k: v for k, v in record.items() if k != "r"}
    assert sourcecache.decode("hs.yaml", older) is None


def test_a_plain_scalar_yaml_1_1_cannot_build_is_the_string_go_reads() -> None:
    # `0b_`, `0x_` match YAML 1.1's int pattern and `2001-02-30` its date pattern, but are no
    # number or date: Go's readers (kubectl, sops) read the text, and sops writes a Secret's keys
    # and metadata plain whatever the user wrote. Such a Secret is valid, not "does not fit !!int".
    string_data = {"0b_": ENC, "0x_": ENC, "-0b__": ENC, "2001-13-45": ENC}
    text = secret_text(string_data=string_data).replace(
        "metadata:\n", "metadata:\n  labels:\n    day: 2001-02-30\n  annotations:\n    at: 2001-12-14 25:00:00\n"
    )
    source, problems = validate(("db.enc.yaml", text))
    assert problems == []
    (doc,) = parse_documents(text)
    assert sorted(doc.data["stringData"]) == sorted(string_data)
    assert doc.data["metadata"]["labels"] == {"day": "2001-02-30"}
    assert doc.data["metadata"]["annotations"] == {"at": "2001-12-14 25:00:00"}
    assert len(source.secrets) == 1


def test_a_tagged_scalar_that_does_not_fit_its_tag_is_still_refused() -> None:
    text = secret_text().replace("metadata:\n", "metadata:\n  labels:\n    day: !!timestamp 2001-02-30\n")
    with pytest.raises(YamlError, match=r"^metadata\.labels\.day: a value does not fit its tag !!timestamp$"):
        parse_documents(text)


# Strings to Go, other types (or unbuildable) to YAML 1.1; sops writes the timestamps and 0b_ plain whatever the quotes.
SOPS_PLAIN = ["2001-12-14 21:59:43.10 -5", "2001-12-14t21:59:43.10-05:00", "1:30", "190:20:30", "2001-02-30", "0b_"]


@pytest.mark.parametrize("text", SOPS_PLAIN)
def test_a_plain_string_sops_wrote_is_read_as_kubernetes_reads_it(text: str) -> None:
    """In a file sops wrote, "write it quoted" cannot be followed: sops drops the quotes again."""
    secret = secret_text().replace("metadata:\n", f"metadata:\n  annotations:\n    at: {text}\n")
    secret = secret.replace("type: Opaque", f"type: {text}")
    (doc,) = parse_documents(secret)
    assert doc.plain_problems == []
    assert doc.data["metadata"]["annotations"] == {"at": text} and doc.data["type"] == text
    # Hand-written (no sops metadata), the same text is refused as ambiguous, as before.
    (hand,) = parse_documents(secret[: secret.index("sops:")])
    if text == SOPS_PLAIN[0]:  # a timestamp to YAML 1.1
        assert [path for path, _ in hand.plain_problems] == ["metadata.annotations.at", "type"]
