"""GitHub Actions: the job summary, step outputs and workflow-command annotations.

Only names, paths, counts and messages from validate and plan reach these helpers: those never
hold a secret value. Nothing here reads a value from the source, so nothing here can leak one.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
OUTPUT_ENV = "GITHUB_OUTPUT"
_OUTPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# The runner reads a workflow command from any line that starts, after blanks, with "::".
_COMMAND_LINE = re.compile(r"^(\s*)::", re.MULTILINE)


def escape_data(text: str) -> str:
    """A workflow command's message: `%`, CR and LF escaped, as the runner's toolkit does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: also `:` and `,`, which separate properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(
    level: str,
    message: str,
    *,
    file: str | None = None,
    line: int | None = None,
    title: str | None = None,
) -> str:
    """`::error file=F,line=L,title=T::message`, one line whatever the inputs hold."""
    if level not in ("error", "warning", "notice"):
        raise ValueError(f"unknown annotation level {level!r}")
    props = []
    if file:
        props.append(f"file={escape_property(file)}")
    if line is not None:
        props.append(f"line={int(line)}")
    if title:
        props.append(f"title={escape_property(title)}")
    head = f"::{level} {','.join(props)}" if props else f"::{level}"
    return f"{head}::{escape_data(message)}"


def neutralize(text: str) -> str:
    """Log text with no line the runner would take for a workflow command.

    File names in messages come from the repository, and a crafted one could otherwise end a
    line and start `::set-output` or `::add-mask` of its own.
    """
    return _COMMAND_LINE.sub(r"\1: :", text)


def output_line(name: str, value: str) -> str:
    """One `$GITHUB_OUTPUT` entry; multi-line values use `name<<DELIM` with a random delimiter."""
    if not _OUTPUT_NAME.fullmatch(name):
        raise ValueError(f"invalid output name {name!r}")
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    while True:
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        if delimiter not in value:
            return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


@dataclass(frozen=True)
class Runner:
    """The files a GitHub runner hands a step. Outside Actions both are None and writes do nothing."""

    summary: Path | None
    output: Path | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Runner:
        env = os.environ if environ is None else environ
        summary, output = env.get(SUMMARY_ENV), env.get(OUTPUT_ENV)
        return cls(Path(summary) if summary else None, Path(output) if output else None)

    def append_summary(self, markdown: str) -> None:
        if self.summary is not None:
            _append(self.summary, markdown.rstrip("\n") + "\n\n")  # a blank line between sections

    def set_outputs(self, values: Mapping[str, str]) -> None:
        if self.output is not None:
            _append(self.output, "".join(output_line(k, v) for k, v in values.items()))


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(text)
