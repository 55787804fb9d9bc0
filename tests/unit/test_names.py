"""Kubernetes name rules and bundle names."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleethandshake.core.names import (
    MAX_BUNDLE_NAME,
    bundle_name,
    dns1123_label_problem,
    dns1123_subdomain_problem,
    label_key_problem,
    label_value_problem,
)

# Written out from the Kubernetes definition, independently of the module under test.
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def is_dns1123_label(value: str) -> bool:
    return len(value) <= 63 and DNS1123_LABEL.fullmatch(value) is not None


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("a", True),
        ("0", True),
        ("fleet-default", True),
        ("a1-b2-c3", True),
        ("a" * 63, True),
        ("", False),
        ("a" * 64, False),
        ("Fleet", False),
        ("a_b", False),
        ("a.b", False),
        ("-a", False),
        ("a-", False),
        ("a b", False),
        ("a/b", False),
        ("café", False),
    ],
)
def test_dns1123_label(value: str, valid: bool) -> None:
    assert (dns1123_label_problem(value) is None) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("a", True),
        ("db-creds", True),
        ("db.creds.v2", True),
        ("a" * 253, True),
        ("", False),
        ("a" * 254, False),
        ("a..b", False),
        (".a", False),
        ("a.", False),
        ("a.-b", False),
        ("Db.creds", False),
        ("db/creds", False),
        ("db_creds", False),
    ],
)
def test_dns1123_subdomain(value: str, valid: bool) -> None:
    assert (dns1123_subdomain_problem(value) is None) is valid


def test_dns1123_subdomain_max_len_and_messages() -> None:
    assert dns1123_subdomain_problem("a" * 63, max_len=63) is None
    assert dns1123_subdomain_problem("a" * 64, max_len=63) == "must be at most 63 characters (has 64)"
    assert dns1123_label_problem("a" * 64) == "must be at most 63 characters (has 64)"
    assert "DNS-1123" in (dns1123_label_problem("A") or "")


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("env", True),
        ("Env_1.x-y", True),
        ("app.kubernetes.io/name", True),
        ("management.cattle.io/cluster-display-name", True),
        ("a" * 63, True),
        ("", False),
        ("a" * 64, False),
        ("bad key", False),
        ("-env", False),
        ("env.", False),
        ("Bad_Prefix/env", False),
        ("example.com/", False),
        ("a/b/c", False),
        # Kubernetes (IsQualifiedName): "prefix part must be non-empty" when there is a '/'.
        ("/env", False),
    ],
)
def test_label_key(key: str, valid: bool) -> None:
    assert (label_key_problem(key) is None) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("", True),
        ("prod", True),
        ("Prod_1.x-y", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("prod env", False),
        ("-prod", False),
        ("prod.", False),
        ("a/b", False),
    ],
)
def test_label_value(value: str, valid: bool) -> None:
    assert (label_value_problem(value) is None) is valid


@pytest.mark.parametrize(
    ("handshake", "target"),
    [
        ("a" * 63, ""),
        ("a" * 63, "t" * 200),
        ("a" * 30 + "." + "b" * 32, "eu-west/prod clusters"),
        ("db", "!!!"),
        ("db", "ÄÖÜ ünïcödé"),
        ("x", "-" * 60),
    ],
)
def test_bundle_name_edge_cases(handshake: str, target: str) -> None:
    name = bundle_name(handshake, target, f"fleet-default\0{handshake}\0{target}")
    assert is_dns1123_label(name)
    assert len(name) <= MAX_BUNDLE_NAME


def test_bundle_name_keeps_a_readable_prefix() -> None:
    assert bundle_name("db-creds", "eu", "id").startswith("db-creds-eu-")
    assert bundle_name("db.creds", "", "id").startswith("db-creds-")


@settings(max_examples=100)
@given(handshake=st.text(max_size=80), target=st.text(max_size=120), identity=st.text(max_size=200))
def test_bundle_name_is_a_short_dns1123_label_and_stable(handshake: str, target: str, identity: str) -> None:
    name = bundle_name(handshake, target, identity)
    assert is_dns1123_label(name), name
    assert len(name) <= MAX_BUNDLE_NAME
    assert bundle_name(handshake, target, identity) == name


@settings(max_examples=100)
@given(
    handshake=st.text(max_size=80),
    target=st.text(max_size=80),
    identities=st.lists(st.text(max_size=80), min_size=2, max_size=2, unique=True),
)
def test_bundle_name_differs_for_different_identities(handshake: str, target: str, identities: list[str]) -> None:
    # Same readable part (even when cut), different identity: the names must still differ.
    first, second = (bundle_name(handshake, target, identity) for identity in identities)
    assert first != second


def test_bundle_names_of_long_names_differ_despite_the_cut() -> None:
    long = "a" * 63
    names = {bundle_name(long, f"{'t' * 60}-{i}", f"ws\0{long}\0name:{i}") for i in range(50)}
    assert len(names) == 50
