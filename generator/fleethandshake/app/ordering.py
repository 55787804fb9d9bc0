"""publish never replaces output generated from a newer source with output from an older one.

The guard names this run's source (its commit, when the source is a clean git work tree, and a
digest of the files read) and compares it, after every fetch, with what the newest
fleet-handshake commit of the output branch records. See core/provenance.py for the rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path

from ..adapters import git as gitx
from ..adapters.fs import source as fs
from ..core import provenance as prov
from ..core.config import CONFIG_FILE
from ..errors import StaleSource, UnorderedSource, UserError
from .source import LoadedSource


def _read_by_publish(rel: str) -> bool:
    """Whether the source scan reads the file at `rel` (below SOURCE) when it exists."""
    if rel == CONFIG_FILE:
        return True
    return rel.endswith(fs.SOURCE_SUFFIXES) and not any(part.startswith(".") for part in rel.split("/"))


def source_digest(loaded: LoadedSource) -> str:
    files = [(path, loaded.sha256(path)) for path in loaded.contents]
    config, _ = fs.read_source_file(loaded.root, CONFIG_FILE)
    if config is not None:
        files.append((CONFIG_FILE, hashlib.sha256(config).hexdigest()))
    return prov.source_digest(files)


class Guard:
    def __init__(
        self,
        src: Path,
        out: Path,
        ws: gitx.Workspace,
        loaded: LoadedSource,
        *,
        allow_unordered: bool,
        say: Callable[[str], None],
    ) -> None:
        self.ws, self.allow_unordered, self.say = ws, allow_unordered, say
        self.checkout = gitx.SourceCheckout.find(src)
        # The source is a folder of the work tree being published: it moves on with the branch.
        self.inside = self.checkout is not None and src.resolve().is_relative_to(ws.root.resolve())
        changes = self.checkout.changes(src, out) if self.checkout is not None else []
        self.changed = tuple(p for p in changes if _read_by_publish(p))
        # The commit the source is at; with uncommitted changes, only to tell a newer one that descends from it.
        self.base = self.checkout.head() if self.checkout is not None else None
        self.ours = prov.Provenance(source_digest(loaded), None if self.changed else self.base)
        self._relations: dict[str, prov.Relation] = {}
        self._warned = False

    def check(self, remote_head: str | None) -> UserError | None:
        """The refusal to raise (once the caller has dropped its own unpushed commit), or None."""
        ws = self.ws
        where = f"{ws.remote}/{ws.branch}" if ws.remote else f"branch {ws.branch}"
        return self._refusal(ws.recorded(remote_head or ws.head()), where)

    def check_secret(self, namespace: str, name: str, annotations: Mapping[str, str]) -> UserError | None:
        """The same rule for a management Secret about to be applied (downstream mode), from what
        its annotations record: a run that lost the race to a newer one never writes its values
        over the newer run's, even before the branch tells it apart."""
        where = f"Secret {namespace}/{name} on the management cluster"
        return self._refusal(prov.from_annotations(annotations), where)

    def _refusal(self, theirs: prov.Provenance | None, where: str) -> UserError | None:
        relation = None
        if self.checkout and theirs and theirs.commit and self.base and theirs.digest != self.ours.digest:
            relation = self._relations.get(theirs.commit) or self.checkout.relation(self.base, theirs.commit)
            if relation not in (prov.Relation.SHALLOW, prov.Relation.MISSING):  # a fetch may still tell
                self._relations[theirs.commit] = relation  # git asked once per commit, not once per Secret
        decision = prov.decide(self.ours, theirs, relation, where=where, changed=self.changed, base=self.base)
        if decision.verdict is prov.Verdict.STALE:
            return StaleSource(decision.message)
        if decision.verdict is prov.Verdict.UNORDERED:
            if not self.allow_unordered:
                return UnorderedSource(decision.message)
            if not self._warned:  # once per run, whether the branch or a Secret could not tell
                self._warned = True
                self.say(f"publishing although the order of the sources cannot be told ({prov.ALLOW_OPTION})")
        return None

    def record(self, loaded: LoadedSource) -> prov.Provenance:
        """What the commit about to be made was generated from."""
        if not self.inside:
            return self.ours
        # Read from the work tree, which may have moved onto newer commits: its HEAD is the source.
        return prov.Provenance(source_digest(loaded), None if self.changed else self.ws.head())
