"""validate and check-secrets report one problem at one file:line with one YAML path and message.

A pre-commit run shows both hooks' output side by side, and the Action turns validate's problems
into annotations: the same clear-text Secret must not point at two different lines.
"""

from __future__ import annotations

import re

from fhtest import SourceRepo, run_cli, secret

CANARY = "fh-canary-agree-3b81e0-do-not-print"
# A comment first, so the document does not start at line 1; stringData and data both hold values.
CLEAR = f"""# a Secret someone forgot to encrypt
apiVersion: v1
kind: Secret
metadata:
  name: plain
  namespace: default
type: Opaque
stringData:
  password: {CANARY}
data:
  token: Zmg=
"""
CLEAR_LIST = f"""apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Secret
    metadata:
      name: exported
      namespace: default
      annotations:
        kubectl.kubernetes.io/last-applied-configuration: '{{"stringData": "{CANARY}"}}'
    stringData:
      password: {CANARY}
"""
ERROR = re.compile(r"^error: (.*)$", re.MULTILINE)


def _errors(stderr: str) -> list[str]:
    return sorted(ERROR.findall(stderr))


def test_one_problem_one_line_in_both_commands(repo: SourceRepo) -> None:
    repo.write("secrets/clear.yaml", CLEAR)
    repo.write("secrets/exported.yaml", CLEAR_LIST)
    half = repo.encrypted("secrets/half.yaml", secret("half", stringData={"a": "x", "b": "y"}))
    text = half.read_text()
    first = re.search(r"ENC\[[^\]]*\]", text)
    assert first is not None
    half.write_text(text.replace(first.group(0), CANARY, 1))  # one value left unencrypted
    files = ["secrets/clear.yaml", "secrets/exported.yaml", "secrets/half.yaml"]

    validated = run_cli("validate", ".", cwd=repo.root)
    checked = run_cli("check-secrets", *files, cwd=repo.root)

    assert validated.code == checked.code == 1
    both = _errors(validated.stderr)
    assert both == _errors(checked.stderr)
    # Each data section at the line where its values are, not at the document's first line.
    assert "secrets/clear.yaml:9 (document 0) stringData: is in clear text" in validated.stderr
    assert "secrets/clear.yaml:11 (document 0) data: is in clear text" in validated.stderr
    assert "secrets/exported.yaml:12 (document 0) items[0].stringData: is in clear text" in validated.stderr
    assert any(line.startswith("secrets/exported.yaml:10 (document 0) items[0].metadata.annotations") for line in both)
    assert any(line.startswith("secrets/half.yaml:") and "stringData.a: is not encrypted" in line for line in both)
    assert len(both) == 5
    assert CANARY not in validated.stderr + checked.stderr + validated.stdout + checked.stdout


def test_validate_says_what_it_checked(repo: SourceRepo) -> None:
    repo.write("secrets/clear.yaml", CLEAR)
    repo.encrypted("secrets/ok.yaml", secret("ok", stringData={"a": "x"}))

    failed = run_cli("validate", repo.root)
    assert failed.code == 1
    last = failed.stderr.strip().splitlines()[-1]
    assert last == (
        f"fleet-handshake: 2 problems in the source; checked 2 YAML files under {repo.root} and its config "
        "(handshakes, Secrets' metadata and encryption; no keys used)"
    )
    assert "nothing was written" not in failed.stderr  # validate never writes anything

    (repo.root / "secrets/clear.yaml").unlink()
    ok = run_cli("validate", repo.root)
    assert ok.code == 0
    assert f"ok: 0 handshake(s), 1 encrypted Secret(s) in 1 YAML file under {repo.root}" in ok.stderr
