"""Build the next output tree in memory: decrypt, render each handshake in its delivery mode,
seal sops-mode files, and collect the Secrets downstream mode puts on the management cluster."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..adapters import templates
from ..adapters.fs import tree as fs
from ..adapters.sops import age, decrypt
from ..core import bundles, output, render, report, state
from ..core.models import Handshake, SourceSecret, Status
from ..errors import InvalidInputs
from ..modes import modes
from ..modes.base import Mode
from . import inplace, seal
from . import source as source_loader

if TYPE_CHECKING:
    from ..adapters.background import Background

Say = Callable[[str], None]
# (handshake, management Secret) pairs -> refusals by (workspace, handshake): see build's `claim`
Claim = Callable[[list[tuple[Handshake, dict[str, Any]]]], Mapping[tuple[str, str], str]]


@dataclass(frozen=True)
class Build:
    composition: output.Composition
    management: tuple[dict[str, Any], ...]  # Secrets to apply, of Synced handshakes
    downstream: frozenset[tuple[str, str]]  # every handshake whose mode writes there, whatever its status


@dataclass
class _Work:
    hs: Handshake
    mode: Mode
    digest: str
    outcome: output.Outcome | None = None
    rendered: render.Rendered | None = None
    verified: str | None = None  # the output MAC checked when the handshake was reused as it was
    values: tuple[tuple[str, str], ...] | None = None  # keyed value digests of what was rendered
    meta: tuple[tuple[str, str], ...] | None = None  # keyed digests of its type, labels, annotations
    undecrypted: bool = False  # sops could not decrypt its Secret's file


def handshake_mode(hs: Handshake, loaded: source_loader.LoadedSource, mode: str | None) -> Mode:
    return modes()[hs.mode or mode or loaded.config.mode]


def build(
    src: Path,
    old: Mapping[str, bytes],
    *,
    sops_binary: str | None = None,
    say: Say = print,
    loaded: source_loader.LoadedSource | None = None,
    mode: str | None = None,
    reuse_downstream: bool = True,
    claim: Claim | None = None,
    identities: age.AgeIdentities | None = None,
) -> Build:
    """`claim`: asked, once every handshake is rendered, about the management-cluster Secrets of
    the Synced downstream handshakes; each handshake it names turns Error with its message
    (previous bundles kept), and the others go on. `identities`: the run's age identities, when
    the caller loaded them already (a SOPS_AGE_KEY_CMD runs once per run)."""
    loaded = loaded or source_loader.load(src, None)
    check_names(loaded, mode)
    binary = decrypt.find_binary(sops_binary)
    context = _context()
    identities = identities or age.load_identities(os.environ)
    key = identities.state_key()
    previous = state.parse_state(old.get(state.STATE_FILE), context, key) if key else {}
    old_by_dir = output.group_by_bundle(old)
    by_ref = {(s.namespace, s.name): s for s in loaded.source.secrets}
    work: list[_Work] = []
    todo: list[tuple[_Work, SourceSecret]] = []
    for hs in loaded.source.handshakes:
        hs_mode = handshake_mode(hs, loaded, mode)
        secret = by_ref.get((hs.secret_namespace, hs.secret_name))
        item = _Work(hs, hs_mode, "")
        work.append(item)
        if secret is None:
            item.outcome = output.Outcome(
                hs, Status.MISSING, f"no Secret {hs.secret_namespace}/{hs.secret_name} in the source"
            )
            continue
        recipients = tuple(loaded.config.recipients_for(t) for t in hs.targets) if hs_mode.seals else ()
        extra = f"{context}|{json.dumps([loaded.identity, hs_mode.name, list(recipients)])}"
        item.digest = state.input_digest(hs, loaded.sha256(secret.file), secret.document, extra)
        entry = previous.get((hs.workspace, hs.name))
        reusable = reuse_downstream or not hs_mode.elsewhere
        if reusable and key is not None and entry is not None and entry.inputs == item.digest:
            files = {p: c for d in entry.bundles for p, c in old_by_dir.get(d, {}).items()}
            if all(d in old_by_dir for d in entry.bundles) and state.output_mac(key, files) == entry.output:
                item.outcome = output.Outcome(hs, Status.SYNCED, _synced_message(hs), files)
                item.verified = entry.output
                continue  # same inputs, untouched output: no decryption, no rendering
        todo.append((item, secret))
    files_needed = sorted({s.file for _, s in todo})
    if len(files_needed) > 20:
        say(f"decrypting {len(files_needed)} files ...")
    env = render.make_environment(templates.sources()) if todo else None
    _decrypt_and_render(env, decrypt.SopsDecryptor(binary, identities=identities), todo, loaded, key)
    inplace.refuse(work, old, old_by_dir, previous, key)  # before sealing: a refused one is not sealed
    sealed = seal.seal([w for w in work if w.rendered and w.rendered.sealed], old, previous, key, binary)
    if claim is not None:
        _claim(claim, work)
    outcomes = [w.outcome for w in work if w.outcome is not None]
    warning = report.undelivered_warning([(w.hs.ref, w.mode.name, w.rendered.undelivered) for w in work
                                          if w.rendered and w.rendered.undelivered and w.outcome
                                          and w.outcome.status is Status.SYNCED])  # fmt: skip
    if warning is not None:
        say(warning)  # written this run: the Secrets reused as they were were warned about when written
    reused = len(work) - len(todo) - sum(1 for w in work if w.outcome and w.outcome.status is Status.MISSING)
    failed = len({s.file for w, s in todo if w.undecrypted})
    comp = replace(output.compose(old, outcomes, loaded.identity), decrypted_files=len(files_needed) - failed,
                   decrypt_failed=failed, reused=reused)  # fmt: skip
    if key is not None:
        entries = _entries(comp, work, sealed, previous, key)
        comp.tree[state.STATE_FILE] = state.state_json(entries, context, key, loaded.records)
    elif state.STATE_FILE in old and output.group_by_bundle(comp.tree) == output.group_by_bundle(old):
        # No age identity this run (a missing key, say): the state it cannot sign still describes
        # every bundle, so it stays for the next run that has the key (else every SopsSecret is sealed anew).
        comp.tree[state.STATE_FILE] = old[state.STATE_FILE]
    synced = {(c.workspace, c.name) for c in comp.changes if c.status is Status.SYNCED}
    management = tuple(
        doc for w in work if w.rendered and (w.hs.workspace, w.hs.name) in synced for doc in w.rendered.management
    )
    downstream = frozenset((w.hs.workspace, w.hs.name) for w in work if w.mode.elsewhere)
    return Build(comp, management, downstream)


def _claim(claim: Claim, work: list[_Work]) -> None:
    wanted = [
        (w.hs, doc)
        for w in work
        if w.rendered and w.outcome and w.outcome.status is Status.SYNCED
        for doc in w.rendered.management
    ]
    if not wanted:
        return
    refused = claim(wanted)
    for w in work:
        message = refused.get((w.hs.workspace, w.hs.name))
        if message is not None:
            w.outcome = output.Outcome(w.hs, Status.ERROR, message)
            w.rendered = None


def _context() -> str:
    return f"{__version__}|{render.OUTPUT_FORMAT}|{templates.digest()}"


def read_out_and_source(
    out: Path,
    load: Callable[[Mapping[str, tuple[str, Any]]], source_loader.LoadedSource],
    identities: age.AgeIdentities,
    reading: Background[fs.OutputTree] | None = None,
) -> tuple[fs.OutputTree, source_loader.LoadedSource]:
    """OUT's files and the loaded source, read at the same time: a forked child reads OUT (every
    file of it, a few thousand) while this process loads the source, with the parse cache from
    OUT's state file. The child sends the files back through a pipe, never a file. `reading`:
    that child, started by the caller (see `generate.start_reading`)."""
    if not out.is_dir():
        return fs.read_tree(out), load(cached_sources({}, identities))
    from ..adapters.background import Background

    state_file = fs.read_output_file(out, state.STATE_FILE)
    with reading or Background(fs.read_tree, out) as child:
        loaded = load(cached_sources({state.STATE_FILE: state_file} if state_file is not None else {}, identities))
        old = child.result()
    return old, loaded


def cached_sources(old: Mapping[str, bytes], identities: age.AgeIdentities) -> Mapping[str, tuple[str, Any]]:
    """The last run's parse cache, when this run may trust it (same tool, templates and key)."""
    key = identities.state_key()
    return state.parse_sources(old.get(state.STATE_FILE), _context(), key) if key else {}


def check_names(loaded: source_loader.LoadedSource, mode: str | None) -> None:
    """Names that would make one handshake's bundle or Secret another's: refused before anything
    is decrypted or written (InvalidInputs), since either order of writing would lose one."""
    chosen = [(h, handshake_mode(h, loaded, mode)) for h in loaded.source.handshakes]
    problems = bundles.folder_clashes((h, m.name) for h, m in chosen)
    if any(m.elsewhere for _, m in chosen):
        bundle_names = {(b.workspace, b.name) for h, m in chosen for b in bundles.bundles_for(h, m.name)}
        for each in modes().values():
            problems += each.clashes([h for h, m in chosen if m is each], bundle_names)
    if problems:
        raise InvalidInputs(problems)


def _synced_message(hs: Handshake) -> str:
    count = sum(1 for t in hs.targets if not t.do_not_deploy)
    return f"delivered through {count} bundle{'s' if count != 1 else ''}"


_SHARE = 64  # below this many files to decrypt, a second process costs more than it saves

# What a child sends back: status, message, files, value and metadata digests, and whether decryption failed.
_Digests = tuple[tuple[str, str], ...] | None
_Result = tuple[Status, str, dict[str, bytes], _Digests, _Digests, bool]


def _decrypt_and_render(
    env: Any,
    decryptor: decrypt.SopsDecryptor,
    todo: list[tuple[_Work, SourceSecret]],
    loaded: source_loader.LoadedSource,
    key: bytes | None,
) -> None:
    """Decrypt and render every item. With many files (a first run), plain-mode handshakes of
    every second file are done in a forked child, on the second core.

    The child sends back the rendered files, the very bytes this process writes into OUT next,
    through a pipe: never a file. Downstream and sops modes, whose results hold SecretValues,
    are always done here.
    """
    by_file: dict[str, list[tuple[_Work, SourceSecret]]] = {}
    for item, secret in todo:
        by_file.setdefault(secret.file, []).append((item, secret))
    shareable = [
        f for f, items in sorted(by_file.items()) if all(not (i.mode.seals or i.mode.elsewhere) for i, _ in items)
    ]
    theirs = set(shareable[1::2]) if len(by_file) >= _SHARE else set()
    mine = [pair for f in sorted(by_file) if f not in theirs for pair in by_file[f]]
    child_items = [pair for f in sorted(theirs) for pair in by_file[f]]
    if not child_items:
        _decrypt_and_render_here(env, decryptor, mine, loaded, key)
        return
    from ..adapters.background import Background

    with Background(_decrypt_and_render_here, env, decryptor, child_items, loaded, key) as child:
        _decrypt_and_render_here(env, decryptor, mine, loaded, key)
        results = child.result()
    for (item, _), (status, message, files, values, meta, undecrypted) in zip(child_items, results, strict=True):
        item.outcome = output.Outcome(item.hs, status, message, files)
        item.rendered = render.Rendered(files) if status is Status.SYNCED else None
        item.values, item.meta = values, meta
        item.undecrypted = undecrypted


def _decrypt_and_render_here(
    env: Any,
    decryptor: decrypt.SopsDecryptor,
    todo: list[tuple[_Work, SourceSecret]],
    loaded: source_loader.LoadedSource,
    key: bytes | None,
) -> list[_Result]:
    files = sorted({s.file for _, s in todo})
    decrypted = decryptor.decrypt_all(
        [loaded.root / f for f in files], {loaded.root / f: loaded.contents[f] for f in files}
    )
    results: list[_Result] = []
    for item, secret in todo:
        _render(env, item, secret, decrypted[loaded.root / secret.file], loaded, key)
        done = item.outcome
        assert done is not None
        results.append((done.status, done.message, dict(done.files), item.values, item.meta, item.undecrypted))
    return results


def _render(
    env: Any,
    item: _Work,
    secret: SourceSecret,
    result: list[Any] | decrypt.DecryptFailure,
    loaded: source_loader.LoadedSource,
    key: bytes | None,
) -> None:
    hs = item.hs
    if isinstance(result, decrypt.DecryptFailure):
        item.undecrypted = True
        item.outcome = output.Outcome(hs, Status.ERROR, f"cannot decrypt {secret.file}: {result.reason}")
        return
    doc = result[secret.document] if secret.document < len(result) else None
    if secret.item is not None:  # an item of a List
        items = doc.get("items") if isinstance(doc, dict) else None
        doc = items[secret.item] if isinstance(items, list) and secret.item < len(items) else None
    if not isinstance(doc, dict):
        item.outcome = output.Outcome(
            hs, Status.ERROR, f"{secret.file}: decrypted document {secret.document} is missing"
        )
        return
    try:
        plain = render.plain_secret(doc, secret.name)
        revision = hashlib.sha256(loaded.contents[secret.file]).hexdigest()[:16]  # of ciphertext: reveals nothing
        item.rendered = item.mode.render(env, hs, plain, loaded.config.recipients_for, revision, loaded.identity)
        item.values = state.value_digests(key, plain) if key is not None else None  # for the state
        item.meta = state.meta_digests(key, plain) if key is not None else None
    except render.RenderError as e:
        item.outcome = output.Outcome(hs, Status.ERROR, f"Secret {secret.ref} in {secret.file}: {e}")
        return
    item.outcome = output.Outcome(hs, Status.SYNCED, _synced_message(hs), dict(item.rendered.files))


def _entries(
    comp: output.Composition,
    work: list[_Work],
    sealed: Mapping[str, str],
    previous: Mapping[tuple[str, str], state.Entry],
    key: bytes,
) -> dict[tuple[str, str], state.Entry]:
    by_dir = output.group_by_bundle(comp.tree)
    by_ref = {(w.hs.workspace, w.hs.name): w for w in work}
    entries = {}
    for change in comp.changes:
        ref = (change.workspace, change.name)
        w = by_ref.get(ref)
        if change.status is Status.SYNCED and w is not None and w.digest:
            files = {p: c for d in change.bundles for p, c in by_dir.get(d, {}).items()}
            # A handshake reused as a whole keeps the sealed digests of the run that made its files.
            before = dict(previous[ref].sealed) if ref in previous else {}
            seals = tuple(sorted((p, sealed.get(p) or before[p]) for p in files if p in sealed or p in before))
            # None when reused as it was: then the digests of the run that made it
            values = w.values if w.values is not None else previous[ref].keys if ref in previous else ()
            meta = w.meta if w.meta is not None else previous[ref].meta if ref in previous else ()
            mac = w.verified or state.output_mac(key, files)  # reused files: the MAC just checked
            entries[ref] = state.Entry(w.digest, mac, change.bundles, seals, values, meta)
        elif change.status is not Status.SYNCED and ref in previous:
            # Kept bundles (Missing, Error) keep their entry while it still describes them: once the
            # handshake is back with the same inputs, its files are reused, not sealed anew.
            entry = previous[ref]
            files = {p: c for d in change.bundles for p, c in by_dir.get(d, {}).items()}
            if set(entry.bundles) == set(change.bundles) and state.output_mac(key, files) == entry.output:
                entries[ref] = entry
    return entries
