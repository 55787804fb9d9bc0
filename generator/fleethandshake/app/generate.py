"""`fleet-handshake generate`: source -> bundle folders, written atomically."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..adapters.fs import spare
from ..adapters.fs.lock import output_lock
from ..adapters.fs.tree import OutputTree, read_tree
from ..core.models import Status
from ..errors import EXIT_FAILED, EXIT_OK, UsageError, UserError

if TYPE_CHECKING:
    from ..adapters.background import Background
    from ..core import output
    from . import downstream

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


def guard_removals(old: Mapping[str, bytes], comp: output.Composition, allow: bool) -> None:
    """Refuse (UserError, before anything is written) a run that would remove bundles it
    cannot account for: see core/removals.py."""
    from ..core import removals

    verdict = removals.check(old, comp, allow=allow)
    if verdict.refused:
        raise UserError(verdict.message())


def write(out: Path, comp: output.Composition, old: OutputTree) -> tuple[str, ...]:
    from ..adapters.fs import swap
    from ..core import output

    changed = tuple(output.changed_paths(old, comp.tree))
    if changed:
        clear = tuple("/" + name for name in output.clear_text_files())
        secret_paths = {p for p in comp.tree if p.endswith(clear)}
        swap.write_tree(out, comp.tree, old, secret_paths)
    elif old:
        spare.tidy_spare(out, old)  # OUT may have been changed by others (git) since the last write
    return changed


def generate(
    src: Path,
    out: Path,
    *,
    sops_binary: str | None = None,
    say: Say = print,
    mode: str | None = None,
    kube: downstream.KubeOptions | None = None,
    allow_removals: bool = False,
) -> GenerateResult:
    check_paths(src, out)
    with output_lock(out), start_reading(out) as reading:
        # A forked child reads OUT from here on, while this process imports the rest of the
        # run's code and loads the source.
        from ..adapters.sops import age
        from . import downstream
        from . import source as source_loader
        from .build import build, read_out_and_source

        identities = age.load_identities(os.environ)  # once per run: a SOPS_AGE_KEY_CMD runs once
        old, loaded = read_out_and_source(out, lambda cache: source_loader.load(src, out, cache), identities, reading)
        from ..adapters.gitplace import output_branch

        sync = downstream.Sync(old, kube, loaded, branch=output_branch(out))  # recorded on each Secret
        result = build(src, old, sops_binary=sops_binary, say=say, loaded=loaded, mode=mode,
                       reuse_downstream=False, claim=sync.claim, identities=identities)  # fmt: skip
        guard_removals(old, result.composition, allow_removals)
        sync.apply(result)  # the Secrets exist before the bundles that reference them are written
        comp = sync.plan_prune(result, old)  # the Secrets to delete, listed in status.json
        changed = write(out, comp, old)
        sync.prune()  # and old ones go only after
        for line in sync.other_branches:
            say(line)
    return GenerateResult(comp, changed)


@contextlib.contextmanager
def start_reading(out: Path) -> Iterator[Background[OutputTree] | None]:
    """OUT's files, read by a forked child from now on (None when there is no OUT yet). Call it
    holding the output lock; the child is stopped when the block ends."""
    if not out.is_dir():
        yield None
        return
    from ..adapters.background import Background

    with Background(read_tree, out) as reading:
        yield reading


def run(src: Path, out: Path, *, sops_binary: str | None, quiet: bool, mode: str | None = None,
        context: str | None = None, kubeconfig: str | None = None, allow_removals: bool = False) -> int:  # fmt: skip
    def say(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr)

    kube = None  # the defaults: downstream is imported by generate(), once the child reading OUT runs
    if context is not None or kubeconfig is not None:
        from . import downstream

        kube = downstream.KubeOptions(context=context, kubeconfig=kubeconfig)
    result = generate(src, out, sops_binary=sops_binary, say=say, mode=mode, kube=kube, allow_removals=allow_removals)
    from ..core import report

    tell(result.composition, report.generate_summary(result.composition, result.changed_files, str(out)), quiet, say)
    return result.exit_code


def tell(comp: output.Composition, summary: str, quiet: bool, say: Say) -> None:
    """A run's `summary` and plain mode's warning through `say`; with `quiet` ("errors only"),
    the handshakes that make the run exit 1 still say why, on stderr."""
    from ..core import report

    say(summary)
    if quiet:
        for row in report.handshake_rows(comp, failed_only=True):
            print(row, file=sys.stderr)
    warning = report.plain_warning(comp.tree)
    if warning is not None:
        say(warning)
