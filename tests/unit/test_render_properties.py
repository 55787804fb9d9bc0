"""Properties of rendering and composing bundles, over generated handshakes and Secrets."""

from __future__ import annotations

import base64
import json
import pickle
import random
import re
from dataclasses import replace
from functools import cache
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from fhtest import DATA, REPO
from fleethandshake.core import bundles, render
from fleethandshake.core.models import (
    Handshake,
    LabelSelector,
    PlainSecret,
    Requirement,
    SecretValue,
    Status,
    Target,
)
from fleethandshake.core.names import MAX_BUNDLE_NAME
from fleethandshake.core.output import Outcome, compose
from fleethandshake.modes import modes

SOURCES = {p.name: p.read_text() for p in (REPO / "templates").glob("*.j2")}
ENV = render.make_environment(SOURCES)
PLAIN = modes()["plain"]

FLEET_SCHEMA = DATA / "fleet" / "fleet.yaml.json"
PROPERTY = settings(max_examples=60, deadline=None)
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
CRITERIA = {"clusterName", "clusterSelector", "clusterGroup", "clusterGroupSelector"}

# --- strategies ---------------------------------------------------------------------------------

dns_label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?", fullmatch=True)
handshake_names = st.one_of(
    st.lists(dns_label, min_size=1, max_size=3).map(".".join),
    st.integers(1, 63).map(lambda n: ("long-handshake-name." * 4)[: n - 1] + "z"),
)
# Printable text: target names and cluster names are free-form strings in the CRD.
printable = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp"))
label_keys = st.sampled_from(
    ["env", "region", "tier", "app.kubernetes.io/name", "management.cattle.io/cluster-display-name"]
)
label_values = st.from_regex(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?)?", fullmatch=True)


@st.composite
def requirements(draw: st.DrawFn) -> Requirement:
    operator = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]))
    values: tuple[str, ...] = ()
    if operator in ("In", "NotIn"):
        values = tuple(draw(st.lists(label_values, min_size=1, max_size=3)))
    return Requirement(draw(label_keys), operator, values)


selectors = st.builds(
    LabelSelector,
    match_labels=st.dictionaries(label_keys, label_values, max_size=3).map(lambda d: tuple(sorted(d.items()))),
    match_expressions=st.lists(requirements(), max_size=2).map(tuple),
)


@st.composite
def targets(draw: st.DrawFn) -> Target:
    kinds = draw(
        st.sets(st.sampled_from(["clusterName", "clusterSelector", "clusterGroup", "clusterGroupSelector"]), min_size=1)
    )
    return Target(
        name=draw(st.none() | st.text(printable, min_size=1, max_size=70)),
        cluster_name=draw(st.text(printable, min_size=1, max_size=30)) if "clusterName" in kinds else None,
        cluster_selector=draw(selectors) if "clusterSelector" in kinds else None,
        cluster_group=draw(dns_label) if "clusterGroup" in kinds else None,
        cluster_group_selector=draw(selectors) if "clusterGroupSelector" in kinds else None,
        do_not_deploy=draw(st.sampled_from([False, False, True])),
    )


DEFAULT_WORKSPACE = st.just("fleet-default")
# The validator refuses a handshake whose targets repeat a name or (unnamed) criteria, and one
# whose targets are all doNotDeploy.
target_lists = st.lists(targets(), min_size=1, max_size=4, unique_by=lambda t: t.key).filter(
    lambda ts: not all(t.do_not_deploy for t in ts)
)


def handshakes(workspace: st.SearchStrategy[str] = DEFAULT_WORKSPACE) -> st.SearchStrategy[Handshake]:
    return st.builds(
        Handshake,
        workspace=workspace,
        name=handshake_names,
        secret_name=dns_label,
        secret_namespace=dns_label,
        target_namespace=dns_label,
        targets=target_lists.map(tuple),
        file=st.just("handshakes.yaml"),
        document=st.integers(0, 5),
    )


secret_keys = st.from_regex(r"[-._a-zA-Z0-9]{1,20}", fullmatch=True)
# Any text a decrypted YAML value can hold, and text built from what YAML treats specially
# (indicators, blanks, every kind of line break) often enough that every run meets it. The
# second alphabet avoids characters that force double quotes, which would hide the other
# scalar styles (a plain or single-quoted NEL used to come back as a space).
secret_text = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.text(st.sampled_from([*"ab0 \n:#'\"|>-&*!%@`{}[],?\\", "\x85", "\u2028", "\u2029"]), max_size=12),
)


def _values(values: dict[str, str]) -> tuple[tuple[str, SecretValue], ...]:
    return tuple((k, SecretValue(v)) for k, v in sorted(values.items()))


plain_secrets = st.builds(
    PlainSecret,
    name=dns_label,
    type=st.sampled_from(["Opaque", "kubernetes.io/tls", "kubernetes.io/dockerconfigjson"]),
    data=st.dictionaries(
        secret_keys,
        st.one_of(st.binary(max_size=30), secret_text.map(str.encode)).map(lambda b: base64.b64encode(b).decode()),
        max_size=5,
    ).map(_values),
    labels=st.dictionaries(label_keys, label_values, max_size=2).map(lambda d: tuple(sorted(d.items()))),
    immutable=st.none() | st.booleans(),
)
# For properties about fleet.yaml: the Secret's content is beside the point there.
simple_secrets = st.builds(
    PlainSecret, name=dns_label, type=st.just("Opaque"), data=st.just((("k", SecretValue("dg==")),))
)


@st.composite
def workspace_handshakes(draw: st.DrawFn) -> list[Handshake]:
    """Several handshakes of one workspace with distinct names, as the validator guarantees."""
    return draw(st.lists(handshakes(), min_size=2, max_size=4, unique_by=lambda h: h.name))


# --- helpers ------------------------------------------------------------------------------------


def fleet_docs(handshake: Handshake, tree: dict[str, bytes]) -> list[tuple[bundles.Bundle, dict[str, Any]]]:
    out = []
    for bundle in bundles.bundles_for(handshake, PLAIN.name):
        doc = yaml.safe_load(tree[f"{bundle.path}/{render.FLEET_YAML}"])
        assert isinstance(doc, dict)
        # What `plan` relies on to skip parsing (app.plan.known_fleet_files): the file holds
        # exactly the plain mode's `fleet` document.
        assert doc == PLAIN.fleet(handshake, bundle)
        out.append((bundle, doc))
    return out


@cache
def fleet_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(FLEET_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# --- properties ---------------------------------------------------------------------------------


@PROPERTY
@given(handshake=handshakes(), secret=plain_secrets)
def test_rendering_twice_gives_identical_bytes(handshake: Handshake, secret: PlainSecret) -> None:
    first = PLAIN.render(ENV, handshake, secret).files
    second = PLAIN.render(ENV, handshake, secret).files
    assert first == second
    assert list(first) == list(second)


def test_each_template_is_compiled_once_per_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = render.make_environment(SOURCES)
    compiled: list[str | None] = []
    compile_ = env.compile

    def counting(source: Any, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        compiled.append(name)
        return compile_(source, name, *args, **kwargs)

    monkeypatch.setattr(env, "compile", counting)
    targets = (Target("a", cluster_name="c1"), Target("b", cluster_name="c2"))
    secret = PlainSecret(name="s", type="Opaque", data=(("k", SecretValue("dg==")),))
    for name in ("x", "y"):
        for mode in modes().values():
            hs = replace(HANDSHAKE, name=name, targets=targets)
            mode.render(env, hs, secret, lambda t: ("age1x",), "r")
    assert sorted(compiled) == sorted(SOURCES)


@PROPERTY
@given(handshake=handshakes(), secret=simple_secrets)
def test_tree_holds_exactly_one_flat_bundle_per_deploying_target(handshake: Handshake, secret: PlainSecret) -> None:
    tree = PLAIN.render(ENV, handshake, secret).files
    made = bundles.bundles_for(handshake, PLAIN.name)
    assert [b.target for b in made] == [t for t in handshake.targets if not t.do_not_deploy]
    assert sorted(tree) == sorted(
        f"{handshake.workspace}/{b.name}/{file}" for b in made for file in (render.FLEET_YAML, PLAIN.file)
    )


@PROPERTY
@given(handshake=handshakes())
def test_bundle_names_are_short_dns1123_labels_unique_in_the_handshake(handshake: Handshake) -> None:
    made = [b.name for b in bundles.bundles_for(handshake, PLAIN.name)]
    for name in made:
        assert len(name) <= MAX_BUNDLE_NAME, name
        assert DNS1123_LABEL.fullmatch(name), name
        assert re.fullmatch(r".+-[0-9a-f]{16}", name), "a 64-bit digest"
    assert len(set(made)) == len(made)


@PROPERTY
@given(handshakes=workspace_handshakes())
def test_bundle_names_are_unique_across_a_workspace(handshakes: list[Handshake]) -> None:
    paths = [b.path for h in handshakes for b in bundles.bundles_for(h, PLAIN.name)]
    assert len(paths) == sum(not t.do_not_deploy for h in handshakes for t in h.targets)
    assert len(set(paths)) == len(paths)


@PROPERTY
@given(data=st.data(), handshake=handshakes())
def test_bundle_names_do_not_depend_on_target_position(data: st.DataObject, handshake: Handshake) -> None:
    reordered = data.draw(st.permutations(handshake.targets).map(tuple))
    moved = replace(handshake, targets=reordered)
    before = {b.target: b.name for b in bundles.bundles_for(handshake, PLAIN.name)}
    after = {b.target: b.name for b in bundles.bundles_for(moved, PLAIN.name)}
    assert after == before


@PROPERTY
@given(handshake=handshakes(), data=st.data())
def test_bundle_names_change_with_everything_that_makes_a_new_bundle(handshake: Handshake, data: st.DataObject) -> None:
    """Workspace, handshake, target (name and criteria), targetNamespace, Secret name and mode: a
    change of any of them must give a new Fleet bundle (see bundles.bundle_identity)."""
    before = bundles.bundles_for(handshake, PLAIN.name)[0]
    target = before.target
    other_selector = LabelSelector((("zone", "changed"),))
    changed_target = replace(target, cluster_selector=other_selector, cluster_name=None, cluster_group=None,
                                    cluster_group_selector=None)  # fmt: skip
    assert changed_target.criteria() != target.criteria()
    variants = {
        "workspace": (replace(handshake, workspace=handshake.workspace + "-x"), PLAIN.name),
        "handshake": (replace(handshake, name=handshake.name + "x"), PLAIN.name),
        "criteria": (replace(handshake, targets=(changed_target,)), PLAIN.name),
        "targetNamespace": (replace(handshake, target_namespace=handshake.target_namespace + "x"), PLAIN.name),
        "secretName": (replace(handshake, secret_name=handshake.secret_name + "x"), PLAIN.name),
        "mode": (handshake, data.draw(st.sampled_from(["sops", "downstream"]))),
    }
    for what, (variant, mode) in variants.items():
        same_target = [b for b in bundles.bundles_for(variant, mode) if b.target_index == before.target_index]
        after = same_target[0] if what != "criteria" else bundles.bundles_for(variant, mode)[0]
        assert after.name != before.name, what


@PROPERTY
@given(handshake=handshakes(), secret=simple_secrets)
def test_fleet_yaml_skips_earlier_targets_and_overrides_with_its_own(handshake: Handshake, secret: PlainSecret) -> None:
    tree = PLAIN.render(ENV, handshake, secret).files
    for bundle, doc in fleet_docs(handshake, tree):
        k = bundle.target_index
        assert doc["name"] == bundle.name
        assert doc["namespace"] == handshake.target_namespace
        assert doc["overrideTargets"] == [handshake.targets[k].to_dict()]
        # Never `overrideTargets: []` nor a target without criteria: Fleet would fall back to
        # its default target, or match nothing.
        assert set(doc["overrideTargets"][0]) & CRITERIA
        expected = [{**t.to_dict(), "doNotDeploy": True} for t in handshake.targets[:k]]
        assert doc.get("targetCustomizations", []) == expected
        # A cluster moving in from another bundle of the handshake: adopt its Secret, and restore
        # it when the other bundle's uninstall deletes it (README: "When a cluster moves").
        assert doc["helm"] == {"takeOwnership": True}
        assert doc["correctDrift"] == {"enabled": True}
        if k == 0:
            assert "targetCustomizations" not in doc


@PROPERTY
@given(handshake=handshakes(), secret=simple_secrets)
def test_every_fleet_yaml_validates_against_fleets_schema(handshake: Handshake, secret: PlainSecret) -> None:
    validator = fleet_validator()
    for _, doc in fleet_docs(handshake, PLAIN.render(ENV, handshake, secret).files):
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
        assert errors == []


@PROPERTY
@given(handshake=handshakes(), secret=plain_secrets)
def test_secret_yaml_round_trips(handshake: Handshake, secret: PlainSecret) -> None:
    tree = PLAIN.render(ENV, handshake, secret).files
    texts = {content for path, content in tree.items() if path.endswith(f"/{PLAIN.file}")}
    assert len(texts) == 1
    doc = yaml.safe_load(texts.pop())
    assert_secret_document(doc, handshake, secret)


def assert_secret_document(doc: Any, handshake: Handshake, secret: PlainSecret) -> None:
    assert "sops" not in doc
    assert (doc["apiVersion"], doc["kind"], doc["type"]) == ("v1", "Secret", secret.type)
    assert doc["metadata"]["name"] == secret.name
    assert doc["metadata"]["namespace"] == handshake.target_namespace
    assert doc["metadata"].get("labels", {}) == dict(secret.labels)
    assert doc.get("immutable") == secret.immutable
    assert doc.get("data", {}) == {k: v.reveal() for k, v in secret.data}
    assert "stringData" not in doc


HANDSHAKE = Handshake(
    workspace="fleet-default",
    name="db-creds",
    secret_name="db-creds",
    secret_namespace="default",
    target_namespace="apps",
    targets=(Target(cluster_name="prod-1"),),
    file="hs.yaml",
    document=0,
)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("-----BEGIN CERT-----\nMIIB\n-----END CERT-----\n", id="pem"),
        pytest.param("line one\nline two", id="multi-line-no-final-newline"),
        pytest.param("ends with blank lines\n\n\n", id="trailing-newlines"),
        pytest.param("\n  leading indent\n", id="leading-newline-and-indent"),
        pytest.param("trailing space \nx", id="trailing-space-in-line"),
        pytest.param("yes", id="yaml11-bool"),
        pytest.param("0o17", id="octal-like"),
        pytest.param("null", id="null-word"),
        pytest.param("", id="empty"),
        pytest.param("# not a comment", id="hash"),
        pytest.param("a\r\nb", id="crlf"),
        pytest.param("a\tb\n\tc", id="tabs"),
        pytest.param("caf\u00e9 \u2603", id="unicode"),
        pytest.param("a\u2028b", id="line-separator"),
        pytest.param("a\x85b", id="next-line-nel"),
        pytest.param("first\nsecond\x85third", id="nel-in-multi-line"),
    ],
)
def test_secret_yaml_round_trips_tricky_values(value: str) -> None:
    secret = render.plain_secret({"type": "Opaque", "stringData": {"k": value}}, "db-creds")
    tree = PLAIN.render(ENV, HANDSHAKE, secret).files
    doc = yaml.safe_load(tree[f"{bundles.bundles_for(HANDSHAKE, PLAIN.name)[0].path}/{PLAIN.file}"])
    assert_secret_document(doc, HANDSHAKE, secret)
    assert base64.b64decode(doc["data"]["k"]).decode() == value


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param("db.creds", "db-creds", id="dot-vs-dash"),
        pytest.param("a" * 50 + "-one", "a" * 50 + "-two", id="same-after-the-cut"),
    ],
)
def test_handshakes_whose_readable_names_collide_get_distinct_bundles(first: str, second: str) -> None:
    target = Target(name="eu-west-and-a-long-suffix", cluster_name="prod-1")
    one, two = (
        replace(HANDSHAKE, name=name, targets=(target, Target(cluster_group="edge"))) for name in (first, second)
    )
    paths = [b.path for h in (one, two) for b in bundles.bundles_for(h, PLAIN.name)]
    assert len(set(paths)) == 4


@st.composite
def outcome_lists(draw: st.DrawFn) -> list[Outcome]:
    workspace = st.sampled_from(["fleet-default", "fleet-local"])
    hss = draw(st.lists(handshakes(workspace), min_size=1, max_size=4, unique_by=lambda h: (h.workspace, h.name)))
    outcomes = []
    for hs in hss:
        status = draw(st.sampled_from([Status.SYNCED, Status.SYNCED, Status.MISSING, Status.ERROR]))
        if status is Status.SYNCED:
            files = PLAIN.render(ENV, hs, draw(simple_secrets)).files
            outcomes.append(Outcome(hs, status, "bundles written", files))
        else:
            outcomes.append(Outcome(hs, status, f"{status} for a reason"))
    return outcomes


@PROPERTY
@given(outcomes=outcome_lists())
def test_compose_is_idempotent(outcomes: list[Outcome]) -> None:
    first = compose({}, outcomes)
    for outcome in outcomes:
        for path, content in outcome.files.items():
            assert first.tree[path] == content
    second = compose(first.tree, outcomes)
    assert second.tree == first.tree
    assert second.pruned == ()
    assert all(change.changed == () and change.removed == () for change in second.changes)


@PROPERTY
@given(data=st.data(), outcomes=outcome_lists())
def test_compose_does_not_depend_on_outcome_order(data: st.DataObject, outcomes: list[Outcome]) -> None:
    shuffled = data.draw(st.permutations(outcomes))
    first = compose({}, outcomes)
    assert compose({}, shuffled).tree == first.tree
    assert compose(first.tree, shuffled).tree == compose(first.tree, outcomes).tree


# --- secret values stay hidden ------------------------------------------------------------------

VALUE = "Zebra-Hunter2-5up3r-s3cr3t"


def test_secret_value_repr_and_str_are_redacted() -> None:
    value = SecretValue(VALUE)
    for shown in (repr(value), str(value), f"{value}", f"{value!r}", repr([value]), str({"k": value})):
        assert VALUE not in shown
        assert "redacted" in shown
    assert value.reveal() == VALUE


def test_plain_secret_repr_and_str_are_redacted() -> None:
    secret = PlainSecret(
        name="db-creds",
        type="Opaque",
        data=(("password", SecretValue(base64.b64encode(VALUE.encode()).decode())),),
    )
    encoded = base64.b64encode(VALUE.encode()).decode()
    for shown in (repr(secret), str(secret), f"{secret}"):
        assert VALUE not in shown
        assert encoded not in shown
        assert "password" in shown  # keys are not secret and help debugging


def test_secret_value_refuses_to_be_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(SecretValue(VALUE))


def test_secret_size_is_the_api_servers_rule_on_decoded_data() -> None:
    """1 MiB of data bytes together (stringData counted as the bytes it becomes), not of rendered text."""
    at_limit = {"a": "x" * (512 * 1024), "b": base64.b64encode(b"y" * (512 * 1024)).decode()}
    secret = render.plain_secret({"stringData": {"a": at_limit["a"]}, "data": {"b": at_limit["b"]}}, "big")
    assert sum(len(base64.b64decode(v.reveal())) for _, v in secret.data) == 1024 * 1024
    with pytest.raises(render.RenderError, match="over the API server's limit of 1 MiB"):
        render.plain_secret({"stringData": {"a": at_limit["a"] + "!"}, "data": {"b": at_limit["b"]}}, "big")


def test_a_plain_bundle_that_would_not_fit_fleet_is_refused_and_names_no_value() -> None:
    noise = random.Random(7).randbytes(1000 * 1024)  # incompressible: base64 of it gzips to about its size
    secret = render.plain_secret({"data": {"blob": base64.b64encode(noise).decode()}}, "noise")
    with pytest.raises(render.RenderError, match="bytes a Fleet bundle can hold") as caught:
        PLAIN.render(ENV, HANDSHAKE, secret)
    assert base64.b64encode(noise[:32]).decode()[:40] not in str(caught.value)
    downstream = modes()["downstream"].render(ENV, HANDSHAKE, secret)  # the bundle holds no value there
    assert downstream.management


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"labels": {"tier": "bad value!"}}, "metadata.labels.tier: label value must be"),
        ({"labels": {"tier": "x" * 64}}, "metadata.labels.tier: label value must be"),
        ({"labels": {"bad key!": "x"}}, "metadata.labels: a key is not a valid label key"),
        ({"annotations": {"a/b/c": "x"}}, "metadata.annotations: a key is not a valid annotation key"),
        ({"annotations": {"note": "x" * (256 * 1024)}}, "metadata.annotations: 262148 bytes, over"),
    ],
)
def test_metadata_the_api_server_refuses_is_a_render_error(meta: dict[str, Any], message: str) -> None:
    # Written, it would be Synced here and refused by every cluster's API server.
    doc = {"metadata": {"name": "s", **meta}, "stringData": {"k": "v"}}
    with pytest.raises(render.RenderError) as e:
        render.plain_secret(doc, "s")
    assert str(e.value).startswith(message)
    assert "bad value!" not in str(e.value)


def test_metadata_the_api_server_accepts_is_delivered() -> None:
    meta = {"labels": {"example.com/tier": "", "a.b": "0o17"}, "annotations": {"Example.COM/Note": "any text: ok"}}
    secret = render.plain_secret({"metadata": {"name": "s", **meta}}, "s")
    assert dict(secret.labels) == meta["labels"] and dict(secret.annotations) == meta["annotations"]


@pytest.mark.parametrize("key", [".", "..", "..data"])
def test_a_key_the_api_server_refuses_is_not_rendered(key: str) -> None:
    """The decrypted Secret is checked again before it is written: `..data` (IsConfigMapKey
    refuses every key starting with `..`) would make the API server refuse it on every cluster."""
    with pytest.raises(render.RenderError, match="not a valid Secret key"):
        render.plain_secret({"stringData": {key: "v"}}, "s")
