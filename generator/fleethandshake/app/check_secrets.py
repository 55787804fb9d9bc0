"""`fleet-handshake check-secrets FILE...`: the pre-commit hook that refuses clear-text Secrets.

Reports what would leak: a `Secret` whose data or stringData is not SOPS-encrypted, with the
same rules as validate. It fails closed: a file it cannot read as YAML (a syntax error, a merge
key, a duplicate key, a bad escape, bytes that are not text) fails too, since any document of it
may be a clear-text Secret. Other valid YAML is not this hook's job.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from ..core.validate import is_secret, validate_source
from ..core.yamldoc import YamlError, parse_documents
from ..errors import EXIT_FAILED, EXIT_OK, Problem

DATA_SECTIONS = ("data", "stringData")
CLEAR_TEXT = "is in clear text: this Secret is not SOPS-encrypted; encrypt it with sops before committing"
UNREADABLE = "any document of it may be a clear-text Secret: fix the file, or exclude it from this hook if not YAML"


def _in_data(path: str) -> bool:
    return any(path == s or path.startswith((f"{s}.", f"{s}[")) for s in DATA_SECTIONS)


def check_file(display: str, content: bytes) -> list[Problem]:
    """Clear-text problems of the Secrets in one file, or why it cannot be read."""
    if b"\0" in content:
        return [Problem(display, None, "", f"is a binary file, not YAML; {UNREADABLE}")]
    try:
        docs = parse_documents(content)
    except YamlError as e:  # the message names a line and a YAML path, never the text
        return [Problem(display, None, "", f"{e.message}; {UNREADABLE}", e.line)]
    secret_docs = {d.index: d for d in docs if is_secret(d.data)}
    if not secret_docs:
        return []
    # One file at a time: a Secret defined twice across files is validate's business, not a leak.
    _, problems = validate_source([(display, docs)])
    found: list[Problem] = []
    for p in problems:
        doc = secret_docs.get(p.document) if p.document is not None else None
        if doc is None:
            continue
        if p.path == "":  # the whole Secret is in clear text: name the sections that hold data
            for section in DATA_SECTIONS:
                if doc.data.get(section):
                    found.append(Problem(p.file, p.document, section, CLEAR_TEXT, doc.line(section)))
        elif _in_data(p.path):
            found.append(p)
    return sorted(found, key=lambda p: (p.document or 0, p.line or 0, p.path))


def run(files: Sequence[Path]) -> int:
    problems: list[Problem] = []
    for file in files:
        try:
            content = file.read_bytes()
        except IsADirectoryError:
            continue
        except OSError as e:
            problems.append(Problem(str(file), None, "", f"cannot be read ({e.strerror})"))
            continue
        problems.extend(check_file(str(file), content))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        count = len(problems)
        print(
            f"fleet-handshake: {count} problem{'s' if count != 1 else ''}: encrypt Secrets with sops before "
            "committing them (encrypted_regex: ^(data|stringData)$)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK
