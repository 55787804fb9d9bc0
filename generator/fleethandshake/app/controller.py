"""`fleet-handshake controller`: reconcile every FleetHandshake object of the cluster, as the
original operator did, from the same core as `generate` (app/reconcile.py).

Built on the kubernetes client's own `watch.Watch` and `leaderelection` (README: "Controller
mode" says why not kopf). Two informers (list, then watch from the list's resourceVersion, list
again on 410 Gone or a failure): FleetHandshakes, kept in a cache, and Secrets as metadata only,
mapped to the handshakes that read them or whose downstream copy they are (app/secretindex.py).
Handshakes are indexed by what they deliver too: of two that may fight over one Secret on a
cluster, the newer is Error until the older one is gone or changed (app/rivals.py).
A deleted handshake is queued once more, to release or delete the copies it kept for other
handshakes (Reconciler.clean_up). Changes, a periodic resync and retries with exponential
backoff go through one work queue that hands a handshake to one worker at a time. Only the
replica that holds the Lease works; /healthz answers while the process runs its loops, /readyz
once it leads and has listed the handshakes. SIGTERM stops it cleanly (Lease released).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..adapters.health import HealthServer
from ..adapters.kubeclient import KubeError
from ..adapters.kubeobjects import HANDSHAKES, SECRETS, KubeGone, KubeObjects, Resource
from ..core.models import Status
from .reconcile import MODES, Reconciler
from .rivals import Delivery, DeliveryIndex, delivery_of
from .secretindex import COPIES, READS, SecretIndex, kept_for, read_by
from .workqueue import KeyLocks, WorkQueue

WORKER_GRACE = 70.0  # seconds a stop waits for its workers: longer than one API call may take (kubeclient.TIMEOUT)
log = logging.getLogger("fleet-handshake.controller")
Key = tuple[str, str]  # (namespace, name) of a handshake
_SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class Settings:
    mode: str = "plain"
    workers: int = 4
    resync: float = 300.0  # seconds between full resyncs
    watch_timeout: int = 300  # seconds a watch request lasts before it is made again
    backoff: tuple[float, float] = (1.0, 300.0)  # first and longest retry delay after an error
    health_address: str = "0.0.0.0"  # noqa: S104  # probed by the kubelet from outside the pod
    health_port: int | None = 8080  # None: no health endpoint; 0: any free port
    leader_election: bool = True
    lease_namespace: str = "default"
    lease_name: str = "fleet-handshake-controller"
    lease_timing: tuple[int, int, int] = (15, 10, 2)  # duration, renew deadline, retry period (seconds)


class Controller:
    def __init__(self, api: KubeObjects, settings: Settings | None = None) -> None:
        self.api, self.settings = api, settings or Settings()
        self.reconciler = Reconciler(api, self.settings.mode, self._is_read)
        api.may_write = self.leads  # a replica that lost the Lease sends no write, not even the rest of a reconcile
        self.queue: WorkQueue[Key] = WorkQueue()
        self.stopping = threading.Event()
        self.synced = threading.Event()  # the handshakes were listed once
        self.identity = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.health: HealthServer | None = None
        self._lock = threading.Lock()
        self._cache: dict[Key, dict[str, Any]] = {}
        self._by_secret = SecretIndex(self.settings.mode)
        self._by_delivery = DeliveryIndex()  # the others a handshake is checked against (app/rivals.py)
        self.deliveries: KeyLocks[Delivery] = KeyLocks()  # rivals are reconciled one at a time
        self._failures: dict[Key, int] = {}
        self._election: Any = None
        self._workers: list[threading.Thread] = []

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> int:
        """Run until stop() (0), or until the Lease is lost (1: restart to take part again)."""
        if self.settings.health_port is not None:
            checks = {"/healthz": lambda: not self.stopping.is_set(), "/readyz": self.ready}
            self.health = HealthServer(self.settings.health_address, self.settings.health_port, checks)
            self.health.start()
            log.info("health endpoint on %s:%d (/healthz, /readyz)", self.settings.health_address, self.health.port)
        try:
            if self.settings.leader_election and not self._lead():
                return 0 if self.stopping.is_set() else 1
            self._start(
                "handshakes informer", lambda: self._inform(HANDSHAKES, self._handshakes_listed, self._handshake_event)
            )
            self._start("secrets informer", lambda: self._inform(SECRETS, self._secrets_listed, self._secret_event))
            for n in range(self.settings.workers):
                self._workers.append(self._start(f"worker-{n}", self._work))
            self._start("resync", self._resync)
            while not self.stopping.wait(0.5):
                if not self.leads():
                    log.error("lost the Lease %s/%s: stopping", self.settings.lease_namespace, self.settings.lease_name)
                    return 1
            return 0
        finally:
            self.stopping.set()
            self.queue.shutdown()
            self._wait_for_workers()
            if self._election is not None:
                self._election.stop()
            if self.health is not None:
                self.health.stop()
            log.info("stopped")

    def _wait_for_workers(self) -> None:
        """A worker still reconciling acts on its copy of a handshake: were the Lease released
        first, it could delete a Bundle that the next leader has just applied for it."""
        busy = [worker for worker in self._workers if worker.is_alive()]
        if busy:
            log.info("stopping: waiting for %d worker(s) to finish their reconcile", len(busy))
        deadline = time.monotonic() + WORKER_GRACE  # for all of them, not each in turn
        for worker in busy:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))

    def ready(self) -> bool:
        return self.leads() and self.synced.is_set() and not self.stopping.is_set()

    def leads(self) -> bool:
        """Holds the Lease, renewed within its renew deadline (always, without leader election)."""
        return self._election is None or self._election.holds()

    def _lead(self) -> bool:
        """Wait until this replica holds the Lease (True) or is stopped (False)."""
        from ..adapters.lease import Election

        s = self.settings
        duration, deadline, retry = s.lease_timing
        self._election = Election(self.api.api_client, s.lease_namespace, s.lease_name, self.identity,
                                  lease_duration=duration, renew_deadline=deadline, retry_period=retry)  # fmt: skip
        self._election.start()
        log.info("waiting for the Lease %s/%s as %s", s.lease_namespace, s.lease_name, self.identity)
        while not self._election.leading.wait(0.2):
            if self.stopping.is_set():
                return False
        log.info("leading: holds the Lease %s/%s", s.lease_namespace, s.lease_name)
        return True

    def _start(self, name: str, target: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread

    def _inform(self, res: Resource, listed: Callable[[list[dict[str, Any]], bool], None],
                changed: Callable[[str, dict[str, Any]], None]) -> None:  # fmt: skip
        """List, then watch from the list's version; list again when the watch is gone or fails."""
        failures, first = 0, True
        while not self.stopping.is_set():
            try:
                items, version = self.api.list(res)
                listed(items, first)
                failures, first = 0, False
                while not self.stopping.is_set():
                    for kind, obj in self.api.watch(res, version, self.settings.watch_timeout):
                        version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                        if kind != "BOOKMARK":
                            changed(kind, obj)
                        if self.stopping.is_set():
                            return
            except KubeGone:
                log.info("watch of %s expired: listing again", res.plural)
            except KubeError as e:
                failures += 1
                log.warning("%s; retrying", e)
                self.stopping.wait(self._delay(failures))

    def _handshakes_listed(self, items: list[dict[str, Any]], first: bool) -> None:
        with self._lock:
            gone = set(self._cache)
            self._cache.clear()
            self._by_secret.clear()
            self._by_delivery.clear()
            for obj in items:
                self._remember(obj)
            gone -= set(self._cache)
        for key in gone:  # deleted while the watch was down: its kept copies (Reconciler.clean_up)
            self.queue.add(key)
        self._enqueue_all()
        self.synced.set()

    def _handshake_event(self, kind: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        with self._lock:
            old = self._forget(key)
            new = None if kind == "DELETED" else obj
            if new is not None:
                self._remember(new)
            # It starts or stops reading a Secret: the handshake whose copy that is applies it
            # again, without its owner reference or with it.
            before, after = (read_by(o) if o is not None else None for o in (old, new))
            changed = [s for s in (before, after) if s is not None] if before != after else []
            copiers = [k for s in changed for k in self._by_secret.holding(s, COPIES)]
            # Those delivering what it delivered or delivers: one it refused may deliver now.
            rivals = {k for o in (old, new) if o is not None for k in self._by_delivery.holding(delivery_of(o))}
        for copier in copiers:
            self.queue.add(copier)
        # Deleted, it is queued once more for Reconciler.clean_up: its Bundles and copies go with it
        # (the garbage collector follows their owner reference), not the copies it kept for others.
        # A write of its status alone (this controller's own) changes no generation and no annotation.
        fields = ("uid", "generation", "annotations")
        if new is None or old is None or any(_meta(old, f) != _meta(new, f) for f in fields):
            for other in [key, *sorted(rivals - {key})]:
                self.queue.add(other)

    def _secrets_listed(self, items: list[dict[str, Any]], first: bool) -> None:
        # Copies kept for other handshakes by a handshake deleted while no controller watched:
        # cleaned up, once the handshakes are known (clean_up also reads the handshake itself).
        while not self.synced.wait(0.1):
            if self.stopping.is_set():
                return
        with self._lock:
            orphans = {key for item in items if (key := kept_for(item)) is not None and key not in self._cache}
        for key in orphans:
            self.queue.add(key)
        if not first:  # listed again after a gap: any Secret may have changed meanwhile
            self._enqueue_all()

    def _secret_event(self, kind: str, obj: dict[str, Any]) -> None:
        """Its readers reconcile; the handshake whose copy it is (or would be) only when it is
        deleted: the copy recreated, or its name free for a handshake that found it taken."""
        meta = obj.get("metadata") or {}
        secret = (str(meta.get("namespace")), str(meta.get("name")))
        with self._lock:
            keys = self._by_secret.holding(secret, READS, COPIES if kind == "DELETED" else READS)
        for key in keys:
            self.queue.add(key)

    def _is_read(self, namespace: str, name: str) -> bool:
        """Some handshake names the Secret as its own (a copy that is one is never deleted)."""
        with self._lock:
            return bool(self._by_secret.holding((namespace, name), READS))

    def _others(self, key: Key, obj: dict[str, Any]) -> list[dict[str, Any]]:
        """The other handshakes that deliver its Secret name into its namespace, as cached."""
        with self._lock:
            return [self._cache[k] for k in self._by_delivery.holding(delivery_of(obj)) if k != key]

    def _remember(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        self._cache[key] = obj
        self._by_secret.add(key, obj)
        self._by_delivery.add(key, obj)

    def _forget(self, key: Key) -> dict[str, Any] | None:
        old = self._cache.pop(key, None)
        if old is not None:
            self._by_secret.discard(key, old)
            self._by_delivery.discard(key, old)
        return old

    def _work(self) -> None:
        while (key := self.queue.get()) is not None:
            try:
                with self._lock:
                    obj = self._cache.get(key)
                self._reconcile(key, obj)
            finally:
                self.queue.done(key)

    def _reconcile(self, key: Key, obj: dict[str, Any] | None) -> None:
        """Reconcile the handshake, or clean up after it when it is gone."""
        name = "/".join(key) + (" (deleted)" if obj is None else "")
        try:
            if obj is None:
                result = self.reconciler.clean_up(*key)
            else:  # a rival's status written by the time its others are read: both never deliver
                with self.deliveries.held(delivery_of(obj)):
                    result = self.reconciler.reconcile(obj, self._others(key, obj))
            if result is None:  # gone, and nothing of it to clean up
                self._failures.pop(key, None)
                return
        except Exception as e:  # a bug must not stop the worker. Its type and where, never its
            # message: that may quote what the code held (logging.exception would print it).
            where = "".join(traceback.format_tb(e.__traceback__)).rstrip()
            log.error("FleetHandshake %s: unexpected %s; retrying\n%s", name, type(e).__name__, where)
            result = None
        # A clean-up's outcome is no status of a handshake: its message alone.
        said = result and (
            result.message if obj is None and result.status is Status.SYNCED else f"{result.status}: {result.message}"
        )
        if result is not None and not result.retry:
            self._failures.pop(key, None)
            calm = (Status.SYNCED, Status.MISSING, Status.PENDING)  # Pending: being deleted (reconcile.DELETING)
            level = logging.INFO if result.status in calm else logging.WARNING
            log.log(level, "FleetHandshake %s: %s", name, said)
            return
        self._failures[key] = failures = self._failures.get(key, 0) + 1
        delay = self._delay(failures)
        if result is not None:
            log.warning("FleetHandshake %s: %s; retrying in %.0fs", name, said, delay)
        self.queue.add_after(key, delay)

    def _delay(self, failures: int) -> float:
        first, longest = self.settings.backoff
        return float(min(longest, first * 2 ** min(failures - 1, 30)))

    def _resync(self) -> None:
        while not self.stopping.wait(self.settings.resync):
            self._enqueue_all()

    def _enqueue_all(self) -> None:
        with self._lock:
            keys = list(self._cache)
        for key in keys:
            self.queue.add(key)


def _meta(obj: dict[str, Any], field: str) -> Any:
    return (obj.get("metadata") or {}).get(field)


def default_lease_namespace() -> str:
    """The pod's namespace (POD_NAMESPACE, or the service account's), else `default`."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        return _SA_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


def run(*, kubeconfig: str | None, context: str | None, mode: str, workers: int, resync: float,
        health_port: int, leader_election: bool, lease_name: str, lease_namespace: str | None) -> int:  # fmt: skip
    from ..errors import UsageError

    if mode not in MODES:
        raise UsageError(f"--mode {mode}: controller mode delivers with {' or '.join(MODES)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings(mode=mode, workers=workers, resync=resync, health_port=health_port or None,
                        leader_election=leader_election, lease_name=lease_name,
                        lease_namespace=lease_namespace or default_lease_namespace())  # fmt: skip
    controller = Controller(KubeObjects(context, kubeconfig), settings)
    signal.signal(signal.SIGTERM, lambda signum, frame: controller.stop())
    signal.signal(signal.SIGINT, lambda signum, frame: controller.stop())
    return controller.run()
