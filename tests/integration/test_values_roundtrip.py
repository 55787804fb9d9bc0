"""Every Secret reaches the cluster exactly as its source holds it (a seeded property test, real parts).

Random Secrets (key names, `data` of any bytes, `stringData` of odd text, type, labels, annotations,
immutable), written in random YAML styles (plain, single- and double-quoted, literal blocks, base64
broken over lines), are encrypted with the real sops and an age key. What the source holds is what
Kubernetes reads from `sops decrypt` of it: the real kubectl decodes that (`kubectl label --local`,
sigs.k8s.io/yaml, as kubectl apply sends it to the API server), and the API server's typed rules
for a Secret are applied to the result (`data` is Go's base64, `stringData` text that wins over
`data`). The real `fleet-handshake generate` then runs in plain, sops and downstream mode, with the
in-process decryptor and with the sops binary; what Kubernetes reads from its output (kubectl on
secret.yaml; the sops-secrets-operator's template after the real sops opens sopssecret.yaml; the
management Secret the real kubernetes client applied to the loopback API server) must equal it,
byte for byte. A Secret Kubernetes would refuse must not be Synced.

The seed is fixed: the run is the same every time. FLEET_HANDSHAKE_ROUNDTRIP_SEED picks another
(for hunting; a failure names the seed).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import random
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import fakekube
from fhtest import SOPS, AgeKey, SourceRepo, handshake, make_age_key, read_tree, run_cli

KUBECTL = Path(sys.executable).parent / "kubectl"
SEED = int(os.environ.get("FLEET_HANDSHAKE_ROUNDTRIP_SEED", "20261206"))
SECRETS = int(os.environ.get("FLEET_HANDSHAKE_ROUNDTRIP_SECRETS", "24"))
OWN_PREFIX = ("fleethandshake.riverpointtechnology.com/", "app.kubernetes.io/managed-by")

SPECIAL = [
    *["y", "Y", "n", "yes", "No", "ON", "off", "true", "False", "~", "null", "NULL", "=", "<<", ".inf", ".NaN"],
    *["0o17", "0O17", "0x1F", "0b101", "017", "08", "1e3", "1E3", "-1.5e-3", ".5", "+1", "-0", "1_000", "1:30"],
    *["190:20:30", "2001-12-14", "2001-12-14T21:59:43Z", "!!binary", "!!str x", "!tag", "&a", "*a", "- ", "- x"],
    *["#", "# x", "a #b", ": ", "a: b", "a:", "---", "...", "--- x", "? x", "|", ">", "%x", "@x", "`x", "{a: 1}"],
    *["[a]", "'q'", '"q"', "\\", "\\n", "C:\\p\\", "a,b", "{{ .Release.Name }}", "${x}", "$(x)", "0b_", "0x_"],
    *["2001-02-30", "2001-13-45 10:00:00", "2001-12-14 21:59:43.10", "2001-12-14T21:59:43+01:00"],
]  # fmt: skip
PIECES = [
    " ", "  ", "\t", "\n", "\r\n", "\r", "\x00", "\ufeff", "\x85", "\u2028", "\u2029", "\x7f", "\x1b[0m", "\x01",
    "\x0b", "\x0c", "caf\u00e9", "\u65e5\u672c", "\U0001f600", "\u200b", "\ud7ff", "\ue000", "\ufffd", "\U0010ffff",
    '"', "'", ":", "#", "-", "---\n", "...\n", "{", "}", "[", "]", ",", "&", "*", "!", "|", ">", "%", "@", "`",
]  # fmt: skip
LABEL_VALUE = re.compile(r"(?:(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")  # and at most 63 characters
QUALIFIED = re.compile(r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*")
KEY_CHARS = "-._abcxyzABCXYZ0189"
LABEL_VALUES = [
    "",
    "y",
    "n",
    "yes",
    "off",
    "true",
    "null",
    "0o17",
    "0x1F",
    "1e3",
    "017",
    "1_000",
    "a.b-c_d",
    "X",
    "2001-02-30",
    "2001-12-14",
    "0b1_",
    "bad value!",
    "-x",
    "x" * 64,
]
TYPES = ["Opaque", "y", "0o17", "1e3", "~", "example.com/odd type", "kubernetes.io/basic-auth", "t\u00e9", " x "]


def text(rng: random.Random) -> str:
    """A string value: a YAML-special word, text built of awkward pieces, or a very long line."""
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(SPECIAL)
    if roll < 0.35:
        return "x" * rng.choice([4095, 4096, 70_000]) + rng.choice(["", " ", "\n"])
    parts = [
        rng.choice(PIECES + SPECIAL) if rng.random() < 0.6 else rng.choice("abz09") for _ in range(rng.randint(1, 8))
    ]
    return "".join(parts)


def key_name(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        # `0b_`, `0x_` and `2001-13-45` are numbers or dates to YAML 1.1 that PyYAML cannot build;
        # sops writes keys plain.
        return rng.choice(
            [
                "y",
                "n",
                "yes",
                "on",
                "true",
                "0o17",
                "0x1F",
                "1e3",
                "017",
                "1_000",
                "-",
                "_",
                ".a...",
                "0b_",
                "0x_",
                "-0b__",
                "2001-13-45",
                ".inf",
                "1.",
                "0_",
            ]
        )
    if roll < 0.33:
        return "k" * 253
    name = "".join(rng.choice(KEY_CHARS) for _ in range(rng.randint(1, 12)))
    # The API server refuses `.` and every key starting with `..` (IsConfigMapKey).
    return name if name != "." and not name.startswith("..") else "x" + name


def raw_bytes(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.1:
        return b""
    if roll < 0.4:
        return text(rng).encode()
    if roll < 0.5:
        return rng.choice([b"\xff\xfe", b"\x80", b"\xc3(", b"\xed\xa0\x80", b"\x00" * 3, b"\xef\xbb\xbf"])
    return rng.randbytes(rng.choice([1, 2, 3, 57, 58, 200, 3000]))


def base64_text(rng: random.Random, value: bytes) -> str:
    """`value` in base64 as a user might write it: one line, or broken over lines (LF or CRLF)."""
    line = base64.b64encode(value).decode()
    roll = rng.random()
    if roll < 0.6 or not line:
        return line
    width = rng.choice([4, 60, 76])
    cut = [line[i : i + width] for i in range(0, len(line), width)]
    return ("\r\n" if roll < 0.7 else "\n").join(cut) + rng.choice(["", "\n"])


@dataclass
class Case:
    name: str
    doc: dict[str, Any]
    style: str | None


def random_secret(rng: random.Random, index: int) -> Case:
    name = f"s{index}"
    data = {key_name(rng): base64_text(rng, raw_bytes(rng)) for _ in range(rng.randint(0, 4))}
    string_data = {key_name(rng): text(rng) for _ in range(rng.randint(0, 5))}
    if data and rng.random() < 0.3:  # one key in both: stringData wins, as on the API server
        string_data[rng.choice(sorted(data))] = text(rng)
    if not data and not string_data:
        string_data["k"] = text(rng)
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if rng.random() < 0.6:
        meta["labels"] = {
            rng.choice(["app", "y", "on", "0o17", "a.b/c-d", "example.com/x_y"]): rng.choice(LABEL_VALUES)
            for _ in range(rng.randint(1, 3))
        }
    if rng.random() < 0.7:
        meta["annotations"] = {
            rng.choice(
                ["note", "n", "1e3", "example.com/a", "Example.COM/a", "yes", "kubectl.io/x", "bad key!", "a/b/c"]
            ): (text(rng) if rng.random() < 0.98 else "x" * 262_100)
            for _ in range(rng.randint(1, 3))
        }
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": meta}
    if rng.random() < 0.5:
        doc["type"] = rng.choice(TYPES)
    if rng.random() < 0.15:
        doc["immutable"] = rng.random() < 0.5
    if data:
        doc["data"] = data
    if string_data:
        doc["stringData"] = string_data
    # None: PyYAML picks each scalar's style (plain where YAML 1.1 reads a string: `0o17` is plain).
    return Case(name, doc, rng.choice([None, None, '"', "'", "|"]))


# Always among the Secrets, whatever the seed: cases that once went wrong.
FIXED = [
    # Numbers and dates to YAML 1.1 that PyYAML cannot build, strings to Go; sops writes keys and
    # metadata plain: the whole source was refused.
    Case(
        "fixed-plain",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "fixed-plain",
                "namespace": "default",
                "labels": {"day": "2001-02-30"},
                "annotations": {"at": "0x_"},
            },
            "stringData": {"0b_": "a", "0x_": "b", "2001-13-45": "c"},
        },
        '"',
    ),
    # `1e6` is text to YAML 1.1, a float to sops (yaml.v3), which decrypts it as `1e+06`: a number to
    # Kubernetes. It was delivered as the text "1e+06", Synced.
    Case(
        "fixed-float",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "fixed-float", "namespace": "default"},
            "stringData": {"pin": "1e6"},
        },
        None,
    ),
    # Text sops' YAML output misreads: multi-line text that starts with a tab became `null` (then
    # delivered empty), U+2029 in a block gained a line break. sops' JSON output is exact.
    Case(
        "fixed-yaml-output",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "fixed-yaml-output", "namespace": "default"},
            "stringData": {"tab": "\tstart\nnext", "ps": "a\u2029b\nc", "ls": "a\u2028b\nc"},
        },
        '"',
    ),
    # Metadata sops writes plain whatever the user's quotes, a timestamp to YAML 1.1 and a string to
    # Go: the whole source was refused with "write it quoted" (seed 404).
    Case(
        "fixed-plain-meta",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "fixed-plain-meta",
                "namespace": "default",
                "annotations": {"at": "2001-12-14 21:59:43.10 -5"},
            },
            "type": "2001-12-14 21:59:43.10 -5",
            "stringData": {"k": "v"},
        },
        '"',
    ),
    # Text that yaml.v3 writes plain and YAML 1.1 reads as a date: the Secret was refused.
    Case(
        "fixed-date",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "fixed-date", "namespace": "default"},
            "stringData": {"at": "2001-12-14 21:59:43.10 -5"},
        },
        '"',
    ),
]


def source_text(case: Case) -> str:
    return yaml.safe_dump(case.doc, sort_keys=False, default_style=case.style, allow_unicode=True, width=1 << 20)


def sops_encrypt(plain: str, recipient: str) -> str | None:
    """The real sops, encrypting data and stringData (as the README says); None when sops refuses the file."""
    proc = subprocess.run([SOPS, "--disable-version-check", "encrypt", "--age", recipient, "--encrypted-regex",
                           "^(data|stringData)$", "--input-type", "yaml",
                           "--output-type", "yaml", "/dev/stdin"], input=plain.encode(), capture_output=True,
                          check=False)  # fmt: skip
    return proc.stdout.decode() if proc.returncode == 0 else None


def sops_decrypt(path: Path, key: AgeKey) -> bytes:
    """What sops holds, as JSON: exact, where its YAML output is not (yaml.v3 writes U+2028 and
    U+2029 raw in a block scalar, where a Go reader then reads one more line break, and writes
    some multi-line text that starts with a tab as `null`)."""
    env = {"SOPS_AGE_KEY_FILE": str(key.key_file), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([SOPS, "--disable-version-check", "decrypt", "--output-type", "json", str(path)], env=env,
                          capture_output=True, check=False)  # fmt: skip
    assert proc.returncode == 0, f"sops could not decrypt {path.name}"
    return proc.stdout


def kubectl_reads(texts: list[bytes]) -> list[dict[str, Any] | str]:
    """What kubectl sends the API server for each file (a JSON object), or why it refuses it. JSON
    goes as a JSON stream: after `---` it would be read as YAML 1.1, where NEL is a line break."""
    out: list[dict[str, Any] | str] = []
    for chunk in range(0, len(texts), 64):
        batch = texts[chunk : chunk + 64]
        if all(t.lstrip().startswith(b"{") for t in batch):
            stream = b"\n".join(batch)
        else:
            stream = b"".join(b"---\n" + t + b"\n" for t in batch)
        proc = subprocess.run([str(KUBECTL), "label", "--local", "-f", "-", "fh-read=go", "-o", "json"],
                              input=stream, capture_output=True, check=False)  # fmt: skip
        if proc.returncode == 0:
            out += _json_stream(proc.stdout.decode(), len(batch))
        else:  # one at a time, to know which
            for one in batch:
                solo = subprocess.run([str(KUBECTL), "label", "--local", "-f", "-", "fh-read=go", "-o", "json"],
                                      input=one, capture_output=True, check=False)  # fmt: skip
                out += _json_stream(solo.stdout.decode(), 1) if solo.returncode == 0 else [solo.stderr.decode()]
    return out


def _json_stream(text: str, count: int) -> list[dict[str, Any] | str]:
    decoder, docs, at = json.JSONDecoder(), [], 0
    while text[at:].strip():
        at += len(text[at:]) - len(text[at:].lstrip())
        doc, at = decoder.raw_decode(text, at)
        labels = doc["metadata"]["labels"]
        labels.pop("fh-read")
        if not labels:
            del doc["metadata"]["labels"]
        docs.append(doc)
    assert len(docs) == count, "kubectl read another number of objects than it was given"
    return docs


def go_base64(value: str) -> bytes:
    """encoding/json's []byte: base64.StdEncoding, which skips CR and LF and nothing else."""
    return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)


@dataclass(frozen=True)
class Delivered:
    """A Secret as the API server stores it: what every comparison is made on."""

    type: str
    data: dict[str, bytes]
    labels: dict[str, str]
    annotations: dict[str, str]
    immutable: bool | None


def api_server_reads(obj: dict[str, Any] | str) -> Delivered | str:
    """The API server's typed reading of what kubectl sends (json into v1.Secret, stringData folded
    into data), or why it refuses it."""
    if isinstance(obj, str):
        return "kubectl: " + obj.strip().splitlines()[-1][:200]
    data: dict[str, bytes] = {}
    for key, value in (obj.get("data") or {}).items():
        if value is None:
            data[key] = b""
        elif not isinstance(value, str):
            return f"data.{key} is not a string"
        else:
            try:
                data[key] = go_base64(value)
            except (binascii.Error, ValueError):
                return f"data.{key} is not base64"
    for key, value in (obj.get("stringData") or {}).items():
        if value is not None and not isinstance(value, str):
            return f"stringData.{key} is not a string"
        data[key] = (value or "").encode()
    meta = obj["metadata"]
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    if not all(_qualified(k) and len(v) <= 63 and LABEL_VALUE.fullmatch(v) for k, v in labels.items()):
        return "metadata.labels: invalid"
    if not all(_qualified(k.lower()) for k in annotations):
        return "metadata.annotations: an invalid key"
    if sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items()) > 256 * 1024:
        return "metadata.annotations: over 256 KiB"
    kind = obj.get("type")
    if kind is not None and not isinstance(kind, str):
        return "type is not a string"
    immutable = obj.get("immutable")
    if immutable is not None and not isinstance(immutable, bool):
        return "immutable is not a boolean"
    # ValidateSecret's rule for the one built-in type TYPES holds (either key, possibly empty).
    if kind == "kubernetes.io/basic-auth" and not ({"username", "password"} & data.keys()):
        return "a kubernetes.io/basic-auth Secret needs username or password"
    return Delivered(kind or "Opaque", data, labels, annotations, immutable)


def _qualified(key: str) -> bool:
    """apimachinery IsQualifiedName: `[DNS-1123 subdomain/]name`."""
    prefix, slash, name = key.rpartition("/")
    return (not slash or (len(prefix) <= 253 and DNS_SUBDOMAIN.fullmatch(prefix) is not None)) and (
        len(name) <= 63 and QUALIFIED.fullmatch(name) is not None
    )


@dataclass
class Scene:
    cases: list[Case]
    truth: dict[str, Delivered | str]  # by Secret name
    repo: SourceRepo
    key: AgeKey
    cluster: AgeKey


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    root = tmp_path_factory.mktemp("roundtrip")
    key, cluster = make_age_key(root, "source"), make_age_key(root, "cluster")
    rng = random.Random(SEED)
    repo = SourceRepo(root / "source", key)
    repo.write(".fleet-handshake.yaml", "apiVersion: fleet-handshake/v1alpha1\nkind: Config\nmode: plain\n"
               f"sops:\n  recipients:\n    - clusterName: c1\n      age: [{cluster.recipient}]\n")  # fmt: skip
    cases = []
    for index in range(-len(FIXED), SECRETS):
        case = FIXED[index] if index < 0 else random_secret(rng, index)
        sealed = sops_encrypt(source_text(case), key.recipient)
        if sealed is None:
            continue
        repo.write(f"{case.name}.yaml", sealed)
        cases.append(case)
    assert len(cases) >= len(FIXED) + SECRETS * 2 // 3, "sops refused most of the sources: the generator is off"
    assert [c.name for c in cases[: len(FIXED)]] == [c.name for c in FIXED]
    repo.write("hs.yaml", "".join(
        "---\n" + yaml.safe_dump(handshake(f"hs{c.name}", c.name, [{"name": "t", "clusterName": "c1"}]))
        for c in cases
    ))  # fmt: skip
    opened = [sops_decrypt(repo.root / f"{c.name}.yaml", key) for c in cases]
    truth = {c.name: api_server_reads(obj) for c, obj in zip(cases, kubectl_reads(opened), strict=True)}
    return Scene(cases, truth, repo, key, cluster)


def generate(scene: Scene, out: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, str]:
    result = run_cli("generate", scene.repo.root, "--out", out, *args,
                     env={"SOPS_AGE_KEY_FILE": str(scene.key.key_file), **(env or {})})  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.code in (0, 1), result.stderr[-2000:]
    assert (out / ".fleet-handshake" / "status.json").is_file(), (
        f"seed {SEED}: " + result.stdout[-3000:] + result.stderr[-3000:]
    )
    status = json.loads((out / ".fleet-handshake" / "status.json").read_text())
    return {row["name"][2:]: row["status"] for row in status["handshakes"]}  # hs<secret> -> status


def check(scene: Scene, mode: str, statuses: dict[str, str], got: dict[str, Delivered | str]) -> list[str]:
    """The differences between what Kubernetes reads from the source and from the output."""
    problems = []
    for case in scene.cases:
        truth, status = scene.truth[case.name], statuses[case.name]
        where = f"seed {SEED}, {mode}, Secret {case.name} (source style {case.style!r})"
        if isinstance(truth, str):
            if status == "Synced":
                problems.append(f"{where}: Synced, but Kubernetes refuses the source ({truth})")
            continue
        if status != "Synced":
            problems.append(f"{where}: {status}, but Kubernetes accepts the source")
            continue
        delivered = got[case.name]
        if isinstance(delivered, str):
            problems.append(f"{where}: Synced, but Kubernetes refuses the output ({delivered})")
            continue
        if mode == "downstream":  # the tool's own labels and annotations are added on the management cluster
            labels = {k: v for k, v in delivered.labels.items() if not k.startswith(OWN_PREFIX)}
            annotations = {k: v for k, v in delivered.annotations.items() if not k.startswith(OWN_PREFIX)}
            delivered = dataclasses.replace(delivered, labels=labels, annotations=annotations)
        for field in ("type", "data", "labels", "annotations", "immutable"):
            want, have = getattr(truth, field), getattr(delivered, field)
            if field == "immutable" and mode != "plain":
                continue  # the SopsSecret template and the management Secret carry no immutable
            if want != have:
                differs = (
                    sorted(k for k in {*want, *have} if want.get(k) != have.get(k)) if isinstance(want, dict) else ""
                )
                problems.append(f"{where}: {field} differs {differs}")
    return problems


@pytest.mark.parametrize("inprocess", ["1", "0"])
def test_plain_mode_delivers_what_the_source_holds(scene: Scene, tmp_path: Path, inprocess: str) -> None:
    out = tmp_path / "out"
    statuses = generate(scene, out, env={"FLEET_HANDSHAKE_SOPS_INPROCESS": inprocess})
    tree = {p: c for p, c in read_tree(out).items() if p.endswith("/secret.yaml")}
    paths = sorted(tree)
    read = [api_server_reads(obj) for obj in kubectl_reads([tree[p] for p in paths])]
    got: dict[str, Delivered | str] = {}
    for path, delivered in zip(paths, read, strict=True):
        name = yaml.safe_load(tree[path])["metadata"]["name"]
        got[name] = delivered
    assert check(scene, "plain", statuses, got) == []


def test_sops_mode_delivers_what_the_source_holds(scene: Scene, tmp_path: Path) -> None:
    out = tmp_path / "out"
    statuses = generate(scene, out, "--mode", "sops")
    paths = sorted(p for p in read_tree(out) if p.endswith("/sopssecret.yaml"))
    opened = [sops_decrypt(out / p, scene.cluster) for p in paths]
    got: dict[str, Delivered | str] = {}
    for obj in kubectl_reads(opened):
        assert isinstance(obj, dict), obj
        (template,) = obj["spec"]["secretTemplates"]
        secret = {"metadata": {k: template.get(k) for k in ("name", "labels", "annotations")}, **template}
        got[template["name"]] = api_server_reads(secret)
    assert check(scene, "sops", statuses, got) == []


def test_downstream_mode_delivers_what_the_source_holds(scene: Scene, tmp_path: Path) -> None:
    with fakekube.FakeKube() as kube:
        config = fakekube.write_kubeconfig(tmp_path / "kubeconfig", {"mgmt": kube}, "mgmt")
        statuses = generate(scene, tmp_path / "out", "--mode", "downstream", env={"KUBECONFIG": str(config)})
        stored = {name: obj for (ns, name), obj in kube.secrets.items() if ns == "fleet-default"}
    read = kubectl_reads([json.dumps(stored[n]).encode() for n in sorted(stored)])
    got = {name: api_server_reads(obj) for name, obj in zip(sorted(stored), read, strict=True)}
    assert check(scene, "downstream", statuses, got) == []
