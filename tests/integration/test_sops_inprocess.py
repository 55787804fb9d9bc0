"""In-process SOPS decryption against the real `sops` binary, which is the reference.

Every file is encrypted by the binary; the in-process result must equal
`load_all_as_kubernetes(<sops decrypt output>)` (its plain scalars typed as Kubernetes types
them), and every refusal must give the binary's reason.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from fhtest import SOPS, AgeKey, make_age_key
from fleethandshake.adapters.sops import age as sops_age
from fleethandshake.adapters.sops import decrypt as sops_adapter
from fleethandshake.adapters.sops import inprocess as sops_inprocess
from fleethandshake.adapters.sops.age import load_identities
from fleethandshake.adapters.sops.decrypt import DecryptFailure, SopsDecryptor
from fleethandshake.adapters.sops.inprocess import decrypt_yaml
from fleethandshake.adapters.sops.outcome import NotHandled, Rejected
from fleethandshake.core.yaml.reader import compose, load_all_as_kubernetes, parse_documents

K8S_SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: db-credentials
  namespace: apps
  labels: {app.kubernetes.io/name: db, tier: "1"}
  annotations:
    note: "yes"
type: Opaque
data:
  password: cGFzc3dvcmQ=
  empty: ""
stringData:
  username: admin
  port: "5432"
  tls.crt: |
    -----BEGIN CERTIFICATE-----
    MIIBszCCAVmgAwIBAgIUQ
    -----END CERTIFICATE-----
"""
TYPES = """\
# a comment sops encrypts too
s: hello world  # and a line comment
unicode: "Grüße, 日本語, emoji 🎉"
empty: ""
none: null
int: 42
negative: -7
zero: 0
big: 9223372036854775807
floats: [3.0, 0.5, 1.0e+6, 1.5e-7, 123456.0, 1234567.0, 0.0001, 0.00001, 1.7976931348623157e+308]
bools: [true, false, True, FALSE]
hex: 0x1F
list_of_maps: [{name: a, value: "1"}, {name: b, nested: {deep: [x, {y: z}]}}]
list_of_lists: [[1, 2], [], ["a"]]
empty_map: {}
literal: |
  line1
    indented
  line3
keep: |+
  kept

strip: |-
  stripped
folded: >
  folded
  text
crlf: "windows\\r\\nline"
tab: "a\\tb"
control: "nul\\0bell\\a"
long: "The quick brown fox jumps over the lazy dog; the quick brown fox jumps over the lazy dog again and again."
"key with spaces": v
"yes": quoted key
"null": key
"8080": numeric key
"""
UNENCRYPTED = """\
name_unencrypted: plain text
flag_unencrypted: yes
on_unencrypted: on
port_unencrypted: 0x1F
ratio_unencrypted: 3.0
ratio2_unencrypted: 2.5
count_unencrypted: 7
bool_unencrypted: true
nothing_unencrypted:
list_unencrypted: [1, two, 3.5]
secret: hush
nested:
  inner_unencrypted: visible
  deep: hidden
"""
TRICKY = [
    *("yes", "no", "on", "OFF", "y", "N", "true", "False", "null", "~", "8080", "-1", "+1", "007", "09"),
    *("0x1F", "0o17", "0b101", "1_000", "1e3", "1.5", "1.", ".5", "3.0", "1:20", "2024-01-01", "2024-02-30"),
    *("=", "<<", ".inf", "-.inf", ".nan", "-", "- x", "a: b", "a:b", "# hash", "x #y", " lead", "trail "),
    *("ENC[AES256_GCM,data:x]", "{a: 1}", "[1]", "*alias", "&anchor", "!tag", "%pct", "@at", "`tick", "|"),
    *(
        "?",
        "!",
        "&",
        "*",
        "0b_",
        "tab\there",
        "crlf\r\nline",
        "nel\x85x",
        "bom\ufeffx",
        "ls\u2028x",
        "x" * 200,
        "w " * 60,
    ),
    *("line1\nline2", "line1\nline2\n", "line1\n\n", "  indented\nnext", "trailing \nx", "\nlead", "\t\ttabs\n"),
    *("\x01" + " word" * 40, "é " * 50, "a\nb ", "a \nb", "a\n ", "x\x85\ny"),
    *("crlf\r\nlines\r\n", "a\n  b\n\nc", "end space \n", "x\n#y", "- a\n- b", "k: v\nk2: v2", "é\n日本\n🎉"),
    # sops' YAML output writes the first as null and adds a line break after U+2029 in a block.
    *("\tstart\nnext", "\t\n", "a\u2029b\nc", "ps\u2029x"),
]
# Strings whose in-process reading of the encrypted file is not certain (adapters/sops/goyaml.py): the binary decides.
TRICKY_FALLBACK = {"<<", "2024-02-30"}


NOT_YAML = "sops decrypted it, but the result is not YAML"


def run_sops(*args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> bytes:
    proc = subprocess.run([SOPS, "--disable-version-check", *args], input=input, capture_output=True, env=env)
    assert proc.returncode == 0, proc.stderr.decode()[-500:]
    return proc.stdout


def reference(path: Path) -> list[Any] | int | str:
    """What the binary says, or its exit code: a file of one document as JSON (exact), a file of
    several as YAML (JSON holds the first only), as Kubernetes reads it (the project's loader,
    plain scalars typed as sigs.k8s.io/yaml types them)."""
    single = len(compose(path.read_bytes())) == 1
    cmd = [SOPS, "--disable-version-check", "decrypt", "--input-type", "yaml", "--output-type"]
    cmd += ["json" if single else "yaml", str(path)]
    proc = subprocess.run(cmd, capture_output=True, env=dict(os.environ), check=False)
    if proc.returncode != 0:
        return proc.returncode
    if single:
        return [json.loads(proc.stdout)]
    try:
        return load_all_as_kubernetes(proc.stdout)
    except (yaml.YAMLError, ValueError):
        return NOT_YAML


def inprocess(path: Path) -> list[Any] | int:
    try:
        return decrypt_yaml(path.read_bytes(), load_identities(os.environ))
    except Rejected as e:
        return e.code


@pytest.fixture(autouse=True)
def clean_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No key from this machine: an empty HOME, no SOPS_* variables."""
    for name in list(os.environ):
        if name.startswith("SOPS_") or name in ("XDG_CONFIG_HOME", "FLEET_HANDSHAKE_SOPS_INPROCESS"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, AgeKey]:
    folder = tmp_path_factory.mktemp("inprocess-keys")
    return {name: make_age_key(folder, name) for name in ("a", "b", "c", "other")}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inprocess")


def encrypt(folder: Path, name: str, plain: str, *recipients: AgeKey, flags: tuple[str, ...] = ()) -> Path:
    out = folder / name
    args = ["encrypt", "--input-type", "yaml", "--output-type", "yaml", *flags, "--filename-override", str(out)]
    if recipients:
        args += ["--age", ",".join(k.recipient for k in recipients)]
    out.write_bytes(run_sops(*args, "/dev/stdin", input=plain.encode()))
    return out


def with_config(folder: Path, name: str, plain: str, rule: dict[str, Any]) -> Path:
    config = folder / f"{name}.sops.yaml"
    config.write_text(yaml.safe_dump({"creation_rules": [rule]}))
    out = folder / name
    args = ("--config", str(config), "encrypt", "--input-type", "yaml", "--output-type", "yaml")
    out.write_bytes(run_sops(*args, "--filename-override", str(out), "/dev/stdin", input=plain.encode()))
    return out


def use_keys(monkeypatch: pytest.MonkeyPatch, *keys: AgeKey) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY", "\n".join(k.identity for k in keys))


def assert_same(path: Path, *, handled: bool = True) -> list[Any] | int | str:
    """In-process equals the binary; through SopsDecryptor too, with the expected path taken."""
    expected = reference(path)
    if handled:  # repr: 1, 1.0 and True differ, and so does key order
        assert repr(inprocess(path)) == repr(expected)
    decryptor = SopsDecryptor(SOPS)
    got = decryptor.decrypt_all([path])[path]
    if isinstance(expected, int | str):
        assert isinstance(got, DecryptFailure)
        assert got.reason == (sops_adapter._REASONS[expected] if isinstance(expected, int) else NOT_YAML)
    else:
        assert repr(got) == repr(expected)
    assert (decryptor.inprocess_files, decryptor.binary_files) == ((1, 0) if handled else (0, 1))
    return expected


@pytest.mark.parametrize(
    ("name", "plain", "flags"),
    [
        ("k8s.yaml", K8S_SECRET, ("--encrypted-regex", "^(data|stringData)$")),
        ("k8s-all.yaml", K8S_SECRET, ()),
        ("types.yaml", TYPES, ()),
        ("unencrypted.yaml", UNENCRYPTED, ()),
        ("suffix.yaml", UNENCRYPTED.replace("_unencrypted", "_clear"), ("--unencrypted-suffix", "_clear")),
        ("encsuffix.yaml", "a_secret: 1\nb: two\nn: {x_secret: [y], z: w}\n", ("--encrypted-suffix", "_secret")),
        ("unregex.yaml", K8S_SECRET, ("--unencrypted-regex", "^(metadata|kind|apiVersion|type)$")),
        ("multi.yaml", K8S_SECRET + "---\n" + TYPES + "---\n---\nlast: [x]\n", ("--encrypted-regex", "^(data|s)")),
    ],
)
def test_corpus_matches_binary(name: str, plain: str, flags: tuple[str, ...], keys: dict[str, AgeKey], folder: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    path = encrypt(folder, name, plain, keys["a"], flags=flags)
    use_keys(monkeypatch, keys["a"])
    assert isinstance(assert_same(path), list)


@pytest.mark.parametrize("text", TRICKY, ids=[f"{i:02d}" for i in range(len(TRICKY))])
def test_tricky_strings(text: str, keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc: dict[str, Any] = {"enc": text, "enc_list": [text, {"k": text}], "plain_unencrypted": text}
    name = f"tricky-{TRICKY.index(text):02d}.yaml"
    try:  # also as a key, where sops accepts it (it refuses keys it reads as numbers)
        assert "\n" not in text  # multi-line keys always go to the binary
        path = encrypt(folder, name, yaml.safe_dump({**doc, text: "as a key"}), keys["a"])
    except AssertionError:
        path = encrypt(folder, name, yaml.safe_dump(doc), keys["a"])
    use_keys(monkeypatch, keys["a"])
    assert_same(path, handled=text not in TRICKY_FALLBACK)


def test_each_recipient_decrypts(keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = encrypt(folder, "recipients.yaml", K8S_SECRET, keys["a"], keys["b"], keys["c"])
    for name in ("a", "b", "c"):
        use_keys(monkeypatch, keys[name])
        assert isinstance(assert_same(path), list)
    use_keys(monkeypatch, keys["other"])
    assert assert_same(path) == 128


def test_key_groups_with_shamir_threshold(
    keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rule = {"shamir_threshold": 2, "key_groups": [{"age": [keys[n].recipient]} for n in "abc"]}
    path = with_config(folder, "groups.yaml", K8S_SECRET, rule)
    for pair in (("a", "b"), ("b", "c"), ("a", "c"), ("a", "b", "c")):  # several key groups: the binary's
        use_keys(monkeypatch, *(keys[n] for n in pair))
        assert isinstance(assert_same(path, handled=False), list)
    for alone in ("a", "other"):
        use_keys(monkeypatch, keys[alone])
        assert assert_same(path, handled=False) == 128


@pytest.mark.parametrize("threshold", ['"2"', "true", "[2]"])
def test_a_shamir_threshold_that_is_not_a_number_goes_to_the_binary(
    keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch, threshold: str
) -> None:
    """sops reads shamir_threshold as an int: with anything else it cannot load the file, even
    with one key group, where the threshold plays no part (the MAC does not cover metadata)."""
    path = encrypt(folder, "threshold.yaml", K8S_SECRET, keys["a"])
    path.write_text(
        path.read_text().replace("    lastmodified:", f"    shamir_threshold: {threshold}\n    lastmodified:")
    )
    use_keys(monkeypatch, keys["a"])
    assert not isinstance(assert_same(path, handled=False), list)


def test_mac_only_encrypted(keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rule = {"mac_only_encrypted": True, "age": keys["a"].recipient}
    path = with_config(folder, "maconly.yaml", UNENCRYPTED, rule)
    use_keys(monkeypatch, keys["a"])
    assert isinstance(assert_same(path), list)
    # With mac_only_encrypted the MAC does not cover clear values: changing one still decrypts.
    changed = folder / "maconly-changed.yaml"
    changed.write_text(path.read_text().replace("plain text", "other text"))
    assert assert_same(changed)[0]["name_unencrypted"] == "other text"  # type: ignore[index]


def tamper(text: str, how: str) -> str:
    if how == "value":  # one ciphertext byte of the first value
        line = next(x for x in text.splitlines() if "data:" in x and not x.lstrip().startswith("mac:"))
        data = re.search(r"data:([^,]+)", line)
        assert data is not None
        raw = bytearray(base64.b64decode(data[1]))
        raw[0] ^= 1
        return text.replace(line, line.replace(data[1], base64.b64encode(bytes(raw)).decode()))
    if how == "mac":
        return re.sub(r"(mac: ENC\[AES256_GCM,data:)(.)", lambda m: m[1] + ("B" if m[2] == "A" else "A"), text)
    if how == "lastmodified":
        return re.sub(r'lastmodified: "(\d{4})', lambda m: f'lastmodified: "{int(m[1]) - 1}', text)
    if how == "swap":  # two ciphertexts exchanged: each one's additional data no longer matches
        first, second = re.findall(r"ENC\[AES256_GCM[^\]]*type:str\]", text)[:2]
        return text.replace(first, "@@").replace(second, first).replace("@@", second)
    if how == "clear-value":  # a value the MAC covers although it is not encrypted
        return text.replace("visible", "changed")
    raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "code"), [("value", 25), ("mac", 51), ("lastmodified", 51), ("swap", 25), ("clear-value", 51)]
)
def test_tampering_is_refused_like_the_binary(
    how: str, code: int, keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = folder / f"tampered-{how}.yaml"
    path.write_text(tamper(encrypt(folder, "to-tamper.yaml", UNENCRYPTED, keys["a"]).read_text(), how))
    use_keys(monkeypatch, keys["a"])
    assert assert_same(path) == code


@pytest.mark.parametrize("version", ["3.11.00", "3.011.0", "03.11.0"])
def test_a_version_sops_cannot_parse_is_refused_like_the_binary(
    version: str, keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the hostile property test: sops parses `version` as semver (no leading zeros)."""
    text = encrypt(folder, "to-version.yaml", UNENCRYPTED, keys["a"]).read_text()
    path = folder / f"version-{version}.yaml"
    path.write_text(re.sub(r"version: \S+", f"version: {version}", text))
    use_keys(monkeypatch, keys["a"])
    assert assert_same(path, handled=False) == 1


def test_base64_check_equals_whole_groups_of_four() -> None:
    # `_B64` then `_b64` (one pass of the alphabet, a length check) must accept and decode exactly
    # what a pattern of whole groups of four with canonical padding does: every string up to 7
    # characters over letters, '+', '/' and '='.
    grouped = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
    pattern = re.compile(sops_inprocess._B64)

    def reference(text: str) -> bytes | None:
        return base64.b64decode(text, validate=True) if grouped.fullmatch(text) else None

    def ours(text: str) -> bytes | None:
        if not pattern.fullmatch(text):
            return None
        try:
            return sops_inprocess._b64(text)
        except NotHandled:
            return None

    checked = 0
    for length in range(8):
        for chars in itertools.product("Az+/=", repeat=length):
            text = "".join(chars)
            assert ours(text) == reference(text), text
            checked += 1
    assert checked == sum(5**n for n in range(8))


@pytest.mark.parametrize("how", ["short", "inner-padding", "non-alphabet"])
def test_malformed_base64_goes_to_the_binary(
    how: str, keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = encrypt(folder, f"b64-{how}-src.yaml", UNENCRYPTED, keys["a"]).read_text()
    data = re.search(r"ENC\[AES256_GCM,data:([^,]+),", text)
    assert data is not None
    broken = {"short": data[1][1:], "inner-padding": "=" + data[1][1:], "non-alphabet": "!" + data[1][1:]}[how]
    path = folder / f"b64-{how}.yaml"
    path.write_text(text.replace(data[1], broken, 1))
    use_keys(monkeypatch, keys["a"])
    with pytest.raises(NotHandled):
        inprocess(path)
    assert_same(path, handled=False)  # whatever sops makes of it, this tool says the same


def test_sops_own_quirk_is_reproduced(keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A clear -0.0 is hashed as "-0" on encryption but read back as the int 0: sops refuses its own file.
    path = encrypt(folder, "negative-zero.yaml", "zero_unencrypted: -0.0\nx: y\n", keys["a"])
    use_keys(monkeypatch, keys["a"])
    assert assert_same(path) == 51


@pytest.mark.parametrize(("clear", "edited"), [("-5", "0b-101"), ("5", "0b+101"), ("1", "0_b+1")])
def test_binary_with_a_sign_after_0b_is_a_number(
    clear: str, edited: str, keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # yaml.v3's resolve.go tries `0b` again on the text after it, sign included: sops reads the edited
    # clear value as the number it was encrypted as, and the MAC holds.
    source = encrypt(folder, "binary-src.yaml", f"n_unencrypted: {clear}\nx: y\n", keys["a"])
    path = folder / "binary.yaml"
    path.write_text(source.read_text().replace(f"n_unencrypted: {clear}\n", f"n_unencrypted: {edited}\n"))
    use_keys(monkeypatch, keys["a"])
    assert assert_same(path) == [{"n_unencrypted": int(clear), "x": "y"}]


def test_files_not_handled_fall_back_to_the_binary(
    keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    timestamps = encrypt(folder, "timestamps.yaml", "when: 2024-01-01\nat: 2024-01-01T10:00:00Z\n", keys["a"])
    duplicates = folder / "duplicates.yaml"  # sops itself refuses to write duplicate keys
    first_line = encrypt(folder, "dup-src.yaml", "a: 1\nb: 2\n", keys["a"]).read_text().split("\n", 1)[0]
    duplicates.write_text(first_line + "\n" + (folder / "dup-src.yaml").read_text())
    as_json = encrypt(folder, "json.yaml", '{"a": "b"}', keys["a"], flags=("--output-type", "json"))
    anchors = encrypt(folder, "anchors-src.yaml", K8S_SECRET, keys["a"], flags=("--encrypted-regex", "^data$"))
    aliased = folder / "anchors.yaml"
    aliased.write_text(anchors.read_text().replace("kind: Secret", "kind: &k Secret\nalso: *k"))
    use_keys(monkeypatch, keys["a"])
    for path in (timestamps, as_json):
        assert isinstance(assert_same(path, handled=False), list)
    assert_same(duplicates, handled=False)
    assert assert_same(aliased, handled=False) == 51  # sops expands the alias: a value the MAC never saw
    with pytest.raises(NotHandled):
        decrypt_yaml(timestamps.read_bytes(), load_identities(os.environ))


@pytest.mark.parametrize(
    ("clear", "edited", "handled"),
    [
        # sops reads yaml.v3 nodes and never looks at an anchor: one that no alias uses changes nothing.
        ("kind: Secret", "kind: &k Secret", True),
        ("  name: db-credentials", "  name: &n db-credentials", True),
        # The non-specific tag `!` on a plain scalar: no tag, to yaml.v3 and to libyaml alike.
        ("kind: Secret", "kind: ! Secret", True),
        # A tag, even one that means what the value says; `! "1"` (the string "1" to yaml.v3, typed
        # as if plain by libyaml): the binary decides.
        ("kind: Secret", "kind: !!str Secret", False),
        ("kind: Secret", 'kind: !!str "Secret"', False),
        ("kind: Secret", 'kind: ! "Secret"', False),
        ("metadata:", "metadata: !!map", False),
        ("apiVersion: v1", "%YAML 1.1\n---\napiVersion: v1", False),
    ],
    ids=["anchor", "nested-anchor", "bang-plain", "str-tag", "str-tag-quoted", "bang-quoted", "map-tag", "directive"],
)
def test_anchors_tags_and_directives(
    clear: str, edited: str, handled: bool, keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = encrypt(folder, "edited-src.yaml", K8S_SECRET, keys["a"], flags=("--encrypted-regex", "^data$"))
    path = folder / "edited.yaml"
    text = source.read_text()
    assert clear in text
    path.write_text(text.replace(clear, edited, 1))
    use_keys(monkeypatch, keys["a"])
    assert isinstance(assert_same(path, handled=handled), list)
    if not handled:
        with pytest.raises(NotHandled):
            inprocess(path)


def test_identity_sources(keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = encrypt(folder, "sources.yaml", K8S_SECRET, keys["a"])
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(keys["a"].key_file))
    assert isinstance(assert_same(path), list)
    monkeypatch.delenv("SOPS_AGE_KEY_FILE")
    monkeypatch.setenv("SOPS_AGE_KEY_CMD", f"cat {keys['a'].key_file}")
    assert isinstance(assert_same(path), list)
    monkeypatch.delenv("SOPS_AGE_KEY_CMD")
    config = folder / "xdg"
    (config / "sops" / "age").mkdir(parents=True)
    (config / "sops" / "age" / "keys.txt").write_text(keys["a"].identity + "\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    assert isinstance(assert_same(path), list)
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("SOPS_KEYSERVICE", "unix:///nonexistent.sock")  # it might hold the key: the binary decides
    use_keys(monkeypatch, keys["other"])
    assert assert_same(path, handled=False) == 128
    monkeypatch.delenv("SOPS_KEYSERVICE")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(folder / "missing.txt"))  # not understood: the binary decides
    assert_same(path, handled=False)
    for name in ("SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY"):
        monkeypatch.delenv(name)
    default = Path(os.environ["HOME"], ".config", "sops", "age", "keys.txt")  # read even when nothing is set
    default.parent.mkdir(parents=True)
    default.write_text(f"# created: today\n{keys['a'].identity}\n")
    assert isinstance(assert_same(path), list)


def ssh_key(home: Path, passphrase: str = "") -> None:
    key = home / ".ssh" / "id_ed25519"
    key.parent.mkdir(exist_ok=True)
    key.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(key)], check=True)


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_ssh_keys_in_home(keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = encrypt(folder, "ssh.yaml", K8S_SECRET, keys["a"])
    home = Path(os.environ["HOME"])
    ssh_key(home)
    use_keys(monkeypatch, keys["a"])
    assert isinstance(assert_same(path), list)
    use_keys(monkeypatch, keys["other"])  # sops might derive an age key from the SSH key: it decides
    assert assert_same(path, handled=False) == 128
    # A passphrase-protected SSH key: sops asks for the passphrase only for a file sealed for that
    # key, so the age key opens this one as in-process does (once: every file went to the binary,
    # and with no state key every sops-mode run sealed every SopsSecret anew).
    ssh_key(home, "passphrase")
    use_keys(monkeypatch, keys["a"])
    assert isinstance(assert_same(path), list)
    with_locked_ssh = load_identities(os.environ)
    assert with_locked_ssh.problem is None and not with_locked_ssh.exhaustive
    (home / ".ssh" / "id_ed25519").rename(home / "moved")
    assert with_locked_ssh.state_key() == load_identities(os.environ).state_key()  # same with or without it
    (home / "moved").rename(home / ".ssh" / "id_ed25519")
    use_keys(monkeypatch, keys["other"])  # none opens it: the binary decides
    assert assert_same(path, handled=False) == 128
    monkeypatch.delenv("SOPS_AGE_KEY")  # the locked SSH key alone: nothing to decrypt or key the state with
    assert load_identities(os.environ).problem is not None
    (home / ".ssh" / "id_ed25519").write_text("not a key\n")  # not understood: as before
    use_keys(monkeypatch, keys["a"])
    assert load_identities(os.environ).problem is not None


@pytest.fixture
def corpus(keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    use_keys(monkeypatch, keys["a"])
    return [encrypt(folder, f"bulk-{i}.yaml", K8S_SECRET + f"---\nindex: {i}\n", keys["a"]) for i in range(6)]


def test_decrypt_all_matches_the_binary(corpus: list[Path]) -> None:
    fast, slow = SopsDecryptor(SOPS), SopsDecryptor(SOPS, inprocess=False)
    assert repr(fast.decrypt_all(corpus)) == repr(slow.decrypt_all(corpus))
    assert (fast.inprocess_files, fast.binary_files) == (len(corpus), 0)
    assert (slow.inprocess_files, slow.binary_files) == (0, len(corpus))


def test_decryption_reuses_the_nodes_validation_composed(corpus: list[Path]) -> None:
    contents = [path.read_bytes() for path in corpus]
    compose.cache_clear()
    for content in contents:
        parse_documents(content)  # what validating the source does
    decrypted = [decrypt_yaml(content, load_identities(os.environ)) for content in contents]
    assert compose.cache_info().hits == len(corpus)
    compose.cache_clear()
    assert [decrypt_yaml(content, load_identities(os.environ)) for content in contents] == decrypted


def test_env_turns_the_inprocess_path_off(corpus: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_HANDSHAKE_SOPS_INPROCESS", "0")
    decryptor = SopsDecryptor(SOPS)
    assert all(isinstance(r, list) for r in decryptor.decrypt_all(corpus).values())
    assert (decryptor.inprocess_files, decryptor.binary_files) == (0, len(corpus))


def test_identities_load_once_and_nothing_touches_disk(
    corpus: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = sops_age.load_identities

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sops_age, "load_identities", counting)
    # A temp folder of this test's own (this process and any sops it starts): the shared /tmp
    # changes under other processes, which made the comparison fail now and then.
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    results = SopsDecryptor(SOPS).decrypt_all(corpus)
    assert listing(private) == set()
    assert len(results) == len(corpus) and len(calls) == 1


def listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_failure_reasons_hold_no_secret(keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = folder / "tampered-secret.yaml"
    path.write_text(tamper(encrypt(folder, "canary.yaml", "token: canary-7Qx9\n", keys["a"]).read_text(), "mac"))
    use_keys(monkeypatch, keys["a"])
    failure = SopsDecryptor(SOPS).decrypt_all([path])[path]
    assert isinstance(failure, DecryptFailure) and "canary" not in repr(failure)


ATOMS = [*TRICKY[:40], "a", "b c", "Z", "0", "9", ".", "_", ":", "-", " ", "é", "🎉", "_unencrypted", "data"]


def random_node(rnd: random.Random, depth: int) -> Any:
    roll = rnd.random()
    if depth < 3 and roll < 0.15:
        return [random_node(rnd, depth + 1) for _ in range(rnd.randint(0, 3))]
    if depth < 3 and roll < 0.35:
        return {random_key(rnd): random_node(rnd, depth + 1) for _ in range(rnd.randint(0, 3))}
    choices = [rnd.randint(-(10**12), 10**12), rnd.choice([0.5, 3.0, 1e6, 1.5e-7, 1e22, -2.5]), roll < 0.5, None]
    return rnd.choice([*choices, *[random_key(rnd) + "\nx" * rnd.randint(0, 1) for _ in range(4)]])


def random_key(rnd: random.Random) -> str:
    return "".join(rnd.choice(ATOMS) for _ in range(rnd.randint(1, 3))).replace("\n", "")


def test_random_documents_match_binary(keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(20261129)
    use_keys(monkeypatch, keys["a"])
    handled = 0
    for i in range(40):
        docs = [
            {random_key(rnd): random_node(rnd, 0) for _ in range(rnd.randint(1, 4))} for _ in range(rnd.randint(1, 2))
        ]
        flags = rnd.choice([(), ("--encrypted-regex", "^(data|a)"), ("--unencrypted-suffix", "Z")])
        try:
            path = encrypt(folder, f"random-{i}.yaml", yaml.safe_dump_all(docs), keys["a"], flags=flags)
        except AssertionError:  # sops refuses some inputs (keys it reads as numbers)
            continue
        try:
            inprocess(path)
        except NotHandled:
            assert_same(path, handled=False)
        else:
            handled += 1
            assert_same(path)
    assert handled >= 20


def test_decrypt_all_decrypts_the_bytes_it_is_given(corpus: list[Path], tmp_path: Path) -> None:
    """generate hashes each file as it read it, and decrypts those bytes: not the file read again
    (which may have changed in between)."""
    path = tmp_path / "moved.yaml"
    path.write_text("not what was read\n")
    decryptor = SopsDecryptor(SOPS)
    given = decryptor.decrypt_all([path], {path: corpus[0].read_bytes()})[path]
    assert given == decryptor.decrypt_all([corpus[0]])[corpus[0]]
    assert decryptor.inprocess_files == 2 and decryptor.binary_files == 0


# sops' YAML output writes the first as `null` and adds a line break after U+2029 in a block.
YAML_LOSES = ["\tstart\nnext", "\t\n", "a\u2029b\nc", "ls\u2028x\ny"]


@pytest.mark.parametrize("inprocess_on", [True, False])
def test_values_sops_yaml_output_loses_are_read_exactly(
    inprocess_on: bool, keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    doc["stringData"] = {f"k{i}": text for i, text in enumerate(YAML_LOSES)}
    path = encrypt(folder, "yaml-loses.yaml", yaml.safe_dump(doc), keys["a"])
    use_keys(monkeypatch, keys["a"])
    decryptor = SopsDecryptor(SOPS, inprocess=inprocess_on)
    assert decryptor.decrypt_all([path])[path] == [doc]
    assert (decryptor.inprocess_files, decryptor.binary_files) == ((1, 0) if inprocess_on else (0, 1))


def test_a_multi_document_file_whose_yaml_output_loses_a_value_is_refused(
    keys: dict[str, AgeKey], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sops writes JSON for the first document only: several documents come as YAML, checked."""
    use_keys(monkeypatch, keys["a"])
    first = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"}, "stringData": {"k": "x", "n": None}}
    for text in YAML_LOSES:
        second = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b"}, "stringData": {"k": text}}
        path = encrypt(folder, "multi-loses.yaml", yaml.safe_dump_all([first, second]), keys["a"])
        got = SopsDecryptor(SOPS).decrypt_all([path])[path]
        assert isinstance(got, DecryptFailure) and "put this Secret in a file of its own" in got.reason
        assert text not in got.reason
    path = encrypt(
        folder, "multi-fine.yaml", yaml.safe_dump_all([first, {**first, "metadata": {"name": "b"}}]), keys["a"]
    )
    assert SopsDecryptor(SOPS).decrypt_all([path])[path] == [first, {**first, "metadata": {"name": "b"}}]
