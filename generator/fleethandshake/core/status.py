"""Whether each handshake's Secret reached each cluster: OUT's bundles joined with what Fleet reports.

Pure: the Bundles, BundleDeployments, Clusters and ClusterGroups come in as the API server
returned them (adapters/fleetapi.py reads them), OUT's bundles as read from its tree or rendered
from the source, and target matching as the plan's resolver. A cluster counts as delivered when
Fleet's state of its BundleDeployment is Ready and that deployment is labelled with the commit OUT
is at (core/fleetstate.py says where those facts come from).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import fleetstate as fleet
from .bundleview import BundleView
from .conflicts import Resolve
from .models import LABEL_HANDSHAKE, LABEL_MANAGED_BY, MANAGER
from .output import group_by_bundle
from .ownership import Ownership

ABSENT = "Absent"  # not a Fleet state: Fleet has no Bundle of that name at all
MANAGED_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGER}"


@dataclass(frozen=True)
class Expected:
    """One bundle of OUT (or of the source): where it is, whose it is, which clusters it targets."""

    workspace: str
    name: str
    handshake: str
    target: Mapping[str, Any]
    earlier: tuple[Mapping[str, Any], ...] = ()
    secret: str = ""  # the Secret's name, and the namespace it goes to, for the report
    namespace: str = ""

    @classmethod
    def from_view(cls, view: BundleView) -> Expected:
        return cls(view.path.split("/", 1)[0], view.name, view.handshake, view.target, view.earlier,
                   view.secret_name or "", view.target_namespace or "")  # fmt: skip


@dataclass(frozen=True)
class Delivery:
    """One bundle on one cluster."""

    workspace: str
    handshake: str
    bundle: str
    cluster: str  # the Fleet Cluster's name
    display: str  # Rancher's display name, else the name
    state: str  # one of fleet.STATES, or ABSENT
    message: str
    commit: str  # the commit the cluster's BundleDeployment is labelled with ("" unknown)
    ready: bool  # Ready, at the commit OUT is at


@dataclass(frozen=True)
class Extra:
    """A fleet-handshake Bundle of this source that Fleet still has and OUT no longer has."""

    workspace: str
    name: str
    handshake: str
    clusters: tuple[str, ...]  # display names of the clusters it is still deployed to


@dataclass(frozen=True)
class NotSynced:
    """A handshake OUT records as not Synced (status.json): its previous bundles are kept, so what
    Fleet delivers for it is not the source's Secret as it is now."""

    workspace: str
    name: str
    status: str  # Missing, Error, ...
    message: str


@dataclass(frozen=True)
class Report:
    commit: str | None  # the commit OUT is at; None: not known (status of a source)
    deliveries: tuple[Delivery, ...]
    absent: tuple[str, ...] = ()  # ws/bundle of OUT that Fleet has no Bundle for
    extra: tuple[Extra, ...] = ()
    unmatched: tuple[str, ...] = ()  # ws/bundle of OUT that targets no cluster
    secrets: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (ws, handshake) -> "ns/secret"
    not_synced: tuple[NotSynced, ...] = ()
    uncommitted: tuple[str, ...] = ()  # ws/bundle folders of OUT's work tree that differ from OUT's commit
    lost: tuple[str, ...] = ()  # ws/bundle that status.json lists for a Synced handshake and OUT lacks

    @property
    def ready(self) -> bool:
        return (all(d.ready for d in self.deliveries) and not self.absent and not self.extra and not self.not_synced
                and not self.uncommitted and not self.lost)  # fmt: skip

    def not_ready(self) -> tuple[str, ...]:
        """The clusters (display names) where some delivery is not Ready at OUT's commit."""
        return tuple(sorted({d.display for d in self.deliveries if not d.ready}))

    def counts(self) -> tuple[int, int]:
        """(Ready deliveries, all deliveries)."""
        return sum(1 for d in self.deliveries if d.ready), len(self.deliveries)


@dataclass(frozen=True)
class Live:
    """What Fleet has, per workspace: as the API server returned the objects."""

    bundles: Sequence[Mapping[str, Any]]
    deployments: Sequence[Mapping[str, Any]]
    display: Mapping[tuple[str, str], str]  # (workspace, cluster) -> display name
    resolve: Resolve


def _display(live: Live, workspace: str, cluster: str) -> str:
    return live.display.get((workspace, cluster), cluster)


def _deployments(live: Live) -> dict[tuple[str, str], dict[str, Mapping[str, Any]]]:
    """BundleDeployments by (workspace, bundle), then by cluster (the Cluster's name)."""
    found: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}
    for bd in live.deployments:
        labels = fleet.labels_of(bd)
        bundle, workspace = labels.get(fleet.BUNDLE_LABEL), labels.get(fleet.BUNDLE_NAMESPACE_LABEL)
        cluster = labels.get(fleet.CLUSTER_LABEL)
        if bundle and workspace and cluster and labels.get(fleet.CLUSTER_NAMESPACE_LABEL, workspace) == workspace:
            found.setdefault((workspace, bundle), {})[cluster] = bd
    return found


def _delivery(bundle: Expected, cluster: str, display: str, bd: Mapping[str, Any] | None, commit: str | None,
              has_bundle: bool) -> Delivery:  # fmt: skip
    if not has_bundle:
        message = "Fleet has no Bundle of this name: no GitRepo points at OUT, or it has not read OUT's commit yet"
        return Delivery(bundle.workspace, bundle.handshake, bundle.name, cluster, display, ABSENT, message, "", False)
    if bd is None:
        message = "no BundleDeployment for this cluster yet: Fleet has not scheduled the bundle there"
        return Delivery(bundle.workspace, bundle.handshake, bundle.name, cluster, display, fleet.PENDING, message, "",
                        False)  # fmt: skip
    wanted = fleet.effective(bd)
    state, message = fleet.deployment_state(wanted), fleet.deployment_message(wanted)
    if wanted is not bd and not message:
        message = "the Bundle's newest content is not rolled out to this cluster yet (an earlier one is deployed)"
    at = fleet.labels_of(bd).get(fleet.COMMIT_LABEL, "")
    current = commit is None or at == commit
    if state == fleet.READY and not current:
        message = f"Ready at commit {at[:12] or '(none)'}, not yet at OUT's commit {commit[:12] if commit else ''}"
    return Delivery(bundle.workspace, bundle.handshake, bundle.name, cluster, display, state, message, at,
                    state == fleet.READY and current)  # fmt: skip


def uncommitted(committed: Mapping[str, bytes], work: Mapping[str, bytes]) -> tuple[str, ...]:
    """The bundle folders (ws/bundle) whose files fleet-handshake writes differ between OUT's
    commit and its work tree: added, changed or removed and not committed, so not what Fleet reads."""
    at, now = group_by_bundle(committed), group_by_bundle(work)
    return tuple(sorted(d for d in at.keys() | now.keys() if at.get(d) != now.get(d)))


def report(expected: Iterable[Expected], live: Live, commit: str | None, owner: Ownership,
           not_synced: Iterable[NotSynced] = (), changed: Iterable[str] = (),
           lost: Iterable[str] = ()) -> Report:  # fmt: skip
    """Every (bundle, cluster) OUT targets or Fleet deployed it to; OUT's bundles Fleet lacks; this
    source's Bundles that Fleet has and OUT no longer has (`owner` says which are this source's);
    OUT's handshakes not Synced, its bundle folders not committed (`changed`) and those its
    status.json lists that it lacks (`lost`), as given."""
    expected = sorted(expected, key=lambda e: (e.workspace, e.handshake, e.name))
    by_bundle = _deployments(live)
    present = {fleet.name_of(b) for b in live.bundles}
    deliveries: list[Delivery] = []
    absent, unmatched = [], []
    for bundle in expected:
        key = (bundle.workspace, bundle.name)
        deployed = by_bundle.get(key, {})
        targeted = live.resolve(bundle.workspace, bundle.target, bundle.earlier)
        clusters = sorted(set(targeted) | set(deployed))  # a deployment Fleet made counts, matched or not
        if key not in present:
            absent.append(f"{bundle.workspace}/{bundle.name}")
        if not clusters:
            unmatched.append(f"{bundle.workspace}/{bundle.name}")
        for cluster in clusters:
            display = _display(live, bundle.workspace, cluster)
            deliveries.append(_delivery(bundle, cluster, display, deployed.get(cluster), commit, key in present))
    wanted = {(e.workspace, e.name) for e in expected}
    extra = []
    for obj in live.bundles:
        key, labels = fleet.name_of(obj), fleet.labels_of(obj)
        if key in wanted or not owner.owns(labels):
            continue
        on = sorted({_display(live, key[0], c) for c in by_bundle.get(key, {})})
        extra.append(Extra(key[0], key[1], labels.get(LABEL_HANDSHAKE, ""), tuple(on)))
    secrets = {(e.workspace, e.handshake): f"{e.namespace}/{e.secret}" for e in expected if e.secret}
    deliveries.sort(key=lambda d: (d.workspace, d.handshake, d.display, d.cluster, d.bundle))
    stale = tuple(sorted(not_synced, key=lambda n: (n.workspace, n.name)))
    return Report(commit, tuple(deliveries), tuple(absent), tuple(sorted(extra, key=lambda x: (x.workspace, x.name))),
                  tuple(unmatched), secrets, stale, tuple(sorted(changed)), tuple(sorted(lost)))  # fmt: skip
