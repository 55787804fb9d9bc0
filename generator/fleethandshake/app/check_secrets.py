"""`fleet-handshake check-secrets FILE...`: the pre-commit hook that refuses clear-text Secrets.

Reports what would leak: a `Secret` whose data or stringData is not SOPS-encrypted, with the
same rules as validate. It fails closed: a file it cannot read as YAML (a syntax error, a merge
key, a duplicate key, a bad escape, bytes that are not text) fails too, since any document of it
may be a clear-text Secret. Other valid YAML is not this hook's job.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..adapters.fs import source as fs
from ..core.collector import below
from ..core.models import item_path
from ..core.render import FLEET_YAML
from ..core.validate import is_secret, kubectl_items, objects, validate_source
from ..core.validate_secret import DATA_SECTIONS, LAST_APPLIED_PATH
from ..core.yaml.reader import YamlError, parse_documents
from ..errors import EXIT_FAILED, EXIT_OK, Problem

# kubectl (apimachinery's YAMLReader) starts a new document at a line `---` followed by a comment
# or by Go white space (a no-break space too), Helm (releaseutil.SplitManifests) at any line that
# starts with `---`; YAML only where `---` is followed by a space, a tab or the end of the line.
# Where they differ, a Secret that YAML reads as text inside another document is one to Go.
_GO_ONLY_SEPARATOR = re.compile(rb"(?:^|\A\xef\xbb\xbf)---(?![ \t\r\n]|\Z)", re.MULTILINE)
UNREADABLE = "any document of it may be a clear-text Secret: fix the file, or exclude it from this hook if not YAML"


def _in_data(path: str) -> bool:
    return path == LAST_APPLIED_PATH or any(below(path, section) is not None for section in DATA_SECTIONS)


def check_file(display: str, content: bytes) -> list[Problem]:
    """Clear-text problems of the Secrets in one file (items of a List too), or why it cannot be read."""
    if b"\0" in content:
        return [Problem(display, None, "", f"is a binary file, not YAML; {UNREADABLE}")]
    separator = _GO_ONLY_SEPARATOR.search(content)
    if separator is not None:
        line = content.count(b"\n", 0, separator.start()) + 1
        return [
            Problem(
                display,
                None,
                "",
                "a line starts with `---` that YAML does not take for a document start, but kubectl and "
                f"Helm do: put `---` alone on its line, or indent that line; {UNREADABLE}",
                line,
            )
        ]
    try:
        docs = parse_documents(content)
    except YamlError as e:  # the message names a line and a YAML path, never the text
        return [Problem(display, None, "", f"{e.message}; {UNREADABLE}", e.line)]
    # document -> where each Secret in it is: the document itself (item None) or List items
    secrets: dict[int, list[int | None]] = {}
    for d in docs:
        for item, data in [*objects(d), *kubectl_items(d)]:
            if is_secret(data):
                secrets.setdefault(d.index, []).append(item)
    if not secrets:
        return []
    # One file at a time: a Secret defined twice across files is validate's business, not a leak.
    _, problems = validate_source([(display, docs)])
    found: list[Problem] = []
    for p in problems:
        for item in secrets.get(p.document, []) if p.document is not None else ():
            rest = below(p.path, item_path(item, ""))
            if rest is not None and _in_data(rest):
                found.append(p)
    return sorted(found, key=lambda p: (p.document or 0, p.line or 0, p.path))


@dataclass(frozen=True)
class _Output:
    """A folder with fleet-handshake's status file at its root (`fs.has_status_file`), read once per run."""

    folder: Path
    bundles: frozenset[str] | None  # the bundle folders its status record lists; None: not a status record


class _Outputs:
    """Which given files are fleet-handshake's own clear-text files: plain mode's Secret file in a
    bundle folder OUT/ws/bundle that OUT's status record lists, and that holds no other mode's
    file (fleet-handshake writes one mode's file per bundle folder: beside a `sopssecret.yaml`, a
    `secret.yaml` was put there by someone else). Nothing else in OUT is skipped."""

    def __init__(self) -> None:
        from ..core import output

        self._clear_text = frozenset(output.clear_text_files())
        self._other_modes = output.OWN_FILES - self._clear_text - {FLEET_YAML}
        self._known: dict[Path, _Output | None] = {}

    def _at(self, folder: Path) -> _Output | None:
        if folder not in self._known:
            found = None
            if fs.has_status_file(folder):
                from ..core import output

                record = output.read_status(fs.output_status(folder))
                found = _Output(folder, None if record is None else output.recorded_bundles(record))
            self._known[folder] = found
        return self._known[folder]

    @staticmethod
    def _above(path: Path) -> list[Path]:
        return list(path.parents)[:-1]  # as given: not the current folder, nor `/`

    def skipped(self, path: Path) -> bool:
        above = self._above(path)
        if path.name not in self._clear_text or len(above) < 3:
            return False
        found = self._at(above[2])
        if found is None or found.bundles is None or f"{above[1].name}/{above[0].name}" not in found.bundles:
            return False
        return not any(os.path.lexists(above[0] / name) for name in self._other_modes)

    def around(self, path: Path) -> list[_Output]:
        """The outputs `path` is inside: to say why a file there was checked."""
        return [found for folder in self._above(path) if (found := self._at(folder)) is not None]


def _why_checked(found: _Output) -> str:
    status = f"{found.folder}/{fs.OUTPUT_STATE_DIR}/{fs.OUTPUT_STATUS}"
    if found.bundles is None:
        return f"note: {status} is not a status record fleet-handshake wrote: the files in {found.folder} are checked"
    return (f"note: in fleet-handshake's output {found.folder}, only the clear-text Secret files it wrote in the "
            f"bundle folders {status} lists (plain mode's, with no other mode's file beside them) are skipped; any "
            "other file there is checked")  # fmt: skip


def run(files: Sequence[Path]) -> int:
    problems: list[Problem] = []
    outputs = _Outputs()
    notes: dict[Path, str] = {}  # per output folder a refused file is in, why it was checked
    for file in files:
        if outputs.skipped(file):
            continue  # fleet-handshake's own output: plain mode writes Secrets there in clear text
        try:
            content = file.read_bytes()
        except IsADirectoryError:
            continue
        except OSError as e:
            problems.append(Problem(str(file), None, "", f"cannot be read ({e.strerror})"))
            continue
        found = check_file(str(file), content)
        problems.extend(found)
        for out in outputs.around(file) if found else ():
            notes.setdefault(out.folder, _why_checked(out))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    for note in notes.values():
        print(note, file=sys.stderr)
    if problems:
        count = len(problems)
        print(
            f"fleet-handshake: {count} problem{'s' if count != 1 else ''}: encrypt Secrets with sops before "
            "committing them (encrypted_regex: ^(data|stringData)$)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK
