"""The built-in Secret types as the API server checks them (ValidateSecret), and what it defaults:
a Secret it would refuse is an Error, one it accepts is delivered as it stores it."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from fleethandshake.core import render

DOCKER = '{"auths": {}}'


def secret(kind: str | None, annotations: dict[str, str] | None = None, **string_data: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"metadata": {"name": "s", "annotations": annotations or {}}, "stringData": string_data}
    if kind is not None:
        doc["type"] = kind
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (secret("kubernetes.io/tls", **{"tls.crt": "c"}), "a kubernetes.io/tls Secret needs the data key(s) tls.key"),
        (secret("kubernetes.io/dockerconfigjson"), "a kubernetes.io/dockerconfigjson Secret needs the data key(s)"),
        (secret("kubernetes.io/dockerconfigjson", **{".dockerconfigjson": "[1]"}), "data..dockerconfigjson of a"),
        (secret("kubernetes.io/dockercfg", **{".dockercfg": '{"a": NaN}'}), "data..dockercfg of a"),
        (secret("kubernetes.io/basic-auth", other="x"), "a kubernetes.io/basic-auth Secret needs the data key(s)"),
        (secret("kubernetes.io/ssh-auth", **{"ssh-privatekey": ""}), "a kubernetes.io/ssh-auth Secret needs"),
        (secret("kubernetes.io/service-account-token", token="t"), "a kubernetes.io/service-account-token Secret"),
    ],
)
def test_a_secret_its_type_forbids_is_a_render_error(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(render.RenderError) as e:
        render.plain_secret(doc, "s")
    assert str(e.value).startswith(message)


@pytest.mark.parametrize(
    "doc",
    [
        secret("kubernetes.io/tls", **{"tls.crt": "", "tls.key": ""}),  # present is enough (no key check)
        secret("kubernetes.io/dockerconfigjson", **{".dockerconfigjson": DOCKER}),
        secret("kubernetes.io/basic-auth", password=""),
        secret("kubernetes.io/ssh-auth", **{"ssh-privatekey": "k"}),
        secret("kubernetes.io/service-account-token", {"kubernetes.io/service-account.name": "builder"}),
        secret("example.com/custom"),
    ],
)
def test_a_secret_its_type_allows_is_delivered(doc: dict[str, Any]) -> None:
    assert render.plain_secret(doc, "s").type == doc["type"]


@pytest.mark.parametrize("kind", [None, ""])
def test_no_type_is_opaque_as_the_api_server_defaults_it(kind: str | None) -> None:
    doc = secret(None)
    doc["type"] = kind
    assert render.plain_secret(doc, "s").type == "Opaque"


def test_a_key_with_no_value_is_delivered_empty() -> None:
    # `password:` is null in YAML; Kubernetes stores the key with an empty value.
    doc = {"metadata": {"name": "s"}, "stringData": {"password": None}, "data": {"pin": None}}
    values = dict(render.plain_secret(doc, "s").data)
    assert {k: base64.b64decode(v.reveal()) for k, v in values.items()} == {"password": b"", "pin": b""}
