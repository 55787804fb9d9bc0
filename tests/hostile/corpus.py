"""The hostile corpus: broken source repositories, each a folder under `cases/`.

A case folder holds `case.yaml` (what to run and what must come out) and, optionally, a
`source/` folder whose files are laid over a valid baseline source. What cannot be a static
file (real sops encryption, special files, a fake sops binary, a full disk) is made by a
`prepare:` function of `prepare.py`. Every case starts from the same baseline: a valid source
and the output tree generated from it, so each run can be checked against an existing tree.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fhtest import AgeKey, SourceRepo, handshake, secret

CASES = Path(__file__).resolve().parent / "cases"
STAGING_MARK = ".fh-staging-"

# Values that must never be printed. The low-entropy one would be guessed from any hash of it.
CANARY_ALPHA = "hostile-canary-alpha-4Jq9Xw"
CANARY_BRAVO = "hostile-canary-bravo-8Lm2Zt"
CANARY_LOW = "letmein1"
CANARIES = (CANARY_ALPHA, CANARY_BRAVO, CANARY_LOW)

HANDSHAKES = (
    handshake("alpha", "alpha-secret", [{"clusterName": "c1"}]),
    handshake(
        "bravo",
        "bravo-secret",
        [{"name": "prod", "clusterSelector": {"matchLabels": {"env": "prod"}}}, {"clusterGroup": "edge"}],
    ),
)


def alpha_secret(password: str = CANARY_ALPHA, **extra: Any) -> dict[str, Any]:
    return secret("alpha-secret", stringData={"password": password, "pin": CANARY_LOW, **extra})


def bravo_secret() -> dict[str, Any]:
    # A type of its own, not Opaque: one the API server has no rules for (basic-auth would want a username or password).
    return secret("bravo-secret", type="example.com/token", data={"token": b64(CANARY_BRAVO)})


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass(frozen=True)
class Baseline:
    """A valid source and the output generated from it; copied for every case, never changed."""

    source: Path
    out: Path
    key: AgeKey
    other_key: AgeKey

    def key_env(self) -> dict[str, str]:
        return {"SOPS_AGE_KEY_FILE": str(self.key.key_file)}


def build_baseline(root: Path, key: AgeKey, other_key: AgeKey) -> Baseline:
    repo = SourceRepo(root / "source", key)
    repo.handshakes("handshakes.yaml", *HANDSHAKES)
    repo.encrypted("secrets/alpha.yaml", alpha_secret())
    repo.encrypted("secrets/bravo.yaml", bravo_secret())
    base = Baseline(repo.root, root / "out", key, other_key)
    result = run_tool(["generate", str(base.source), "--out", str(base.out)], env=base.key_env(), cwd=root)
    assert result.code == 0, result.stderr
    assert set(statuses(base.out).values()) == {"Synced"}
    return base


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str
    seconds: float


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPS_", "FLEET_HANDSHAKE_"))}
    env.update(extra or {})
    return env


def run_tool(
    args: list[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
    memory_mb: int | None = None,
    prefix: tuple[str, ...] = (),
) -> Result:
    """The real command line in a child process, with --debug so that any traceback shows."""

    def limit() -> None:  # runs in the child, before exec
        if memory_mb is not None:
            size = memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (size, size))

    start = time.monotonic()
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "fleethandshake", "--debug", *args],
        capture_output=True,
        text=True,
        env=child_env(env),
        cwd=cwd,
        timeout=timeout,
        preexec_fn=limit if memory_mb is not None else None,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file below `path` (or the file itself, as ""), symbolic links as their target text."""
    if path.is_symlink():
        return {"": b"-> " + os.fsencode(os.readlink(path))}
    if path.is_file():
        return {"": path.read_bytes()}
    tree: dict[str, bytes] = {}
    if not path.is_dir():
        return tree
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path).as_posix()
        if p.is_symlink():
            tree[rel] = b"-> " + os.fsencode(os.readlink(p))
        elif p.is_file():
            tree[rel] = p.read_bytes()
    return tree


def bundles_only(tree: Mapping[str, bytes]) -> dict[str, bytes]:
    return {p: c for p, c in tree.items() if not p.startswith(".fleet-handshake/")}


def statuses(out: Path) -> dict[str, str]:
    doc = json.loads((out / ".fleet-handshake" / "status.json").read_text())
    return {h["name"]: h["status"] for h in doc["handshakes"]}


def staging_leftovers(out: Path) -> list[str]:
    parent = out.parent
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{out.name}{STAGING_MARK}"))


@dataclass
class Case:
    """One folder of `cases/`, as its case.yaml describes it.

    about: what is hostile here; exit: the expected exit code; stderr (stdout): fragments that
    must appear, naming the file and the YAML path; output: `unchanged` (OUT byte for byte),
    `bundles-kept` (every bundle byte for byte, status files may change), `baseline` (OUT equals
    the baseline's, e.g. after tampering with OUT) or `written` (only well-formed paths);
    status: handshake name -> status word in status.json. Optional: args (placeholders
    {source}, {out}, {tmp}, {key_file}, {other_key_file} and what prepare adds), env, remove
    (baseline files to delete), prepare (a function of prepare.py), environment
    (`readonly-parent`, `full-disk`), canaries (more values that must not leak), seconds
    and memory_mb (limits of the run), decrypt_paths (`inprocess`, `binary`).
    """

    name: str
    folder: Path
    about: str
    exit: int
    stderr: list[str]
    output: str  # unchanged | bundles-kept | baseline | written
    args: list[str] = field(default_factory=lambda: ["generate", "{source}", "--out", "{out}"])
    env: dict[str, str] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    prepare: str | None = None
    environment: str | None = None
    status: dict[str, str] = field(default_factory=dict)
    canaries: list[str] = field(default_factory=list)
    stdout: list[str] = field(default_factory=list)
    seconds: float = 30.0
    memory_mb: int | None = None
    # Decryption cases run twice: in-process (the default) and with the sops binary, the reference.
    decrypt_paths: list[str] = field(default_factory=lambda: ["default"])

    @classmethod
    def load(cls, folder: Path) -> Case:
        doc = yaml.safe_load((folder / "case.yaml").read_text())
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        unknown = set(doc) - set(known)
        assert not unknown, f"{folder.name}/case.yaml: unknown fields {sorted(unknown)}"
        assert known.get("output") in ("unchanged", "bundles-kept", "baseline", "written"), folder.name
        return cls(name=folder.name, folder=folder, **known)


def all_cases() -> list[Case]:
    return [Case.load(p) for p in sorted(CASES.iterdir()) if (p / "case.yaml").is_file()]


DECRYPT_PATH_ENV = {"default": {}, "inprocess": {}, "binary": {"FLEET_HANDSHAKE_SOPS_INPROCESS": "0"}}


@dataclass
class Context:
    """What a case runs in: its own copies of the baseline, and the values for placeholders."""

    base: Baseline
    tmp: Path
    source: Path
    out: Path
    tmpdir: Path
    vars: dict[str, str] = field(default_factory=dict)
    canaries: list[str] = field(default_factory=list)
    after: list[Callable[[Result], None]] = field(default_factory=list)  # extra checks a prepare adds
    observed_out: Path = Path()  # where OUT can be inspected after the run (a copy, for a tmpfs)

    @property
    def repo(self) -> SourceRepo:
        return SourceRepo(self.source, self.base.key)

    def fill(self, text: str) -> str:
        values = {
            "source": str(self.source),
            "out": str(self.out),
            "tmp": str(self.tmp),
            "key_file": str(self.base.key.key_file),
            "other_key_file": str(self.base.other_key.key_file),
            **self.vars,
        }
        return text.format(**values)


def set_up(case: Case, base: Baseline, tmp: Path) -> Context:
    # OUT has a folder of its own: the lock and the staging folder live in OUT's parent.
    source, out, tmpdir = tmp / "source", tmp / "work" / "out", tmp / "tmpdir"
    shutil.copytree(base.source, source, symlinks=True)
    shutil.copytree(base.out, out, symlinks=True)
    tmpdir.mkdir()
    ctx = Context(base, tmp, source, out, tmpdir, canaries=[*CANARIES, *case.canaries])
    ctx.observed_out = out
    overlay = case.folder / "source"
    if overlay.is_dir():
        shutil.copytree(overlay, source, dirs_exist_ok=True)
    for rel in case.remove:
        (source / rel).unlink()
    return ctx
