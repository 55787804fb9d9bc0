"""parse_documents: YAML we accept, YAML we refuse (with a line), and the paths used in messages."""

from __future__ import annotations

import pytest

from fleethandshake.core.yaml.reader import MAX_DEPTH, YamlError, _words, join, parse_documents


def test_documents_keep_data_index_and_lines() -> None:
    docs = parse_documents("a: 1\n---\nb:\n  c: [x, y]\n")
    assert [(d.index, d.data) for d in docs] == [(0, {"a": 1}), (1, {"b": {"c": ["x", "y"]}})]
    # Lines count from the top of the file, not of the document.
    assert docs[1].lines["b.c"] == 4
    assert docs[1].lines["b.c[1]"] == 4


def test_duplicate_key_is_rejected_with_its_line() -> None:
    with pytest.raises(YamlError) as e:
        parse_documents("a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\n")
    assert e.value.line == 5
    assert "duplicate key 'c'" in e.value.message


def test_duplicate_key_in_a_later_document_is_rejected() -> None:
    with pytest.raises(YamlError) as e:
        parse_documents("a: 1\n---\na: 1\na: 2\n")
    assert e.value.line == 4


def test_merge_key_is_rejected_with_its_line() -> None:
    with pytest.raises(YamlError) as e:
        parse_documents("base: &base {x: 1}\nother:\n  <<: *base\n  y: 2\n")
    assert e.value.line == 3
    assert "merge keys" in e.value.message


def test_syntax_error_reports_its_line() -> None:
    with pytest.raises(YamlError) as e:
        parse_documents("a: 1\nb: 2\nc: d: e\n")
    assert e.value.line == 3
    assert e.value.message.startswith("not valid YAML: ")


def test_non_scalar_key_is_rejected() -> None:
    with pytest.raises(YamlError) as e:
        parse_documents("a: 1\n? [x, y]\n: 2\n")
    assert e.value.line == 2
    assert "mapping keys must be scalars" in e.value.message


def test_nesting_up_to_the_limit_is_accepted() -> None:
    (doc,) = parse_documents("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert isinstance(doc.data, list)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[" * 1000 + "]" * 1000, id="flow-1000"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="flow-100000"),
        pytest.param("".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "leaf", id="block-300"),
    ],
)
def test_deep_nesting_is_rejected_without_recursion_error(text: str) -> None:
    # RecursionError is not a YamlError, so pytest.raises would let it through and fail.
    with pytest.raises(YamlError) as e:
        parse_documents(text)
    assert "nest" in e.value.message


def test_alias_bomb_is_rejected() -> None:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        text += f"{name}: &{name} [{','.join(['*' + prev] * 9)}]\n"
    with pytest.raises(YamlError) as e:
        parse_documents(text)
    assert "alias" in e.value.message


def test_non_utf8_bytes_are_rejected() -> None:
    with pytest.raises(YamlError):
        parse_documents(b"apiVersion: v1\nkind: Secret\nstringData:\n  k: caf\xe9\n")


def test_non_utf8_message_says_what_is_wrong() -> None:
    # "not valid YAML: ReaderError" names a PyYAML class; the user needs to hear "not UTF-8".
    with pytest.raises(YamlError) as e:
        parse_documents(b"a: caf\xe9\n")
    assert "UTF-8" in e.value.message


def test_utf8_bom_is_accepted() -> None:
    (doc,) = parse_documents(b"\xef\xbb\xbfa: caf\xc3\xa9\n")
    assert doc.data == {"a": "café"}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("pin: !!int Hunter2-Zebra\n", id="int-tag"),
        pytest.param("pin: !!float Hunter2-Zebra\n", id="float-tag"),
        pytest.param("pin: !!bool Hunter2-Zebra\n", id="bool-tag"),
        pytest.param("pin: !!timestamp Hunter2-Zebra\n", id="timestamp-tag"),
        pytest.param("pin: !!binary Hunter2\n", id="binary-tag-bad-padding"),
        # A date-like typo must not crash the tool. (Untagged, it is the string Go reads:
        # test_kubernetes_reading.py, test_a_plain_scalar_yaml_1_1_cannot_build_is_the_string_go_reads.)
        pytest.param("pin: !!timestamp 2024-13-45\n", id="impossible-date"),
    ],
)
def test_bad_scalar_is_a_yaml_error_with_a_line_and_without_the_value(text: str) -> None:
    with pytest.raises(YamlError) as e:
        parse_documents("kind: Secret\n" + text)
    assert e.value.line == 2
    assert "Hunter2" not in str(e.value)
    assert "2024-13-45" not in str(e.value)


def test_line_falls_back_to_the_enclosing_path() -> None:
    (doc,) = parse_documents("# header\nspec:\n  targets:\n    - clusterName: a\n    - clusterGroup: b\n")
    assert doc.line("spec.targets[1].clusterGroup") == 5
    assert doc.line("spec.targets[1].clusterSelector.matchLabels") == 5
    assert doc.line("spec.targets[7]") == doc.line("spec.targets") == 4
    assert doc.line("status.conditions[0]") == doc.line("") == 2


def test_keys_with_dots_or_slashes_are_quoted_in_paths() -> None:
    (doc,) = parse_documents("metadata:\n  labels:\n    app.kubernetes.io/name: x\n    team: y\n")
    assert doc.lines["metadata.labels['app.kubernetes.io/name']"] == 3
    assert doc.lines["metadata.labels.team"] == 4
    assert doc.line("metadata.labels['app.kubernetes.io/name']") == 3


@pytest.mark.parametrize(
    ("path", "key", "expected"),
    [
        ("", "spec", "spec"),
        ("spec", "targets", "spec.targets"),
        ("spec.targets", 1, "spec.targets[1]"),
        ("metadata.labels", "app.kubernetes.io/name", "metadata.labels['app.kubernetes.io/name']"),
        ("stringData", "bad key", "stringData['bad key']"),
        ("stringData", "tls.crt", "stringData['tls.crt']"),
        ("spec", "secret_name-2", "spec.secret_name-2"),
        ("", "1abc", "['1abc']"),
    ],
)
def test_join(path: str, key: str | int, expected: str) -> None:
    assert join(path, key) == expected


def test_scalars_go_reads_as_strings_are_strings_here_too() -> None:
    """A plain `=` and sops's `!!merge <<` are the strings "=" and "<<" to Go's readers (PyYAML cannot
    construct them): a Secret whose annotation is "=" or "<<" must load, not fail the source."""
    (doc,) = parse_documents(b"a: =\nb: !!merge <<\nc: '<<'\n")
    assert doc.data == {"a": "=", "b": "<<", "c": "<<"}


def test_merge_keys_stay_refused_when_merge_values_are_read() -> None:
    with pytest.raises(YamlError, match="merge keys"):
        parse_documents(b"base: &b {k: v}\nuse:\n  <<: *b\n")


CANARY = "canary-Zq7Lx"
# Text where a parser, ours or PyYAML's, could quote the input back: tags, anchors, aliases,
# directives, escapes, keys inside a Secret's value.
QUOTABLE = [
    f"a: !<{CANARY}> x\n", f"a: !{CANARY} x\n", f"a: !!{CANARY} x\n", f"!{CANARY} a: x\n", f"a: !{CANARY}!x y\n",
    f"%TAG !e! tag:{CANARY},2000:\n---\na: !e!x y\n", f"%TAG !{CANARY} x\n---\na: 1\n", f"%{CANARY} x\n---\na: 1\n",
    f"%YAML 1.{CANARY}\n---\na: 1\n", f"a: *{CANARY}\n", f"a: &{CANARY} x\nb: &{CANARY} y\n", f"a: &{CANARY}, x\n",
    f'a: "{CANARY}\\q"\n', f'a: "{CANARY}\\xZZ"\n', f"a: !<{CANARY}%zz> y\n", f"a: |{CANARY}\n  x\n",
    f"a: x\n@{CANARY}\n", f"a: {{b: {CANARY}, ]}}\n", f"stringData:\n  password: {{{CANARY}: x, {CANARY}: y}}\n",
    f"data:\n  password:\n    {CANARY}: 1\n    {CANARY}: 2\n",
]  # fmt: skip


@pytest.mark.parametrize("text", QUOTABLE)
def test_messages_never_quote_the_input(text: str) -> None:
    with pytest.raises(YamlError) as e:
        parse_documents(text)
    assert CANARY not in e.value.message
    assert e.value.line is not None


@pytest.mark.parametrize(
    ("problem", "words"),
    [
        ("found undefined alias 'x1'", "found undefined alias"),
        ("expected ',' or ']', but got '<scalar>'", "expected ',' or ']', but got"),
        ("found character '@' that cannot start any token", "found character that cannot start any token"),
        ("could not find expected ':'", "could not find expected ':'"),
        ('found unknown escape character "\'"', "found unknown escape character"),
        ("found anchor 'abc; first occurrence", None),  # a quote left open: not used at all
        ("found tag x!y", None),  # input without quotes
        (None, None),
    ],
)
def test_parser_words_keep_syntax_and_drop_input(problem: str | None, words: str | None) -> None:
    assert _words(problem) == words


def test_a_tag_is_named_only_when_it_is_yamls_own() -> None:
    with pytest.raises(YamlError) as e:
        parse_documents("a: !!int x\n")
    assert e.value.message == "a: a value does not fit its tag !!int"
    with pytest.raises(YamlError) as e:
        parse_documents(f"a: !<{CANARY}> x\n")
    assert e.value.message == "a: a value does not fit its tag"


def test_paths_stop_at_a_secret_key() -> None:
    """Keys below a Secret's data key are part of its value; the key itself is a name and is shown."""
    with pytest.raises(YamlError) as e:
        parse_documents(f"stringData:\n  password:\n    {CANARY}: !!int x\n")
    assert e.value.message == "stringData.password: a value does not fit its tag !!int"
    with pytest.raises(YamlError) as e:
        parse_documents("stringData:\n  password: a\n  password: b\n")
    assert e.value.message == "duplicate key 'password' in stringData"
    with pytest.raises(YamlError) as e:
        parse_documents("spec:\n  deep:\n    key: a\n    key: b\n")
    assert e.value.message == "duplicate key 'key' in spec.deep"


@pytest.mark.parametrize(
    "value",
    ["{hunter2: 1, hunter2: 2}", "{hunter2: !!int x}"],
    ids=["duplicate-key", "bad-tag"],
)
def test_paths_stop_at_a_secret_key_inside_a_list_item_too(value: str) -> None:
    """Below `items[N].stringData.<key>` lies the value: its text never reaches a message."""
    text = f"apiVersion: v1\nkind: List\nitems:\n- kind: Secret\n  stringData:\n    password: {value}\n"
    with pytest.raises(YamlError) as caught:
        parse_documents(text.encode())
    assert "hunter2" not in caught.value.message


def test_a_document_never_shows_its_values() -> None:
    """check-secrets and import read clear-text Secrets into Documents: their repr (a traceback,
    a test failure, a debug print) must not carry a value."""
    doc = parse_documents("kind: Secret\nstringData:\n  password: hunter2-Kx81\n")[0]
    assert "hunter2-Kx81" not in repr(doc) and "hunter2-Kx81" not in str(doc)
