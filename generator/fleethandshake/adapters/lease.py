"""One active controller at a time: the kubernetes client's own leader election
(`kubernetes.leaderelection`) over a coordination.k8s.io/v1 Lease.

The client's election loop runs in a daemon thread and cannot be stopped from outside; once
`stop()` is called its lock answers every call as failed without touching the API (so the loop
idles until the process ends), and the Lease is released (holder cleared) so that another
replica takes over at its next try instead of waiting for the lease to expire.

The election itself notices a lost Lease only when its renewals fail for the renew deadline, and
not at all while a renewal hangs (a call without an answer) or the process is paused: `holds()`
also asks that the last successful renewal began less than the renew deadline ago, by this
process's monotonic clock (another replica takes over only after the longer lease duration).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock import leaselock

_LeaseLock: Any = leaselock.LeaseLock  # untyped library classes
_election: Any = leaderelection
_config: Any = electionconfig
RELEASE_TIMEOUT = (5.0, 5.0)  # connect, read: per call of the release; the Lease expires anyway

# The election logs every failed try with the API's answer (a Lease, or a Status): not a secret,
# but noise at INFO every retry period.
logging.getLogger("leaderelection").setLevel(logging.WARNING)


class _NoAnswer:
    """What the election reads from a failed `get` that had no API answer: no body, so it waits."""

    body = None
    reason = "no answer from the Kubernetes API"


class _Lock(_LeaseLock):  # type: ignore[misc]
    """LeaseLock on the controller's own API client; failed (without a request) once stopped,
    and failed rather than raising when the API cannot be reached."""

    def __init__(self, name: str, namespace: str, identity: str, api_client: Any, stopped: threading.Event) -> None:
        super().__init__(name, namespace, identity)
        self.api_instance = client.CoordinationV1Api(api_client)
        self._stopped = stopped
        self.renewed: float | None = None  # monotonic time the last successful write began

    def get(self, name: str, namespace: str) -> tuple[bool, Any]:
        if self._stopped.is_set():
            return False, _NoAnswer()
        try:
            found: tuple[bool, Any] = super().get(name, namespace)
            return found
        except Exception:  # urllib3 errors: the API is unreachable for now
            return False, _NoAnswer()

    def create(self, name: str, namespace: str, election_record: Any) -> bool:
        return self._write(super().create, name, namespace, election_record)

    def update(self, name: str, namespace: str, updated_record: Any) -> bool:
        return self._write(super().update, name, namespace, updated_record)

    def _write(self, call: Any, name: str, namespace: str, record: Any) -> bool:
        if self._stopped.is_set():
            return False
        began = time.monotonic()
        try:
            done = bool(call(name, namespace, record))
        except Exception:  # urllib3 errors: the API is unreachable for now
            return False
        if done:  # the record written is always this replica's (create, acquire or renew)
            self.renewed = began
        return done


class Election:
    """`leading` is set from when this replica acquires the Lease until the election gives it up;
    `holds()` says whether it may still act on it."""

    def __init__(
        self,
        api_client: Any,
        namespace: str,
        name: str,
        identity: str,
        *,
        lease_duration: int = 15,
        renew_deadline: int = 10,
        retry_period: int = 2,
    ) -> None:
        self.leading, self._stopped = threading.Event(), threading.Event()
        self.namespace, self.name, self.identity = namespace, name, identity
        self._api = client.CoordinationV1Api(api_client)
        self._renew_deadline = float(renew_deadline)
        self._lock = lock = _Lock(name, namespace, identity, api_client, self._stopped)
        config = _config.Config(lock, lease_duration, renew_deadline, retry_period,
                                       self.leading.set, self.leading.clear)  # fmt: skip
        self._election = _election.LeaderElection(config)

    def start(self) -> None:
        threading.Thread(target=self._election.run, name="lease-election", daemon=True).start()

    def holds(self) -> bool:
        """This replica leads and renewed the Lease less than the renew deadline ago: safe to write."""
        renewed = self._lock.renewed
        fresh = renewed is not None and time.monotonic() - renewed < self._renew_deadline
        return fresh and self.leading.is_set() and not self._stopped.is_set()

    def stop(self) -> None:
        """Stop taking part; release the Lease if this replica holds it."""
        self._stopped.set()
        if not self.leading.is_set():
            return
        self.leading.clear()
        try:
            lease = self._api.read_namespaced_lease(self.name, self.namespace, _request_timeout=RELEASE_TIMEOUT)
            if lease.spec is not None and lease.spec.holder_identity == self.identity:
                lease.spec.holder_identity = None
                self._api.replace_namespaced_lease(self.name, self.namespace, lease, _request_timeout=RELEASE_TIMEOUT)
        except Exception as e:  # best effort: the Lease then expires after its duration
            message = e.status if isinstance(e, ApiException) else type(e).__name__
            logging.getLogger(__name__).warning(
                "could not release Lease %s/%s (%s)", self.namespace, self.name, message
            )
