"""`fleet-handshake validate`: parse and check the source; no keys needed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import EXIT_FAILED, EXIT_OK, InvalidInputs, Problem
from . import source as source_loader


def problems_json(problems: list[Problem], handshakes: int = 0, secrets: int = 0) -> str:
    doc = {
        "ok": not problems,
        "handshakes": handshakes,
        "secrets": secrets,
        "problems": [
            {"file": p.file, "line": p.line, "document": p.document, "path": p.path, "message": p.message}
            for p in problems
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def _files(count: int | None) -> str:
    return "the YAML files" if count is None else f"{count} YAML file{'s' if count != 1 else ''}"


def _checked(src: Path, files: int | None) -> str:
    what = "handshakes, Secrets' metadata and encryption; no keys used"
    return f"checked {_files(files)} under {src} and its config ({what})"


def run(src: Path, *, quiet: bool, fmt: str = "text") -> int:
    if fmt == "json":
        try:
            loaded = source_loader.load(src, None, records=False)
        except InvalidInputs as e:
            sys.stdout.write(problems_json(e.problems))
            return EXIT_FAILED
        sys.stdout.write(problems_json([], len(loaded.source.handshakes), len(loaded.source.secrets)))
        return EXIT_OK
    try:
        loaded = source_loader.load(src, None, records=False)
    except InvalidInputs as e:  # validate never writes: its last line says what it checked
        raise InvalidInputs(e.problems, _checked(src, e.files), e.files) from None
    if not quiet:
        hs, secrets = loaded.source.handshakes, loaded.source.secrets
        refs = {(s.namespace, s.name) for s in secrets}
        missing = [h for h in hs if (h.secret_namespace, h.secret_name) not in refs]
        found = f"{len(hs)} handshake(s), {len(secrets)} encrypted Secret(s)"
        print(f"ok: {found} in {_files(len(loaded.contents))} under {src}", file=sys.stderr)
        for h in missing:
            print(
                f"warning: {h.file}: handshake {h.ref} references Secret "
                f"{h.secret_namespace}/{h.secret_name}, which is not in the source (it would be Missing)",
                file=sys.stderr,
            )
    return EXIT_OK
