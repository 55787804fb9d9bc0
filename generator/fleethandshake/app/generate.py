"""`fleet-handshake generate`: source -> bundle folders, written atomically."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..adapters import fs, sops, templates
from ..core import output, render, report
from ..core.models import Handshake, SourceSecret, Status
from ..errors import EXIT_FAILED, EXIT_OK, UsageError
from . import source as source_loader

Say = Callable[[str], None]


@dataclass(frozen=True)
class GenerateResult:
    composition: output.Composition
    changed_files: tuple[str, ...]

    @property
    def exit_code(self) -> int:
        ok = all(c.status is Status.SYNCED for c in self.composition.changes)
        return EXIT_OK if ok else EXIT_FAILED


def check_paths(src: Path, out: Path) -> None:
    s, o = src.resolve(), out.resolve()
    if s == o or s.is_relative_to(o):
        raise UsageError("the output folder must not be the source folder or contain it")


def build(
    src: Path,
    old: Mapping[str, bytes],
    *,
    sops_binary: str | None = None,
    say: Say = print,
    loaded: source_loader.LoadedSource | None = None,
) -> output.Composition:
    """Everything generate does, in memory: the next output tree, composed over `old`."""
    loaded = loaded or source_loader.load(src, None)
    decryptor = sops.SopsDecryptor(sops.find_binary(sops_binary))
    env = render.make_environment(templates.loader())
    outcomes = _outcomes(loaded.root, loaded.source.handshakes, loaded.source.secrets, decryptor, env, say)
    return output.compose(old, outcomes)


def write(out: Path, comp: output.Composition, old: Mapping[str, bytes]) -> tuple[str, ...]:
    changed = tuple(output.changed_paths(old, comp.tree))
    if changed:
        secret_paths = {p for p in comp.tree if p.endswith("/" + render.SECRET_YAML)}
        fs.write_tree(out, comp.tree, old, secret_paths)
    return changed


def generate(src: Path, out: Path, *, sops_binary: str | None = None, say: Say = print) -> GenerateResult:
    check_paths(src, out)
    loaded = source_loader.load(src, out)
    with fs.output_lock(out):
        old = fs.read_tree(out)
        comp = build(src, old, sops_binary=sops_binary, say=say, loaded=loaded)
        changed = write(out, comp, old)
    return GenerateResult(comp, changed)


def _outcomes(
    root: Path,
    handshakes: tuple[Handshake, ...],
    secrets: tuple[SourceSecret, ...],
    decryptor: sops.SopsDecryptor,
    env: Any,
    say: Say,
) -> list[output.Outcome]:
    by_ref = {(s.namespace, s.name): s for s in secrets}
    wanted = {hs: by_ref.get((hs.secret_namespace, hs.secret_name)) for hs in handshakes}
    files = sorted({s.file for s in wanted.values() if s is not None})
    if len(files) > 20:
        say(f"decrypting {len(files)} files with sops ...")
    decrypted = decryptor.decrypt_all(root / f for f in files)
    documents = {f: _reason_or_docs(decrypted[root / f]) for f in files}
    outcomes = []
    for hs, secret in wanted.items():
        outcomes.append(_outcome(env, hs, secret, documents))
    return outcomes


def _reason_or_docs(result: list[Any] | sops.DecryptFailure) -> list[Any] | str:
    return result.reason if isinstance(result, sops.DecryptFailure) else result


def _outcome(
    env: Any, hs: Handshake, secret: SourceSecret | None, documents: Mapping[str, list[Any] | str]
) -> output.Outcome:
    if secret is None:
        return output.Outcome(hs, Status.MISSING, f"no Secret {hs.secret_namespace}/{hs.secret_name} in the source")
    docs = documents[secret.file]
    if isinstance(docs, str):
        return output.Outcome(hs, Status.ERROR, f"cannot decrypt {secret.file}: {docs}")
    doc = docs[secret.document] if secret.document < len(docs) else None
    if not isinstance(doc, dict):
        return output.Outcome(hs, Status.ERROR, f"{secret.file}: decrypted document {secret.document} is missing")
    try:
        plain = render.plain_secret(doc, secret.name)
        files = render.render_handshake(env, hs, plain)
    except render.RenderError as e:
        return output.Outcome(hs, Status.ERROR, f"Secret {secret.ref} in {secret.file}: {e}")
    count = len(hs.targets)
    return output.Outcome(hs, Status.SYNCED, f"delivered through {count} bundle{'s' if count != 1 else ''}", files)


def run(src: Path, out: Path, *, sops_binary: str | None, quiet: bool) -> int:
    def say(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr)

    result = generate(src, out, sops_binary=sops_binary, say=say)
    say(report.generate_summary(result.composition, result.changed_files, str(out)))
    say(f"warning: {report.PLAIN_WARNING}")
    return result.exit_code
