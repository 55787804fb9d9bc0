"""The delivery map: what every cluster of the inventory receives from the output tree.

Not a change: the whole picture, per cluster, of the Secrets the rendered source delivers (its
namespace and name, handshake, bundle, mode and data key NAMES). Clusters come from the
inventory and bundles are resolved to clusters by the plan's resolver (core/matching.py through
app/plan.py's resolver_for), so the map and the plan can never disagree about who gets what.
Never a value: bundle views carry them wrapped, and only their key names are taken here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .bundleview import BundleView
from .conflicts import Resolve, labelled
from .describe import describe_target
from .inventory import Inventory
from .matching import DISPLAY_NAME_LABEL


@dataclass(frozen=True, order=True)
class Delivery:
    """One Secret a cluster receives, from one bundle. The JSON map holds these fields (camelCase)."""

    namespace: str  # on the cluster: the bundle's target namespace
    name: str  # the Secret's name
    handshake: str
    target: str  # the handshake target the bundle is for, in words
    bundle: str  # the Bundle's name
    path: str  # its folder in the output, workspace/bundle
    keys: tuple[str, ...]  # data key names
    mode: str  # delivery mode: plain, sops or downstream

    @property
    def secret(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ClusterDeliveries:
    workspace: str
    cluster: str
    display_name: str | None
    deliveries: tuple[Delivery, ...]  # sorted by namespace, name, handshake

    @property
    def label(self) -> str:
        """As the plan shows a cluster: `prod-frankfurt (c-m-2bn8v6xt)`."""
        return labelled(self.cluster, self.display_name)


@dataclass(frozen=True)
class Unreached:
    """A handshake none of whose bundles reaches a cluster of the inventory."""

    workspace: str
    handshake: str
    secrets: tuple[str, ...]  # namespace/name it delivers
    bundles: tuple[str, ...]  # its bundle folders


@dataclass(frozen=True)
class Group:
    """Clusters of one workspace that receive exactly the same deliveries."""

    workspace: str
    deliveries: tuple[Delivery, ...]
    clusters: tuple[ClusterDeliveries, ...]


@dataclass(frozen=True)
class DeliveryMap:
    workspaces: tuple[str, ...]  # of the inventory and of the bundles, sorted
    clusters: tuple[ClusterDeliveries, ...]  # every cluster of the inventory, by workspace and label
    unreached: tuple[Unreached, ...]

    @property
    def receiving(self) -> int:
        return sum(1 for c in self.clusters if c.deliveries)

    @property
    def deliveries(self) -> int:
        return sum(len(c.deliveries) for c in self.clusters)

    def clusters_in(self, workspace: str) -> tuple[ClusterDeliveries, ...]:
        return tuple(c for c in self.clusters if c.workspace == workspace)

    def groups(self, workspace: str) -> tuple[Group, ...]:
        """The workspace's clusters grouped by what they receive: most clusters first, the
        clusters that receive nothing last."""
        by_set: dict[tuple[Delivery, ...], list[ClusterDeliveries]] = {}
        for c in self.clusters_in(workspace):
            by_set.setdefault(c.deliveries, []).append(c)
        ordered = sorted(by_set.items(), key=lambda kv: (not kv[0], -len(kv[1]), kv[0]))
        return tuple(Group(workspace, deliveries, tuple(clusters)) for deliveries, clusters in ordered)


def build(views: Mapping[str, BundleView], resolve: Resolve, inventory: Inventory) -> DeliveryMap:
    """The map of the bundles in `views` (read from the rendered output tree) over `inventory`."""
    received: dict[tuple[str, str], list[Delivery]] = {}
    reach: dict[tuple[str, str], bool] = {}
    secrets: dict[tuple[str, str], set[str]] = {}
    folders: dict[tuple[str, str], list[str]] = {}
    for view in sorted(views.values(), key=lambda v: v.path):
        delivery = Delivery(
            namespace=view.target_namespace or "", name=view.secret_name or "", handshake=view.handshake,
            target=describe_target(view.target), bundle=view.name, path=view.path, keys=view.keys, mode=view.mode,
        )  # fmt: skip
        clusters = resolve(view.workspace, view.target, view.earlier)
        for cluster in clusters:
            received.setdefault((view.workspace, cluster), []).append(delivery)
        key = (view.workspace, view.handshake)
        reach[key] = reach.get(key, False) or bool(clusters)
        secrets.setdefault(key, set()).add(delivery.secret)
        folders.setdefault(key, []).append(view.path)
    entries = [
        ClusterDeliveries(c.workspace, c.name, c.label_map.get(DISPLAY_NAME_LABEL),
                          tuple(sorted(received.get((c.workspace, c.name), ()))))
        for c in inventory.clusters
    ]  # fmt: skip
    entries.sort(key=lambda c: (c.workspace, c.label))
    unreached = tuple(
        Unreached(ws, hs, tuple(sorted(secrets[ws, hs])), tuple(folders[ws, hs]))
        for ws, hs in sorted(reach)
        if not reach[ws, hs]
    )
    workspaces = tuple(sorted(set(inventory.workspaces) | {ws for ws, _ in reach}))
    return DeliveryMap(workspaces, tuple(entries), unreached)
