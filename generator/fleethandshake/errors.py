"""Error classes. Every message names a file and a YAML path, never a value."""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNEXPECTED = 3
EXIT_INTERRUPTED = 130


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the inputs, located as precisely as we can."""

    file: str
    document: int | None
    path: str
    message: str
    line: int | None = None

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


class InvalidInputs(UserError):
    """Validation found problems; all of them are listed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=_problem_key)
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the source")


def _problem_key(p: Problem) -> tuple[str, int, int, str, str]:
    return (p.file, -1 if p.document is None else p.document, p.line or 0, p.path, p.message)
