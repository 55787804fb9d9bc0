"""status's pure parts: Fleet's state of a BundleDeployment, the wait loop, the terminal progress;
and that the Fleet objects the status tests store follow Fleet's own CRDs."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from fhtest import DATA
from fleethandshake.adapters.kubeclient import KubeError
from fleethandshake.app.status import terminal_progress, until_ready
from fleethandshake.core import fleetstate, statusreport
from fleethandshake.core.status import Delivery, Report
from fleetsim import STATES, deployment

BUNDLE = {"name": "registry-0123456789abcdef", "namespace": "apps",
          "labels": {"app.kubernetes.io/managed-by": "fleet-handshake"}}  # fmt: skip
COMMIT = "a" * 40


def _schema(crd: str) -> dict[str, Any]:
    doc = yaml.safe_load(Path(DATA / "fleet" / crd).read_text())
    return dict(doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


@pytest.mark.parametrize("state", STATES)
def test_fleets_state_of_each_deployment(state: str) -> None:
    bd = deployment("fleet-default", BUNDLE, "c-1", state, COMMIT)
    assert fleetstate.deployment_state(bd) == state
    jsonschema.validate(bd, _schema("crd-bundledeployment.yaml"))


def test_the_first_rule_of_fleets_that_holds_wins() -> None:
    bd = deployment("fleet-default", BUNDLE, "c-1", "ErrApplied", COMMIT)
    bd["status"].update(ready=False, nonModified=False)
    bd["spec"]["stagedDeploymentID"] = "next:opts"
    assert fleetstate.deployment_state(bd) == "ErrApplied"
    bd["status"]["appliedDeploymentID"] = bd["spec"]["deploymentID"]
    assert fleetstate.deployment_state(bd) == "NotReady"
    bd["status"]["ready"] = True
    assert fleetstate.deployment_state(bd) == "OutOfSync"
    bd["spec"]["stagedDeploymentID"] = bd["spec"]["deploymentID"]
    assert fleetstate.deployment_state(bd) == "Modified"


@pytest.mark.parametrize("state", STATES)
def test_a_deployment_of_the_bundles_newest_content_is_judged_as_it_is(state: str) -> None:
    bd = deployment("fleet-default", BUNDLE, "c-1", state, COMMIT)
    assert fleetstate.effective(bd) is bd
    del bd["metadata"]["labels"][fleetstate.CONTENT_LABEL]  # content in OCI or a Helm chart: no label
    assert fleetstate.effective(bd) is bd


def test_a_deployment_behind_the_bundles_newest_content_waits_to_be_applied_as_fleet_says() -> None:
    bd = deployment("fleet-default", BUNDLE, "c-1", "Ready", COMMIT)
    bd["metadata"]["labels"][fleetstate.CONTENT_LABEL] = "s-newer"
    assert fleetstate.deployment_state(fleetstate.effective(bd)) == "WaitApplied"
    bd["status"]["conditions"][1] = {"type": "Deployed", "status": "False", "message": "failed"}
    assert fleetstate.deployment_state(fleetstate.effective(bd)) == "ErrApplied"
    assert bd["spec"]["deploymentID"] == f"s-{COMMIT[:10]}:opts", "the deployment read is left as it is"
    bd["spec"]["stagedDeploymentID"] = "s-newer:opts"  # staged, not deployed (a paused bundle): Fleet's words
    assert fleetstate.effective(bd) is bd and fleetstate.deployment_state(bd) == "OutOfSync"


def test_messages_follow_fleets_order_of_conditions() -> None:
    bd = deployment("fleet-default", BUNDLE, "c-1", "ErrApplied", COMMIT)
    assert fleetstate.deployment_message(bd) == 'failed to install: namespaces "apps" is forbidden'
    # Installed's message counts only while it belongs to the applied deployment.
    bd["status"]["conditions"] = [{"type": "Installed", "status": "False", "message": "old install error"}]
    assert fleetstate.deployment_message(bd) == ""
    bd["status"]["appliedDeploymentID"] = bd["spec"]["deploymentID"]
    assert fleetstate.deployment_message(bd) == "old install error"
    assert fleetstate.deployment_state({}) == fleetstate.NOT_READY, "an empty deployment is applied (ids equal)"


def test_the_stored_bundles_and_clusters_follow_fleets_crds() -> None:
    from fakekube import FakeKube
    from fleetsim import put_bundle, put_cluster

    fake = FakeKube()
    put_cluster(fake, "c-1", "eu-west", {"env": "prod"})
    put_bundle(fake, "fleet-default", {**BUNDLE, "overrideTargets": [{"clusterName": "eu-west"}]}, COMMIT)
    jsonschema.validate(fake.objects_of("clusters")[0], _schema("crd-cluster.yaml"))
    jsonschema.validate(fake.objects_of("bundles")[0], _schema("crd-bundle.yaml"))


def _report(ready: bool) -> Report:
    row = Delivery("ws", "hs", "b", "c-1", "eu-west", "Ready" if ready else "NotReady", "", COMMIT, ready)
    return Report(COMMIT, (row,))


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_wait_looks_until_ready() -> None:
    clock, looks = _Clock(), []

    def look() -> Report:
        looks.append(clock.now)
        return _report(len(looks) == 3)

    report = until_ready(look, timeout=60, interval=5, sleep=clock.sleep, clock=clock)
    assert report.ready and looks == [100.0, 105.0, 110.0] and clock.slept == [5, 5]


def test_wait_gives_up_at_the_timeout_after_a_last_look() -> None:
    clock = _Clock()
    looks: list[float] = []
    report = until_ready(lambda: looks.append(clock.now) or _report(False), timeout=12, interval=5,
                         sleep=clock.sleep, clock=clock)  # fmt: skip
    assert not report.ready
    assert looks == [100.0, 105.0, 110.0, 112.0] and clock.slept == [5, 5, 2], "the last sleep ends at the timeout"
    looks.clear()
    until_ready(lambda: looks.append(clock.now) or _report(False), timeout=0, sleep=clock.sleep, clock=clock)
    assert len(looks) == 1


def test_wait_looks_again_after_a_connection_reset_until_the_timeout() -> None:
    """No answer at all (a reset, a timeout: the error has no HTTP status) may pass: looked again;
    still failing at the timeout, it is raised."""
    clock, failures = _Clock(), []
    looks = iter([KubeError("cannot list: connection reset"), _report(False), _report(True)])

    def look() -> Report:
        found = next(looks)
        if isinstance(found, Exception):
            raise found
        return found

    report = until_ready(look, timeout=60, interval=5, failed=failures.append, sleep=clock.sleep, clock=clock)
    assert report.ready and clock.slept == [5, 5] and [str(f) for f in failures] == ["cannot list: connection reset"]

    def down() -> Report:
        raise KubeError("cannot list: HTTP 503", status=503)

    with pytest.raises(KubeError, match="HTTP 503"):
        until_ready(down, timeout=12, interval=5, sleep=clock.sleep, clock=clock)
    assert clock.slept[2:] == [5, 5, 2]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal() -> None:
    plain, tty = io.StringIO(), _Tty()
    for stream in (plain, tty):
        show = terminal_progress(stream)
        show(_report(False), 3.2)
        show(_report(True), 8.0)
    assert plain.getvalue() == ""
    assert tty.getvalue() == (
        f"\rwaiting for Fleet: 0/1 Ready at {COMMIT[:12]} (3 s)\033[K"
        f"\rwaiting for Fleet: 1/1 Ready at {COMMIT[:12]} (8 s)\033[K\n"
    )


def test_markdown_cells_cannot_open_an_html_tag() -> None:
    """Fleet's messages quote Go values (`<nil>`): GitHub would take them for a tag and hide them."""
    message = "ErrApplied(1) [Cluster c-1: error: <nil> | <script>]"
    row = Delivery("ws", "hs", "b", "c-1", "<eu-west>", "ErrApplied", message, COMMIT, False)
    shown = statusreport.to_markdown(Report(COMMIT, (row,)))
    assert "&lt;nil>" in shown and "&lt;script>" in shown and "&lt;eu-west>" in shown
    assert "<nil>" not in shown and "<script>" not in shown
    assert "error: &lt;nil> \\| &lt;script>" in shown, "the pipe is escaped too: the row keeps its columns"


def test_fleets_patch_of_a_modified_secret_shows_no_value() -> None:
    shown = fleetstate.without_values('secret.v1 apps/x modified {"data":{"k":"c2VjcmV0"},"stringData":{"s":"secret"}}')
    assert shown == 'secret.v1 apps/x modified {"data":{"k":"(hidden)"},"stringData":{"s":"(hidden)"}}'
    # A patch that cannot be read (cut, or followed by more text) is left out whole.
    assert fleetstate.without_values('secret.v1 apps/x modified {"data":{"k":"c2VjcmV0"}') == (
        "secret.v1 apps/x modified (patch not shown: it may hold Secret values)"
    )
    assert fleetstate.without_values('secret.v1 apps/x modified {"data":"c2VjcmV0"}').endswith('{"data":"(hidden)"}')
    for message in ("secret.v1 apps/x missing", 'failed to install: namespaces "apps" is forbidden', ""):
        assert fleetstate.without_values(message) == message
