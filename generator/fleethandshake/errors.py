"""Error classes. Every message names a file and a YAML path, never a value."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNEXPECTED = 3
EXIT_STALE = 4  # publish: the output branch holds output from a newer source
EXIT_UNORDERED = 5  # publish: cannot tell whether this run's source is newer than the branch's
EXIT_CHANGES = 10  # plan: changes present (a result, not an error: scripts can tell it from 1 and 3)
EXIT_NOT_READY = 11  # status / publish --wait: not yet Ready on every targeted cluster
EXIT_INTERRUPTED = 130


class Problem:
    """One thing wrong with the inputs, located as precisely as we can. Not a dataclass: `--help`
    imports this module, and must not import dataclasses."""

    __slots__ = ("document", "file", "line", "message", "path")

    def __init__(self, file: str, document: int | None, path: str, message: str, line: int | None = None) -> None:
        self.file = file
        self.document = document
        self.path = path
        self.message = message
        self.line = line

    def _key(self) -> tuple[str, int, int, str, str]:
        return (self.file, -1 if self.document is None else self.document, self.line or 0, self.path, self.message)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Problem) and self._key() == other._key()

    def __lt__(self, other: Problem) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Problem({self.file!r}, {self.document!r}, {self.path!r}, {self.message!r}, line={self.line!r})"

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.document is not None:
            where += f" (document {self.document})"
        if self.path:
            where += f" {self.path}"
        return f"{where}: {self.message}"


class FleetHandshakeError(Exception):
    """Base of every error the tool raises on purpose."""

    exit_code = EXIT_FAILED


class UserError(FleetHandshakeError):
    """Bad input: the user can fix it."""


class UsageError(FleetHandshakeError):
    """Wrong command line or configuration."""

    exit_code = EXIT_USAGE


class StaleSource(UserError):
    """publish: the output branch already holds output generated from a newer source commit."""

    exit_code = EXIT_STALE


class UnorderedSource(UserError):
    """publish: which source is newer cannot be told (unrelated, shallow, not in git, uncommitted)."""

    exit_code = EXIT_UNORDERED


class InvalidInputs(UserError):
    """Validation found problems; all of them are listed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the source")

    def __reduce__(self) -> tuple[type[InvalidInputs], tuple[list[Problem]]]:
        return type(self), (self.problems,)  # rebuilt from its problems, not from the message
