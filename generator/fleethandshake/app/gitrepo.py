"""`fleet-handshake gitrepo`: print the Fleet GitRepo manifests that point Fleet at the output, one
per workspace.

No `targets`: every bundle carries its own overrideTargets. No `targetNamespace`: it would
override each bundle's namespace. Fleet reads each of `paths` as a glob (`filepath.Glob` in
`fleet apply`, internal/cmd/cli/apply/apply.go globDirs): `*`, `?` and `[` in the output folder's
path are written as one-character classes (`[*]`), which match only themselves there.
"""

from __future__ import annotations

import posixpath
import re
import sys
from pathlib import Path
from typing import Any

from ..core import giturl, names
from ..core.render import to_yaml
from ..errors import EXIT_OK, UsageError
from . import source as source_loader

_GLOB = re.compile(r"([*?\[])")


def _literal(path: str) -> str:
    """`path` as a glob that matches only itself, in Go's filepath.Match and in Python's fnmatch."""
    return _GLOB.sub(r"[\1]", path)


def run(src: Path, *, repo: str, branch: str, out_path: str, name: str, client_secret: str | None) -> int:
    problem = giturl.repo_url_problem(repo)
    if problem is not None:
        raise UsageError(f"--repo {problem}: Fleet's GitRepo cannot clone from it. Give {giturl.EXAMPLES}")
    # Fleet follows `master` when spec.branch is empty (gitcloner/cloner.go, defaultBranch): an
    # empty `--branch "$VAR"` would deliver whatever that other branch holds.
    problem = "is empty: Fleet would follow `master` instead" if not branch else giturl.branch_problem(branch)
    if problem is not None:
        raise UsageError(f"--branch {branch!r} {problem}: give the branch that holds the output")
    loaded = source_loader.load(src, None)
    workspaces = {h.workspace for h in loaded.source.handshakes}
    if not workspaces:
        raise UsageError(f"no FleetHandshake in {src}: nothing to point a GitRepo at")
    problem = names.dns1123_label_problem(name)
    if problem is not None:
        raise UsageError(f"GitRepo name {name!r} {problem}")
    problem = names.dns1123_subdomain_problem(client_secret) if client_secret else None
    if problem is not None:  # Fleet would look for a Secret that cannot exist, and fail at the clone
        raise UsageError(f"--client-secret {client_secret!r} {problem}")
    prefix = posixpath.normpath(out_path.strip("/") or ".")  # as Fleet joins it to its checkout
    if prefix == ".." or prefix.startswith("../"):
        raise UsageError(f"--out-path {out_path!r} leaves the repository: give the output folder's path inside it")
    if "\\" in prefix:  # Go's glob reads it as an escape, git as part of a name: never a separator
        raise UsageError(f"--out-path {out_path!r} holds a backslash: separate folders with '/'")
    prefix = "" if prefix == "." else _literal(prefix)
    for ws in sorted(workspaces):
        spec: dict[str, Any] = {"repo": repo, "branch": branch, "paths": [f"{prefix}/{ws}" if prefix else ws]}
        if client_secret:
            spec["clientSecretName"] = client_secret
        doc = {
            "apiVersion": "fleet.cattle.io/v1alpha1",
            "kind": "GitRepo",
            "metadata": {"name": name, "namespace": ws, "labels": {"app.kubernetes.io/managed-by": "fleet-handshake"}},
            "spec": spec,
        }
        sys.stdout.write(f"---\n{to_yaml(doc)}\n")
    return EXIT_OK
