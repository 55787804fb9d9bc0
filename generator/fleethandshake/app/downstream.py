"""Downstream mode's other half: the Secrets on the management cluster that Fleet copies.

Order matters: Secrets are applied before the bundles that reference them are written (or
pushed), and owned Secrets that are no longer wanted are removed only after. Secrets of
handshakes that are Missing or Error stay, like their bundles; Secrets we do not own are never
touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.models import LABEL_HANDSHAKE, LABEL_MANAGED_BY, LABEL_WORKSPACE, MANAGER, Status
from ..core.output import owned_bundles
from ..core.records import dataclass
from ..core.render import MARKER_YAML
from .build import Build

OWNED_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGER}"


@dataclass(frozen=True)
class KubeOptions:
    context: str | None = None
    kubeconfig: str | None = None


class Sync:
    def __init__(self, result: Build, old: Mapping[str, bytes], options: KubeOptions | None) -> None:
        self.result = result
        self.options = options or KubeOptions()
        had_downstream = {p.split("/", 1)[0] for p in old if p.endswith("/" + MARKER_YAML)}
        if had_downstream:  # only then is it worth reading which bundles are ours
            had_downstream &= {ws for (ws, _name), dirs in owned_bundles(old).items() if dirs}
        self.workspaces = sorted({ws for ws, _ in result.downstream} | had_downstream)
        self._store: Any = None

    @property
    def needed(self) -> bool:
        return bool(self.workspaces)

    def _client(self) -> Any:
        if self._store is None:
            from ..adapters.kube import SecretStore  # the kubernetes client costs ~1 s to import

            self._store = SecretStore(context=self.options.context, kubeconfig=self.options.kubeconfig)
        return self._store

    def apply(self) -> None:
        # owner_labels: a same-named Secret that fleet-handshake does not own is refused, not overwritten.
        for manifest in self.result.management:
            labels = manifest["metadata"]["labels"]
            owner = {k: labels[k] for k in (LABEL_MANAGED_BY, LABEL_WORKSPACE, LABEL_HANDSHAKE)}
            self._client().apply(manifest, owner_labels=owner)

    def prune(self) -> list[str]:
        """Delete owned Secrets whose handshake is gone (or no longer downstream); return their names."""
        if not self.needed:
            return []
        wanted = {(m["metadata"]["namespace"], m["metadata"]["name"]) for m in self.result.management}
        not_synced = {(c.workspace, c.name) for c in self.result.composition.changes if c.status is not Status.SYNCED}
        removed = []
        for ws in self.workspaces:
            for owned in self._client().list_owned(ws, OWNED_SELECTOR):
                handshake = owned.labels.get(LABEL_HANDSHAKE, "")
                if (ws, owned.name) in wanted or (ws, handshake) in not_synced & self.result.downstream:
                    continue
                labels = {LABEL_MANAGED_BY: MANAGER, LABEL_WORKSPACE: ws, LABEL_HANDSHAKE: handshake}
                if self._client().delete_owned(ws, owned.name, labels):
                    removed.append(f"{ws}/{owned.name}")
        return removed
