"""Load and validate a source folder (steps 1-2 of generate; all of validate)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..adapters import fs
from ..core.models import Source
from ..core.validate import validate_source
from ..core.yamldoc import Document, YamlError, parse_documents
from ..errors import InvalidInputs, Problem


@dataclass(frozen=True)
class LoadedSource:
    root: Path
    source: Source
    contents: dict[str, bytes]  # every source file as read (encrypted files are ciphertext)


def load(root: Path, out: Path | None) -> LoadedSource:
    """Parse and validate everything; raise InvalidInputs listing every problem."""
    files, problems = fs.read_source(root, out)
    parsed: list[tuple[str, list[Document]]] = []
    for f in files:
        if b"\0" in f.content:
            problems.append(Problem(f.path, None, "", "is a binary file, not YAML"))
            continue
        try:
            parsed.append((f.path, parse_documents(f.content)))
        except YamlError as e:
            problems.append(Problem(f.path, None, "", e.message, e.line))
    source, more = validate_source(parsed)
    problems.extend(more)
    if problems:
        raise InvalidInputs(problems)
    return LoadedSource(root.resolve(), source, {f.path: f.content for f in files})
