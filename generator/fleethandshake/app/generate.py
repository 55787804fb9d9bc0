"""`fleet-handshake generate`: source -> bundle folders, written atomically."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import __version__
from ..adapters import agekeys, fs, sops, templates
from ..core import output, render, report, state
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
    context = f"{__version__}|{templates.digest()}|plain"
    key = agekeys.state_key()
    previous = state.parse_state(old.get(state.STATE_FILE), context, key) if key else {}
    outcomes, digests, decrypted, reused = _outcomes(loaded, decryptor, env, say, old, previous, key, context)
    comp = replace(output.compose(old, outcomes), decrypted_files=decrypted, reused=reused)
    if key is not None:
        comp.tree[state.STATE_FILE] = state.state_json(_entries(comp, digests, key), context, key)
    return comp


def _entries(
    comp: output.Composition, digests: Mapping[tuple[str, str], str], key: bytes
) -> dict[tuple[str, str], state.Entry]:
    by_dir = output.group_by_bundle(comp.tree)
    entries = {}
    for change in comp.changes:
        ref = (change.workspace, change.name)
        if change.status is Status.SYNCED and ref in digests:
            files = {p: c for d in change.bundles for p, c in by_dir.get(d, {}).items()}
            entries[ref] = state.Entry(digests[ref], state.output_mac(key, files), change.bundles)
    return entries


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
    loaded: source_loader.LoadedSource,
    decryptor: sops.SopsDecryptor,
    env: Any,
    say: Say,
    old: Mapping[str, bytes],
    previous: Mapping[tuple[str, str], state.Entry],
    key: bytes | None,
    context: str,
) -> tuple[list[output.Outcome], dict[tuple[str, str], str], int, int]:
    """Each handshake's outcome, the input digests, files decrypted and handshakes reused."""
    by_ref = {(s.namespace, s.name): s for s in loaded.source.secrets}
    old_by_dir = output.group_by_bundle(old)
    outcomes: list[output.Outcome] = []
    digests: dict[tuple[str, str], str] = {}
    todo: list[tuple[Handshake, SourceSecret]] = []
    reused = 0
    for hs in loaded.source.handshakes:
        secret = by_ref.get((hs.secret_namespace, hs.secret_name))
        if secret is None:
            outcomes.append(_outcome(env, hs, None, {}))
            continue
        digest = state.input_digest(hs, loaded.contents[secret.file], secret.document, context)
        digests[(hs.workspace, hs.name)] = digest
        entry = previous.get((hs.workspace, hs.name))
        if entry is not None and key is not None and entry.inputs == digest:
            files = {p: c for d in entry.bundles for p, c in old_by_dir.get(d, {}).items()}
            if all(d in old_by_dir for d in entry.bundles) and state.output_mac(key, files) == entry.output:
                # Same inputs, untouched output: reuse it without decrypting or rendering.
                outcomes.append(output.Outcome(hs, Status.SYNCED, _synced_message(hs), files))
                reused += 1
                continue
        todo.append((hs, secret))
    files_needed = sorted({s.file for _, s in todo})
    if len(files_needed) > 20:
        say(f"decrypting {len(files_needed)} files ...")
    decrypted = decryptor.decrypt_all(loaded.root / f for f in files_needed)
    documents = {f: _reason_or_docs(decrypted[loaded.root / f]) for f in files_needed}
    outcomes += [_outcome(env, hs, secret, documents) for hs, secret in todo]
    return outcomes, digests, len(files_needed), reused


def _synced_message(hs: Handshake) -> str:
    count = len(hs.targets)
    return f"delivered through {count} bundle{'s' if count != 1 else ''}"


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
    return output.Outcome(hs, Status.SYNCED, _synced_message(hs), files)


def run(src: Path, out: Path, *, sops_binary: str | None, quiet: bool) -> int:
    def say(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr)

    result = generate(src, out, sops_binary=sops_binary, say=say)
    say(report.generate_summary(result.composition, result.changed_files, str(out)))
    say(f"warning: {report.PLAIN_WARNING}")
    return result.exit_code
