"""Load and validate a source folder (steps 1-2 of generate; all of validate)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..adapters.fs import source as fs
from ..core import sourcecache
from ..core.config import CONFIG_FILE, Config, parse_config
from ..core.models import Handshake, Source, SourceSecret
from ..core.validate import finish, validate_file
from ..core.yaml.reader import YamlError, parse_documents
from ..errors import InvalidInputs, Problem


@dataclass(frozen=True)
class LoadedSource:
    root: Path
    source: Source
    contents: dict[str, bytes]  # every source file as read (encrypted files are ciphertext)
    config: Config = field(default_factory=Config)
    records: dict[str, tuple[str, Any]] = field(default_factory=dict)  # for the next run's parse cache
    parsed: int = 0  # files parsed this run (not taken from the parse cache): changed or new ones
    identity: str = ""  # the source identity for the output it was loaded for (core/ownership.py)

    def sha256(self, path: str) -> str:
        """Hex SHA-256 of a source file as read (computed while loading, for the parse cache)."""
        known = self.records.get(path)
        if known is not None:
            return known[0]
        return hashlib.sha256(self.contents[path]).hexdigest()


def load(
    root: Path, out: Path | None, cache: Mapping[str, tuple[str, Any]] | None = None, *, records: bool = True
) -> LoadedSource:
    """Parse and validate everything; raise InvalidInputs listing every problem.

    `cache` (path -> content digest and what that file defined, from the last run's state) lets
    an unchanged valid file skip parsing; any other file is parsed and validated in full.
    `records=False` (validate) skips making the next run's cache: no digests.
    """
    files, problems = fs.read_source(root, out)
    digests = [hashlib.sha256(f.content).hexdigest() if records or cache else "" for f in files]
    per_file: list[Parsed | None] = [None] * len(files)
    to_parse = []
    for i, f in enumerate(files):
        cached = cache.get(f.path) if cache else None
        decoded = sourcecache.decode(f.path, cached[1]) if cached and cached[0] == digests[i] else None
        if decoded is not None and cached is not None:
            per_file[i] = (decoded[0], decoded[1], [], cached[1])
        else:
            to_parse.append(i)
    for i, fresh in zip(to_parse, _parse_all([files[i] for i in to_parse], records), strict=True):
        per_file[i] = fresh
    handshakes: list[Handshake] = []
    secrets: list[SourceSecret] = []
    kept: dict[str, tuple[str, Any]] = {}
    for f, digest, parsed in zip(files, digests, per_file, strict=True):
        assert parsed is not None
        handshakes += parsed[0]
        secrets += parsed[1]
        problems += parsed[2]
        if parsed[3] is not None:
            kept[f.path] = (digest, parsed[3])
    source, more = finish(handshakes, secrets, problems)
    config, config_problems = _config(root)
    if more or config_problems:
        raise InvalidInputs(more + config_problems, files=len(files))
    contents = {f.path: f.content for f in files}
    identity = source_identity(config, out) if out is not None else ""
    return LoadedSource(root.resolve(), source, contents, config, kept, len(to_parse), identity)


LOCAL_IDENTITY = "local"


def source_identity(config: Config, out: Path) -> str:
    """The configured `source:`, else one derived from where OUT lives: the normalised URL of its
    repository's remote (`origin`, else the first by name) or, without one, the repository's
    folder name, and OUT's path inside it; outside git, `local` (no GitRepo can read such an OUT, and
    a folder that moves, such as a preview in a temporary folder, keeps its identity)."""
    if config.source:
        return config.source
    from ..adapters import gitplace
    from ..core.ownership import derived_identity, normalise_remote

    place = gitplace.output_place(out)
    if place is None:
        return LOCAL_IDENTITY
    config_file, path = place
    urls = gitplace.remote_urls(config_file)
    url = urls.get("origin") or (urls[min(urls)] if urls else None)
    repository = normalise_remote(url) if url else Path(config_file).parent.parent.name
    return derived_identity(repository, path)


Parsed = tuple[list[Handshake], list[SourceSecret], list[Problem], "Any"]  # and the parse-cache record


def _parse_file(f: fs.SourceFile, records: bool) -> Parsed:
    if b"\0" in f.content:
        return [], [], [Problem(f.path, None, "", "is a binary file, not YAML")], None
    try:
        docs = parse_documents(f.content)
    except YamlError as e:
        return [], [], [Problem(f.path, None, "", e.message, e.line)], None
    file_handshakes, file_secrets, file_problems = validate_file(f.path, docs)
    record = sourcecache.encode(file_handshakes, file_secrets) if records and not file_problems else None
    return file_handshakes, file_secrets, file_problems, record


_SHARE = 64  # below this many files to parse, a second process costs more than it saves


def _parse_all(files: list[fs.SourceFile], records: bool) -> list[Parsed]:
    """Parse and validate files; many of them (a first run) on two cores, some in a forked child."""
    if len(files) < _SHARE:
        return [_parse_file(f, records) for f in files]
    from ..adapters.background import Background

    # The child takes the files that are not SOPS-encrypted (handshakes, mostly); this process
    # parses the encrypted ones, whose nodes the decryption then reuses (the memo of reader.compose,
    # which a child forked later for decrypting inherits too).
    child_takes = [b"\nsops:" not in f.content for f in files]
    with Background(_parse_encoded, [f for f, c in zip(files, child_takes, strict=True) if c]) as child:
        mine = iter([_parse_file(f, records) for f, c in zip(files, child_takes, strict=True) if not c])
        theirs = iter(child.result())
    out: list[Parsed] = []
    for f, by_child in zip(files, child_takes, strict=True):
        if not by_child:
            out.append(next(mine))
            continue
        encoded, file_problems = next(theirs)
        decoded = sourcecache.decode(f.path, encoded)
        assert decoded is not None  # the encoding of what the child parsed
        out.append((decoded[0], decoded[1], file_problems, encoded if records and not file_problems else None))
    return out


def _parse_encoded(files: list[fs.SourceFile]) -> list[tuple[Any, list[Problem]]]:
    """In the child: what each file defines, as parse-cache records (plain data, quick to send)."""
    out = []
    for f in files:
        file_handshakes, file_secrets, file_problems, _ = _parse_file(f, False)
        out.append((sourcecache.encode(file_handshakes, file_secrets), file_problems))
    return out


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
