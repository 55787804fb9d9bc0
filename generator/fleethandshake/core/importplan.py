"""`import`: what to write into SOURCE and what to report, decided before anything is written (pure).

A handshake is imported with the Secret it references, or not at all: a handshake whose Secret
was not found is reported and left out unless `allow_missing`. Nothing in SOURCE is replaced: a
handshake or Secret SOURCE already defines (in any file), and a file name already taken, are
kept as they are and reported. Every new file is validated as `validate` will read it, and the
whole source with the new files is checked across files (duplicates, deliveries that may fight)
before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import Problem
from .importing import Entry, Refused, SecretRef
from .models import Handshake, Source, SourceSecret
from .render import to_yaml
from .validate import finish, validate_file
from .yaml.reader import YamlError, parse_documents


@dataclass
class ImportPlan:
    handshake_files: dict[str, bytes] = field(default_factory=dict)  # path -> YAML
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> clear Secret (SecretValues)
    handshakes: list[Handshake] = field(default_factory=list)  # the validated new handshakes
    report: list[tuple[str, str]] = field(default_factory=list)  # (word, what): kept, missing, skipped
    not_imported: int = 0  # handshakes left out for a reason the user must act on


def yaml_bytes(doc: Mapping[str, Any]) -> bytes:
    """A document as fleet-handshake writes YAML: every string double-quoted, read alike by every reader."""
    return (to_yaml(dict(doc)) + "\n").encode()


def read_file(path: str, content: bytes) -> tuple[list[Handshake], list[SourceSecret], list[Problem]]:
    """What `validate` will make of a file."""
    try:
        docs = parse_documents(content)
    except YamlError as e:
        return [], [], [Problem(path, None, "", e.message, e.line)]
    return validate_file(path, docs)


def plan_import(
    entries: Iterable[Entry],
    refused: Iterable[Refused],
    existing: Source,
    taken: set[str],
    *,
    allow_missing: bool,
) -> ImportPlan:
    plan = ImportPlan()
    for r in refused:
        plan.report.append(("skipped", f"{r.ref}: {r.reason}; not imported"))
        plan.not_imported += 1
    have_handshakes = {h.ref: h.file for h in existing.handshakes}
    have_secrets = {(s.namespace, s.name): s.file for s in existing.secrets}
    for e in entries:
        if e.ref in have_handshakes:
            plan.report.append(
                ("kept", f"{e.ref}: SOURCE defines it already in {have_handshakes[e.ref]}; left as it is")
            )
            _add_secret(plan, e, have_secrets, taken)  # the Secret it needs, if SOURCE lacks it
            continue
        if e.path in taken:
            plan.report.append(("kept", f"{e.path}: the file exists; handshake {e.ref} not imported"))
            plan.not_imported += 1
            continue
        content = yaml_bytes(e.handshake)
        handshakes, _, problems = read_file(e.path, content)
        if problems or not handshakes:
            why = "; ".join(f"{p.path}: {p.message}" for p in problems) or "not a handshake fleet-handshake reads"
            plan.report.append(("skipped", f"{e.ref}: {why}; not imported"))
            plan.not_imported += 1
            continue
        secret_known = e.secret_ref in have_secrets or e.secret_path in plan.secrets
        if e.secret_problem is not None and not secret_known:
            plan.report.append(("skipped", f"{e.ref}: {_secret(e)}: {e.secret_problem}; not imported"))
            plan.not_imported += 1
            continue
        if e.secret is None and not secret_known:
            secret = _secret(e)
            if not allow_missing:
                plan.report.append(("missing", f"{e.ref}: {secret} was not found; handshake not imported"))
                plan.not_imported += 1
                continue
            plan.report.append(("missing", f"{e.ref}: {secret} was not found; handshake imported without it"))
        plan.handshake_files[e.path] = content
        plan.handshakes += handshakes
        _add_secret(plan, e, have_secrets, taken)
    return plan


def _secret(e: Entry) -> str:
    return f"Secret {e.secret_ref[0]}/{e.secret_ref[1]}"


def _add_secret(plan: ImportPlan, e: Entry, have: Mapping[SecretRef, str], taken: set[str]) -> None:
    if e.secret is None or e.secret_path in plan.secrets:
        return
    if e.secret_problem is not None and e.secret_ref not in have:
        plan.report.append(("skipped", f"{_secret(e)}: {e.secret_problem}; not imported"))
        plan.not_imported += 1
        return
    if e.secret_ref in have:
        plan.report.append(("kept", f"{_secret(e)}: SOURCE defines it already in {have[e.secret_ref]}; left as it is"))
    elif e.secret_path in taken:
        plan.report.append(("kept", f"{e.secret_path}: the file exists; {_secret(e)} left as it is (not compared)"))
    else:
        plan.secrets[e.secret_path] = e.secret


def check_all(existing: Source, plan: ImportPlan, encrypted: Mapping[str, bytes]) -> list[Problem]:
    """Every problem `validate` would find in the encrypted Secret files and across the source."""
    problems: list[Problem] = []
    secrets: list[SourceSecret] = []
    for path, content in encrypted.items():
        _, found, file_problems = read_file(path, content)
        problems += file_problems
        secrets += found
        if not found and not file_problems:
            problems.append(Problem(path, 0, "", "sops wrote something that is not a Secret fleet-handshake reads"))
    _, across = finish([*existing.handshakes, *plan.handshakes], [*existing.secrets, *secrets], [])
    return problems + across
