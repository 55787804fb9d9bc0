"""Load and validate a source folder (steps 1-2 of generate; all of validate)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..adapters import fs
from ..core.config import CONFIG_FILE, Config, parse_config
from ..core.models import Source
from ..core.validate import validate_source
from ..core.yamldoc import Document, YamlError, parse_documents
from ..errors import InvalidInputs, Problem


@dataclass(frozen=True)
class LoadedSource:
    root: Path
    source: Source
    contents: dict[str, bytes]  # every source file as read (encrypted files are ciphertext)
    config: Config = field(default_factory=Config)


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
    config, config_problems = _config(root)
    problems.extend(config_problems)
    if problems:
        raise InvalidInputs(problems)
    return LoadedSource(root.resolve(), source, {f.path: f.content for f in files}, config)


def _config(root: Path) -> tuple[Config, list[Problem]]:
    path = root / CONFIG_FILE
    if not path.is_file():
        return Config(), []
    try:
        docs = parse_documents(path.read_bytes())
    except OSError as e:
        return Config(), [Problem(CONFIG_FILE, None, "", f"cannot be read ({e.strerror})")]
    except YamlError as e:
        return Config(), [Problem(CONFIG_FILE, None, "", e.message, e.line)]
    if len(docs) > 1:
        return Config(), [Problem(CONFIG_FILE, None, "", "must hold one YAML document")]
    return parse_config(docs[0] if docs else None)
