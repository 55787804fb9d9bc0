"""validate_source: every problem in the source, each with its file, YAML path, line and a message.

Inputs are YAML text parsed with parse_documents, so paths and lines are the real ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fhtest import DATA
from fleethandshake.core.models import Handshake, LabelSelector, Requirement, Source, SourceSecret, Target
from fleethandshake.core.validate import validate_source
from fleethandshake.core.yaml.reader import parse_documents
from fleethandshake.errors import Problem

TARGETS = "    - clusterName: prod-1\n"
ENC = "ENC[AES256_GCM,data:Zm9v,iv:aXZpdml2aXZpdml2aXZpdml2aXZpdml2aXZpdml2,tag:dGFndGFndGFndGFn,type:str]"
SOPS_META = (
    "sops:\n"
    "  age:\n"
    "    - recipient: age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\n"
    "      enc: |\n"
    "        -----BEGIN AGE ENCRYPTED FILE-----\n"
    "        -----END AGE ENCRYPTED FILE-----\n"
    "  lastmodified: '2024-01-01T00:00:00Z'\n"
    f"  mac: {ENC}\n"
    "  encrypted_regex: ^(data|stringData)$\n"
    "  version: 3.9.0\n"
)


def handshake_text(
    *,
    name: str = "db-creds",
    workspace: str | None = "fleet-default",
    secret_name: str | None = "db-creds",
    secret_namespace: str | None = "default",
    target_namespace: str | None = "apps",
    targets: str | None = TARGETS,
    api_version: str = "riverpointtechnology.com/v1alpha1",
    extra_top: str = "",
    extra_meta: str = "",
    extra_spec: str = "",
) -> str:
    """A FleetHandshake as YAML text. None leaves a field out; targets is the block under `targets:`."""
    lines = [f"apiVersion: {api_version}", "kind: FleetHandshake", "metadata:", f"  name: {name}"]
    if workspace is not None:
        lines.append(f"  namespace: {workspace}")
    text = "\n".join(lines) + "\n" + extra_meta + "spec:\n"
    for key, value in (
        ("secretName", secret_name),
        ("secretNamespace", secret_namespace),
        ("targetNamespace", target_namespace),
    ):
        if value is not None:
            text += f"  {key}: {value}\n"
    text += extra_spec
    if targets is not None:
        text += "  targets: []\n" if targets == "[]" else "  targets:\n" + targets
    return text + extra_top


def secret_text(
    *,
    name: str = "db-creds",
    namespace: str | None = "default",
    string_data: dict[str, str] | None = None,
    encrypted: bool = True,
) -> str:
    text = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n"
    if namespace is not None:
        text += f"  namespace: {namespace}\n"
    text += "type: Opaque\nstringData:\n"
    for key, value in (string_data if string_data is not None else {"password": ENC}).items():
        text += f"  {key}: {value}\n"
    return text + (SOPS_META if encrypted else "")


def validate(*files: tuple[str, str]) -> tuple[Source, list[Problem]]:
    return validate_source([(name, parse_documents(text)) for name, text in files])


def line_of(text: str, needle: str) -> int:
    """1-based line of the only line of `text` that contains `needle`."""
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) == 1, f"{needle!r} is on lines {hits}"
    return hits[0]


def test_a_valid_handshake_has_no_problems_and_becomes_a_model() -> None:
    source, problems = validate(("hs.yaml", handshake_text()))
    assert problems == []
    assert source.handshakes == (
        Handshake(
            workspace="fleet-default",
            name="db-creds",
            secret_name="db-creds",
            secret_namespace="default",
            target_namespace="apps",
            targets=(Target(cluster_name="prod-1"),),
            file="hs.yaml",
            document=0,
        ),
    )


def test_workspace_defaults_to_fleet_default() -> None:
    source, problems = validate(("hs.yaml", handshake_text(workspace=None)))
    assert problems == []
    assert [h.workspace for h in source.handshakes] == ["fleet-default"]


SELECTOR_EXPR = "    - clusterName: a\n    - clusterSelector:\n        matchExpressions:\n          - {expr}\n"

HANDSHAKE_CASES = [
    # spec fields
    pytest.param(handshake_text(secret_name=None), [("spec.secretName", "is required")], id="secretName-missing"),
    pytest.param(handshake_text(secret_name='""'), [("spec.secretName", "must not be empty")], id="secretName-empty"),
    pytest.param(
        handshake_text(secret_namespace=None), [("spec.secretNamespace", "is required")], id="secretNamespace-missing"
    ),
    pytest.param(
        handshake_text(secret_namespace="''"),
        [("spec.secretNamespace", "must not be empty")],
        id="secretNamespace-empty",
    ),
    pytest.param(
        handshake_text(target_namespace=None), [("spec.targetNamespace", "is required")], id="targetNamespace-missing"
    ),
    pytest.param(
        handshake_text(target_namespace='""'),
        [("spec.targetNamespace", "must not be empty")],
        id="targetNamespace-empty",
    ),
    pytest.param(
        handshake_text(secret_name="[db]"), [("spec.secretName", "must be a string, not a list")], id="secretName-list"
    ),
    pytest.param(handshake_text(targets=None), [("spec.targets", "list at least one target")], id="targets-missing"),
    pytest.param(handshake_text(targets="[]"), [("spec.targets", "at least one target")], id="targets-empty"),
    pytest.param(
        handshake_text(api_version="v1"),
        [("apiVersion", "must be riverpointtechnology.com/v1alpha1")],
        id="apiVersion-wrong",
    ),
    # unknown fields, at every level
    pytest.param(handshake_text(extra_top="sepc: {}\n"), [("sepc", "unknown field")], id="unknown-top-level"),
    pytest.param(handshake_text(extra_meta="  nmae: x\n"), [("metadata.nmae", "unknown field")], id="unknown-metadata"),
    pytest.param(
        handshake_text(extra_spec="  secretNmae: x\n"), [("spec.secretNmae", "unknown field")], id="unknown-spec"
    ),
    pytest.param(
        handshake_text(targets="    - clustrName: prod-1\n"),
        [("spec.targets[0].clustrName", "unknown field (allowed: clusterGroup, clusterGroupSelector, clusterName")],
        id="unknown-target-typo",
    ),
    pytest.param(
        handshake_text(targets="    - clusterName: prod-1\n      helm:\n        releaseName: x\n"),
        [("spec.targets[0].helm", "BundleTarget field fleet-handshake does not support")],
        id="target-helm-unsupported",
    ),
    # names
    pytest.param(handshake_text(name="DB-Creds"), [("metadata.name", "DNS-1123")], id="name-upper-case"),
    pytest.param(handshake_text(name="db/creds"), [("metadata.name", "DNS-1123")], id="name-slash"),
    pytest.param(handshake_text(name="db..creds"), [("metadata.name", "DNS-1123")], id="name-double-dot"),
    pytest.param(handshake_text(name="a" * 64), [("metadata.name", "at most 63 characters (has 64)")], id="name-64"),
    pytest.param(handshake_text(workspace="Fleet_Default"), [("metadata.namespace", "DNS-1123")], id="workspace-bad"),
    pytest.param(handshake_text(secret_name="Db_Creds"), [("spec.secretName", "DNS-1123")], id="secretName-bad"),
    pytest.param(
        handshake_text(target_namespace="apps.prod"), [("spec.targetNamespace", "DNS-1123 label")], id="targetNs-dot"
    ),
    pytest.param(
        handshake_text(targets="    - clusterGroup: Edge_Group\n"),
        [("spec.targets[0].clusterGroup", "DNS-1123")],
        id="clusterGroup-bad",
    ),
    # label selectors
    pytest.param(
        handshake_text(targets=SELECTOR_EXPR.format(expr="{key: env, operator: Equals, values: [prod]}")),
        [("spec.targets[1].clusterSelector.matchExpressions[0].operator", "must be one of DoesNotExist, Exists, In")],
        id="selector-bad-operator",
    ),
    pytest.param(
        handshake_text(targets=SELECTOR_EXPR.format(expr="{key: env, operator: In}")),
        [("spec.targets[1].clusterSelector.matchExpressions[0].values", "must not be empty for operator In")],
        id="selector-in-without-values",
    ),
    pytest.param(
        handshake_text(targets=SELECTOR_EXPR.format(expr="{key: env, operator: NotIn, values: []}")),
        [("spec.targets[1].clusterSelector.matchExpressions[0].values", "must not be empty for operator NotIn")],
        id="selector-notin-empty-values",
    ),
    pytest.param(
        handshake_text(targets=SELECTOR_EXPR.format(expr="{key: env, operator: Exists, values: [prod]}")),
        [("spec.targets[1].clusterSelector.matchExpressions[0].values", "must be empty for operator Exists")],
        id="selector-exists-with-values",
    ),
    pytest.param(
        handshake_text(targets=SELECTOR_EXPR.format(expr="{key: 'bad key', operator: Exists}")),
        [("spec.targets[1].clusterSelector.matchExpressions[0].key", "label key")],
        id="selector-expression-bad-key",
    ),
    pytest.param(
        handshake_text(targets=SELECTOR_EXPR.format(expr="{key: env, operator: In, values: [prod, 'a b']}")),
        [("spec.targets[1].clusterSelector.matchExpressions[0].values[1]", "label value")],
        id="selector-expression-bad-value",
    ),
    pytest.param(
        handshake_text(targets="    - clusterSelector:\n        matchLabels:\n          bad key: prod\n"),
        [("spec.targets[0].clusterSelector.matchLabels['bad key']", "label key")],
        id="matchLabels-bad-key",
    ),
    pytest.param(
        handshake_text(targets="    - clusterSelector:\n        matchLabels:\n          Bad_Prefix/env: prod\n"),
        [("spec.targets[0].clusterSelector.matchLabels['Bad_Prefix/env']", "prefix must be a DNS-1123 subdomain")],
        id="matchLabels-bad-key-prefix",
    ),
    pytest.param(
        handshake_text(targets="    - clusterSelector:\n        matchLabels:\n          env: prod env\n"),
        [("spec.targets[0].clusterSelector.matchLabels.env", "label value")],
        id="matchLabels-bad-value",
    ),
    pytest.param(
        handshake_text(targets="    - clusterGroupSelector:\n        matchLabels:\n          canary: true\n"),
        [("spec.targets[0].clusterGroupSelector.matchLabels.canary", "must be a string, not a boolean")],
        id="matchLabels-value-bool",
    ),
    pytest.param(
        handshake_text(targets="    - clusterSelector:\n        matchLabels:\n          tier: 1\n"),
        [("spec.targets[0].clusterSelector.matchLabels.tier", "must be a string, not a number")],
        id="matchLabels-value-number",
    ),
    pytest.param(
        handshake_text(targets="    - clusterSelector:\n        matchLabel:\n          env: prod\n"),
        [("spec.targets[0].clusterSelector.matchLabel", "unknown field (allowed: matchExpressions, matchLabels)")],
        id="selector-unknown-field",
    ),
    # targets without criteria, not mappings, repeated
    pytest.param(
        handshake_text(targets="    - name: only-a-name\n"),
        [("spec.targets[0]", "has no cluster criteria")],
        id="target-name-only",
    ),
    pytest.param(
        handshake_text(targets="    - clusterName: a\n    - {}\n"),
        [("spec.targets[1]", "has no cluster criteria")],
        id="target-empty-mapping",
    ),
    pytest.param(
        handshake_text(targets="    - prod-1\n"),
        [("spec.targets[0]", "must be a mapping, not a string")],
        id="target-not-a-mapping",
    ),
    pytest.param(
        handshake_text(targets="    - clusterName: prod-1\n    - clusterGroup: edge\n    - clusterName: prod-1\n"),
        [("spec.targets[2]", "repeats spec.targets[0]")],
        id="duplicate-target-criteria",
    ),
    pytest.param(
        handshake_text(targets="    - name: eu\n      clusterName: a\n    - name: eu\n      clusterName: b\n"),
        [("spec.targets[1]", "repeats spec.targets[0]")],
        id="duplicate-target-name",
    ),
]


@pytest.mark.parametrize(("text", "expected"), HANDSHAKE_CASES)
def test_handshake_problem_has_exact_path_and_message(text: str, expected: list[tuple[str, str]]) -> None:
    source, problems = validate(("hs.yaml", text))
    assert sorted(p.path for p in problems) == sorted(path for path, _ in expected), problems
    for path, fragment in expected:
        (problem,) = [p for p in problems if p.path == path]
        assert fragment in problem.message
        assert (problem.file, problem.document) == ("hs.yaml", 0)
        assert problem.line is not None
    # An invalid handshake never reaches the model, so it can never be rendered.
    assert source.handshakes == ()


def test_problem_str_names_file_line_document_and_path() -> None:
    text = handshake_text(target_namespace="apps.prod")
    _, (problem,) = validate(("team/hs.yaml", text))
    assert str(problem).startswith(
        f"team/hs.yaml:{line_of(text, 'targetNamespace')} (document 0) spec.targetNamespace: "
    )


def test_problem_line_points_at_the_offending_key() -> None:
    text = handshake_text(targets="    - clusterName: a\n    - clustrName: b\n")
    _, (problem,) = validate(("hs.yaml", text))
    assert problem.path == "spec.targets[1].clustrName"
    assert problem.line == line_of(text, "clustrName")


def test_problem_line_points_at_a_nested_operator() -> None:
    targets = (
        "    - clusterName: a\n"
        "    - clusterSelector:\n"
        "        matchExpressions:\n"
        "          - key: env\n"
        "            operator: Equals\n"
        "            values: [prod]\n"
    )
    text = handshake_text(targets=targets)
    _, (problem,) = validate(("hs.yaml", text))
    assert problem.path == "spec.targets[1].clusterSelector.matchExpressions[0].operator"
    assert problem.line == line_of(text, "operator: Equals")


def test_problem_line_in_a_later_document_counts_from_the_top_of_the_file() -> None:
    text = handshake_text() + "---\n" + handshake_text(name="second", target_namespace="Apps")
    _, (problem,) = validate(("hs.yaml", text))
    assert (problem.document, problem.path) == (1, "spec.targetNamespace")
    assert problem.line == line_of(text, "targetNamespace: Apps")


def test_all_problems_of_a_document_are_reported_at_once() -> None:
    text = handshake_text(
        secret_name=None, target_namespace="apps.prod", targets="    - clustrName: prod-1\n    - clusterGroup: edge\n"
    )
    _, problems = validate(("hs.yaml", text))
    assert sorted(p.path for p in problems) == ["spec.secretName", "spec.targetNamespace", "spec.targets[0].clustrName"]


def test_problems_of_every_document_and_file_are_reported_at_once() -> None:
    first = handshake_text(name="one", secret_namespace=None) + "---\n" + handshake_text(name="two", targets="[]")
    second = secret_text(string_data={"password": "plain"}, encrypted=False)
    _, problems = validate(("a.yaml", first), ("b.yaml", second))
    assert sorted((p.file, p.document, p.path) for p in problems) == [
        ("a.yaml", 0, "spec.secretNamespace"),
        ("a.yaml", 1, "spec.targets"),
        ("b.yaml", 0, "stringData"),
    ]


def test_duplicate_handshake_in_one_workspace_across_two_files() -> None:
    _, problems = validate(("a.yaml", handshake_text()), ("b.yaml", handshake_text(targets="    - clusterName: x\n")))
    (problem,) = problems
    assert (problem.file, problem.document, problem.path) == ("b.yaml", 0, "metadata.name")
    assert "fleet-default/db-creds" in problem.message
    assert "a.yaml" in problem.message


def test_same_handshake_name_in_two_workspaces_is_fine() -> None:
    source, problems = validate(("a.yaml", handshake_text()), ("b.yaml", handshake_text(workspace="fleet-local")))
    assert problems == []
    assert [h.ref for h in source.handshakes] == ["fleet-default/db-creds", "fleet-local/db-creds"]


def test_two_files_defining_the_same_secret() -> None:
    _, problems = validate(("a.enc.yaml", secret_text()), ("b.enc.yaml", secret_text()))
    (problem,) = problems
    assert (problem.file, problem.path) == ("b.enc.yaml", "metadata.name")
    assert "default/db-creds" in problem.message
    assert "a.enc.yaml" in problem.message


def test_same_secret_name_in_two_namespaces_is_fine() -> None:
    source, problems = validate(("a.enc.yaml", secret_text()), ("b.enc.yaml", secret_text(namespace="other")))
    assert problems == []
    assert [s.ref for s in source.secrets] == ["default/db-creds", "other/db-creds"]


def test_an_encrypted_secret_is_accepted() -> None:
    source, problems = validate(("db.enc.yaml", secret_text()))
    assert problems == []
    assert source.secrets == (SourceSecret(namespace="default", name="db-creds", file="db.enc.yaml", document=0),)


SECRET_CASES = [
    pytest.param(
        secret_text(string_data={"password": "hunter2"}, encrypted=False),
        "stringData",
        "is in clear text: this Secret is not SOPS-encrypted",
        id="stringData-not-encrypted",
    ),
    pytest.param(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db-creds, namespace: default}\n"
        "data:\n  password: aHVudGVyMg==\n",
        "data",
        "is in clear text: this Secret is not SOPS-encrypted",
        id="data-not-encrypted",
    ),
    pytest.param(
        secret_text(string_data={"user": ENC, "password": "hunter2"}),
        "stringData.password",
        "is not encrypted although the file has SOPS metadata",
        id="one-value-not-encrypted",
    ),
    pytest.param(
        secret_text(name=ENC), "metadata.name", "is encrypted; keep metadata in clear text", id="name-encrypted"
    ),
    pytest.param(
        secret_text(namespace=ENC),
        "metadata.namespace",
        "is encrypted; keep metadata in clear text",
        id="namespace-encrypted",
    ),
    pytest.param(secret_text(namespace=None), "metadata.namespace", "is required", id="namespace-missing"),
    pytest.param(secret_text(name="DB_creds"), "metadata.name", "DNS-1123", id="name-not-dns"),
    pytest.param(
        secret_text(string_data={"bad key": ENC}), "stringData['bad key']", "not a valid Secret key", id="bad-key"
    ),
    pytest.param(
        f"apiVersion: v1\nkind: {ENC}\nmetadata: {{name: db-creds, namespace: default}}\n"
        f"stringData:\n  password: {ENC}\n" + SOPS_META,
        "kind",
        "is encrypted or missing",
        id="kind-encrypted",
    ),
]


@pytest.mark.parametrize(("text", "path", "fragment"), SECRET_CASES)
def test_secret_problem_has_exact_path_and_message(text: str, path: str, fragment: str) -> None:
    source, problems = validate(("secrets/db.yaml", text))
    assert [p.path for p in problems] == [path], problems
    (problem,) = problems
    assert fragment in problem.message
    assert str(problem).startswith("secrets/db.yaml:")
    assert problem.line is not None
    assert source.secrets == ()


@pytest.mark.parametrize(
    ("metadata", "encrypted", "paths"),
    [
        ("metadata: not-a-mapping\n", False, ["metadata", "stringData"]),
        ("metadata:\n  name: ENC[x]\n  namespace: default\n", False, ["metadata.name", "stringData"]),
        ("metadata: [a]\n", True, ["metadata", "stringData.password"]),
    ],
)
def test_clear_text_is_reported_whatever_is_wrong_with_the_metadata(
    metadata: str, encrypted: bool, paths: list[str]
) -> None:
    text = f"apiVersion: v1\nkind: Secret\n{metadata}stringData:\n  password: hunter2\n"
    _, problems = validate(("secrets/db.yaml", text + (SOPS_META if encrypted else "")))
    assert sorted(p.path for p in problems) == paths


def test_plain_secret_problem_names_the_file_and_says_what_to_do() -> None:
    text = "# a comment first\n" + secret_text(string_data={"password": "hunter2"}, encrypted=False)
    _, (problem,) = validate(("secrets/db.yaml", text))
    assert problem.file == "secrets/db.yaml"
    assert problem.path == "stringData"
    assert problem.line == line_of(text, "password")  # where the values are, as check-secrets reports it
    assert "encrypt it with sops" in problem.message


def test_matchlabels_key_that_is_not_a_string_is_reported() -> None:
    # `1: prod` parses to an int key. Dropping it silently would leave `clusterSelector: {}`,
    # which matches EVERY cluster in the workspace.
    text = handshake_text(targets="    - clusterSelector:\n        matchLabels:\n          1: prod\n")
    source, problems = validate(("hs.yaml", text))
    assert [p.path for p in problems if p.path.startswith("spec.targets[0].clusterSelector.matchLabels")], problems
    assert source.handshakes == ()


def test_cluster_name_null_is_treated_as_absent() -> None:
    text = handshake_text(targets="    - clusterName: null\n      clusterGroup: edge\n")
    source, problems = validate(("hs.yaml", text))
    assert problems == []
    (target,) = source.handshakes[0].targets
    assert target == Target(cluster_group="edge")
    assert target.to_dict() == {"clusterGroup": "edge"}


def test_cluster_name_null_alone_leaves_no_criteria() -> None:
    _, problems = validate(("hs.yaml", handshake_text(targets="    - clusterName: null\n")))
    assert [(p.path, "has no cluster criteria" in p.message) for p in problems] == [("spec.targets[0]", True)]


def test_do_not_deploy_target_is_accepted_as_an_exclusion() -> None:
    targets = "    - clusterSelector: {matchLabels: {env: dev}}\n      doNotDeploy: true\n    - clusterSelector: {}\n"
    source, problems = validate(("hs.yaml", handshake_text(targets=targets)))
    assert problems == []
    excluded, everyone = source.handshakes[0].targets
    assert excluded == Target(cluster_selector=LabelSelector((("env", "dev"),)), do_not_deploy=True)
    assert excluded.to_dict() == {"clusterSelector": {"matchLabels": {"env": "dev"}}, "doNotDeploy": True}
    assert excluded.criteria() == {"clusterSelector": {"matchLabels": {"env": "dev"}}}
    assert everyone.do_not_deploy is False


def test_do_not_deploy_false_is_an_ordinary_target() -> None:
    source, problems = validate(("hs.yaml", handshake_text(targets="    - clusterName: a\n      doNotDeploy: false\n")))
    assert problems == []
    assert source.handshakes[0].targets == (Target(cluster_name="a"),)


@pytest.mark.parametrize(
    ("targets", "path", "fragment"),
    [
        pytest.param("    - clusterName: a\n      doNotDeploy: \"yes\"\n", "spec.targets[0].doNotDeploy",
                     "must be true or false, not a string", id="not-a-boolean"),
        pytest.param("    - clusterName: a\n      doNotDeploy: true\n    - clusterGroup: g\n      doNotDeploy: true\n",
                     "spec.targets", "every target has doNotDeploy: true", id="no-target-deploys"),
        pytest.param("    - clusterName: a\n    - clusterName: a\n      doNotDeploy: true\n", "spec.targets[1]",
                     "repeats spec.targets[0]", id="excluding-what-an-earlier-target-delivers"),
    ],
)  # fmt: skip
def test_do_not_deploy_problems(targets: str, path: str, fragment: str) -> None:
    source, problems = validate(("hs.yaml", handshake_text(targets=targets)))
    assert [(p.path, fragment in p.message) for p in problems] == [(path, True)], problems
    assert source.handshakes == ()


def test_empty_cluster_selector_is_a_criterion() -> None:
    # Fleet reads `clusterSelector: {}` as "every cluster": a real, if broad, target.
    source, problems = validate(("hs.yaml", handshake_text(targets="    - clusterSelector: {}\n")))
    assert problems == []
    assert source.handshakes[0].targets[0].to_dict() == {"clusterSelector": {}}


def test_selector_is_parsed_into_the_model() -> None:
    targets = (
        "    - name: eu\n"
        "      clusterSelector:\n"
        "        matchLabels: {region: eu, env: prod}\n"
        "        matchExpressions:\n"
        "          - {key: tier, operator: NotIn, values: [dev]}\n"
        "          - {key: gpu, operator: DoesNotExist}\n"
    )
    source, problems = validate(("hs.yaml", handshake_text(targets=targets)))
    assert problems == []
    assert source.handshakes[0].targets == (
        Target(
            name="eu",
            cluster_selector=LabelSelector(
                match_labels=(("env", "prod"), ("region", "eu")),
                match_expressions=(Requirement("tier", "NotIn", ("dev",)), Requirement("gpu", "DoesNotExist")),
            ),
        ),
    )


def test_other_kinds_in_a_multi_document_file_are_ignored() -> None:
    configmap = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  password: not-a-secret\n"
    source, problems = validate(("mixed.yaml", configmap + "---\n" + handshake_text()))
    assert problems == []
    assert [(h.name, h.document) for h in source.handshakes] == [("db-creds", 1)]
    assert source.secrets == ()


def test_no_problem_message_shows_a_secret_value() -> None:
    value = "Zebra-Hunter2-5up3r-s3cr3t"
    files = [
        ("plain.yaml", secret_text(string_data={"password": value}, encrypted=False)),
        ("half.enc.yaml", secret_text(name="half", string_data={"user": ENC, "password": value})),
        ("badkey.enc.yaml", secret_text(name="badkey", string_data={"bad key": value})),
        (
            "scalar.enc.yaml",
            secret_text(name="scalar").replace(f"stringData:\n  password: {ENC}", f"stringData: {value}"),
        ),
        ("nons.enc.yaml", secret_text(name="nons", namespace=None, string_data={"password": value})),
    ]
    _, problems = validate(*files)
    assert {p.file for p in problems} == {name for name, _ in files}
    for problem in problems:
        assert value not in str(problem)
        assert value not in repr(problem)


def seed_file(name: str) -> Path:
    return DATA / "seed" / name


def test_seed_sample_handshakes_load_unchanged() -> None:
    path = seed_file("sample-fleethandshakes.yaml")
    source, problems = validate_source([(path.name, parse_documents(path.read_bytes()))])
    assert problems == []
    assert [
        (h.workspace, h.name, h.secret_namespace, h.secret_name, h.target_namespace) for h in source.handshakes
    ] == [
        ("fleet-default", "fleethandshake-sample", "default", "fleethandshake-sample", "test"),
        ("fleet-default", "fleethandshake-test-only", "default", "fleethandshake-test-only", "test"),
    ]
    assert [h.targets for h in source.handshakes] == [
        (Target(cluster_selector=LabelSelector(match_labels=(("managed", "rancher"),))),),
        (Target(cluster_name="test"),),
    ]


def test_seed_sample_secrets_are_refused_because_they_are_not_encrypted() -> None:
    path = seed_file("sample-secrets.yaml")
    source, problems = validate_source([(path.name, parse_documents(path.read_bytes()))])
    assert [(p.file, p.document, p.path) for p in problems] == [(path.name, d, "stringData") for d in (0, 1)]
    assert all("not SOPS-encrypted" in p.message for p in problems)
    assert source.secrets == ()


def test_an_empty_value_that_sops_left_as_it_is_is_accepted() -> None:
    """sops does not encrypt an empty string; it reveals nothing, so the Secret is valid."""
    source, problems = validate(("s.yaml", secret_text(string_data={"password": ENC, "optional": '""'})))
    assert problems == []
    assert [s.name for s in source.secrets] == ["db-creds"]


@pytest.mark.parametrize("key", [".", "..", "..data", "...", "..a.b"])
def test_dot_keys_are_refused_as_kubernetes_refuses_them(key: str) -> None:
    """apimachinery's IsConfigMapKey refuses `.`, `..` and every key starting with `..` (the
    kubelet's own `..data` folder in a mounted volume): the API server would refuse the Secret on
    every cluster while the run said Synced."""
    _, problems = validate(("s.yaml", secret_text(string_data={f"'{key}'": ENC})))
    assert [p.message for p in problems] == [
        "is not a valid Secret key (letters, digits, '-', '_', '.'; not starting with '..')"
    ]


@pytest.mark.parametrize("key", [".a", ".dotfile", "a..b", "a.", "-", "_", "x" * 253])
def test_keys_kubernetes_accepts_are_accepted(key: str) -> None:
    _, problems = validate(("s.yaml", secret_text(string_data={f"'{key}'": ENC})))
    assert problems == []
