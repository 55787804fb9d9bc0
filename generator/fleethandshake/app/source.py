"""Load and validate a source folder (steps 1-2 of generate; all of validate)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..adapters import fs
from ..core import sourcecache
from ..core.config import CONFIG_FILE, Config, parse_config
from ..core.models import Handshake, Source, SourceSecret
from ..core.records import dataclass, field
from ..core.validate import finish, validate_file
from ..core.yamldoc import YamlError, parse_documents
from ..errors import InvalidInputs, Problem

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which type checkers read by name; typing costs 2.5 ms
if TYPE_CHECKING:
    from typing import Any


@dataclass(frozen=True)
class LoadedSource:
    root: Path
    source: Source
    contents: dict[str, bytes]  # every source file as read (encrypted files are ciphertext)
    config: Config = field(default_factory=Config)
    records: dict[str, tuple[str, Any]] = field(default_factory=dict)  # for the next run's parse cache

    def sha256(self, path: str) -> str:
        """Hex SHA-256 of a source file as read (computed while loading, for the parse cache)."""
        known = self.records.get(path)
        if known is not None:
            return known[0]
        import hashlib

        return hashlib.sha256(self.contents[path]).hexdigest()


def load(
    root: Path, out: Path | None, cache: Mapping[str, tuple[str, Any]] | None = None, *, records: bool = True
) -> LoadedSource:
    """Parse and validate everything; raise InvalidInputs listing every problem.

    `cache` (path -> content digest and what that file defined, from the last run's state) lets
    an unchanged valid file skip parsing; any other file is parsed and validated in full.
    `records=False` (validate) skips making the next run's cache: no digests, no hashlib.
    """
    files, problems = fs.read_source(root, out)
    handshakes: list[Handshake] = []
    secrets: list[SourceSecret] = []
    kept: dict[str, tuple[str, Any]] = {}
    if records or cache:
        import hashlib
    for f in files:
        digest = hashlib.sha256(f.content).hexdigest() if records or cache else ""
        cached = cache.get(f.path) if cache else None
        decoded = sourcecache.decode(f.path, cached[1]) if cached and cached[0] == digest else None
        if decoded is not None:
            handshakes += decoded[0]
            secrets += decoded[1]
            kept[f.path] = (digest, cached[1]) if cached else (digest, None)
            continue
        if b"\0" in f.content:
            problems.append(Problem(f.path, None, "", "is a binary file, not YAML"))
            continue
        try:
            docs = parse_documents(f.content)
        except YamlError as e:
            problems.append(Problem(f.path, None, "", e.message, e.line))
            continue
        file_handshakes, file_secrets, file_problems = validate_file(f.path, docs)
        handshakes += file_handshakes
        secrets += file_secrets
        problems += file_problems
        if records and not file_problems:
            kept[f.path] = (digest, sourcecache.encode(file_handshakes, file_secrets))
    source, more = finish(handshakes, secrets, problems)
    config, config_problems = _config(root)
    if more or config_problems:
        raise InvalidInputs(more + config_problems)
    return LoadedSource(root.resolve(), source, {f.path: f.content for f in files}, config, kept)


def _config(root: Path) -> tuple[Config, list[Problem]]:
    content, problem = fs.read_source_file(root, CONFIG_FILE)
    if problem is not None:
        # Never fall back to the default (plain) mode because the config could not be read.
        return Config(), [problem]
    if content is None:
        return Config(), []
    try:
        docs = parse_documents(content)
    except YamlError as e:
        return Config(), [Problem(CONFIG_FILE, None, "", e.message, e.line)]
    if len(docs) > 1:
        return Config(), [Problem(CONFIG_FILE, None, "", "must hold one YAML document")]
    return parse_config(docs[0] if docs else None)
