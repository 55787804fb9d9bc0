"""`fleet-handshake gitrepo`: print the GitRepo manifests for the output."""

from __future__ import annotations

import sys
from pathlib import Path

from ..core import gitrepo
from ..errors import EXIT_OK, UsageError
from . import source as source_loader


def run(src: Path, *, repo: str, branch: str, out_path: str, name: str, client_secret: str | None) -> int:
    loaded = source_loader.load(src, None)
    workspaces = {h.workspace for h in loaded.source.handshakes}
    if not workspaces:
        raise UsageError(f"no FleetHandshake in {src}: nothing to point a GitRepo at")
    try:
        docs = gitrepo.gitrepo_documents(workspaces, repo=repo, branch=branch, out_path=out_path, name=name,
                                         client_secret=client_secret)  # fmt: skip
    except ValueError as e:
        raise UsageError(str(e)) from None
    sys.stdout.write(gitrepo.to_multidoc(docs))
    return EXIT_OK
