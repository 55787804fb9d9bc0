"""Fleet GitRepo manifests that point Fleet at the generated output, one per workspace."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import names
from .render import to_yaml


def gitrepo_documents(
    workspaces: Iterable[str],
    *,
    repo: str,
    branch: str,
    out_path: str = "",
    name: str = "fleet-handshake-bundles",
    client_secret: str | None = None,
) -> list[dict[str, Any]]:
    """No `targets`: every bundle carries its own overrideTargets. No `targetNamespace`: it
    would override each bundle's namespace."""
    problem = names.dns1123_label_problem(name)
    if problem is not None:
        raise ValueError(f"GitRepo name {name!r} {problem}")
    prefix = out_path.strip("/")
    docs = []
    for ws in sorted(set(workspaces)):
        spec: dict[str, Any] = {"repo": repo, "branch": branch, "paths": [f"{prefix}/{ws}" if prefix else ws]}
        if client_secret:
            spec["clientSecretName"] = client_secret
        docs.append({
            "apiVersion": "fleet.cattle.io/v1alpha1",
            "kind": "GitRepo",
            "metadata": {"name": name, "namespace": ws,
                         "labels": {"app.kubernetes.io/managed-by": "fleet-handshake"}},
            "spec": spec,
        })  # fmt: skip
    return docs


def to_multidoc(docs: list[dict[str, Any]]) -> str:
    return "".join(f"---\n{to_yaml(d)}\n" for d in docs)
