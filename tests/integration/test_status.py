"""`status` against the loopback API server with the real kubernetes client: Fleet's Bundles,
BundleDeployments and Clusters as Fleet writes them (tests/fleetsim.py), OUT in a real git
repository, the real command line in a child process."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import fakekube
from fakekube import FakeKube, write_kubeconfig
from fhtest import SourceRepo, git, handshake, read_tree, run_cli, secret
from fleetsim import COMMIT, CONTENT, STATES, bundles_of, deployment, put_bundle, put_cluster, put_deployment

fake_kube = fakekube.fake_kube
VALUE = "status-canary-51d"
PROD = {"clusterSelector": {"matchLabels": {"env": "prod"}}}


@pytest.fixture
def kube_env(fake_kube: FakeKube, tmp_path: Path, key_env: dict[str, str]) -> dict[str, str]:
    config = write_kubeconfig(tmp_path / "kubeconfig", {"mgmt": fake_kube}, "mgmt")
    return {**key_env, "KUBECONFIG": str(config)}


def make_out(repo: SourceRepo, tmp_path: Path, env: dict[str, str], *handshakes: dict[str, Any]) -> tuple[Path, str]:
    """Generate OUT from the handshakes inside a git repository and commit it: (OUT, the commit)."""
    repo.handshakes("hs.yaml", *handshakes)
    repo.encrypted("s.yaml", secret("registry-pull", stringData={"token": VALUE}),
                   secret("orders-db", stringData={"password": VALUE}))  # fmt: skip
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    if not (work / ".git").exists():
        git(work, "init", "--quiet", "--initial-branch=main")
    out = work / "bundles"
    result = run_cli("generate", repo.root, "--out", out, env=env)
    assert result.code == 0, result.stderr
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "--allow-empty", "-m", "bundles")
    return out, git(work, "rev-parse", "HEAD")


def fleet_reads(fake: FakeKube, out: Path, commit: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Fleet has read OUT at `commit`: one Bundle per bundle folder. By handshake name."""
    found = {}
    for workspace, fleet in bundles_of(read_tree(out)):
        put_bundle(fake, workspace, fleet, commit)
        found[fleet["labels"]["fleethandshake.riverpointtechnology.com/handshake"]] = (workspace, fleet)
    return found


def ready_on_eu_west(
    repo: SourceRepo, tmp_path: Path, env: dict[str, str], fake: FakeKube, at: str | None = None
) -> tuple[Path, str, dict[str, Any]]:
    """Handshake `registry` in OUT, Fleet has read OUT, and the one prod cluster is Ready at `at`
    (default: OUT's commit). (OUT, the workspace, the bundle's fleet.yaml)."""
    out, commit = make_out(repo, tmp_path, env, handshake("registry", "registry-pull", [PROD]))
    put_cluster(fake, "c-m-eu", "eu-west", {"env": "prod"})
    ws, bundle = fleet_reads(fake, out, commit)["registry"]
    put_deployment(fake, ws, bundle, "c-m-eu", "Ready", at or commit)
    return out, ws, bundle


def status(env: dict[str, str], *args: str | Path) -> tuple[int, str, str]:
    result = run_cli("status", *args, env=env)
    assert "Traceback" not in result.stderr
    assert VALUE not in result.stdout + result.stderr
    return result.code, result.stdout, result.stderr


def test_every_fleet_state_with_its_message_and_exit_11(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    out, commit = make_out(repo, tmp_path, kube_env, handshake("registry", "registry-pull", [PROD]))
    for state in (*STATES, "Pending"):
        put_cluster(fake_kube, f"c-{state.lower()}", f"{state.lower()}-1", {"env": "prod"})
    ws, bundle = fleet_reads(fake_kube, out, commit)["registry"]
    for state in STATES:
        put_deployment(fake_kube, ws, bundle, f"c-{state.lower()}", state, commit)

    code, stdout, _ = status(kube_env, "--out", out, "--format", "json")

    assert code == 11
    report = json.loads(stdout)
    rows = {c["displayName"]: c for c in report["handshakes"][0]["clusters"]}
    assert {name: row["state"] for name, row in rows.items()} == {f"{s.lower()}-1": s for s in (*STATES, "Pending")}
    assert [name for name, row in rows.items() if row["ready"]] == ["ready-1"]
    assert rows["errapplied-1"]["message"] == 'failed to install: namespaces "apps" is forbidden'
    assert rows["notready-1"]["message"] == "secret.v1 apps/registry-pull not ready"
    assert rows["modified-1"]["message"].startswith("secret.v1 apps/registry-pull modified")
    assert rows["pending-1"]["commit"] is None and "no BundleDeployment" in rows["pending-1"]["message"]
    assert rows["ready-1"]["commit"] == commit
    assert report["commit"] == commit and report["ready"] is False
    assert report["handshakes"][0]["secret"] == "apps/registry-pull"
    assert set(report["summary"]["notReadyClusters"]) == {f"{s.lower()}-1" for s in (*STATES, "Pending")} - {"ready-1"}


def test_all_ready_at_outs_commit_exits_0_in_every_format(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    out, commit = make_out(repo, tmp_path, kube_env, handshake("registry", "registry-pull", [PROD]),
                           handshake("orders", "orders-db", [{"clusterName": "eu-west"}]))  # fmt: skip
    put_cluster(fake_kube, "c-m-eu", "eu-west", {"env": "prod"})
    put_cluster(fake_kube, "c-m-us", "us-east", {"env": "prod"})
    put_cluster(fake_kube, "c-m-dev", "dev", {"env": "dev"})
    for ws, bundle in fleet_reads(fake_kube, out, commit).values():
        for cluster in ("c-m-eu", "c-m-us") if "registry" in bundle["name"] else ("c-m-eu",):
            put_deployment(fake_kube, ws, bundle, cluster, "Ready", commit)

    code, text, _ = status(kube_env, "--out", out)
    assert code == 0, text
    assert f"OUT is at commit {commit}." in text
    assert "fleet-default/orders (Secret apps/orders-db)\n  eu-west  Ready" in text
    assert f"  us-east  Ready        {commit[:12]}" in text
    assert "dev" not in text.replace("fleet-default", ""), "a cluster no bundle targets is not listed"
    assert text.rstrip().endswith(
        f"Ready: every targeted cluster is Ready at OUT's commit {commit[:12]} (3 bundle deployment(s))."
    )

    _, markdown, _ = status(kube_env, "--out", out, "--format", "markdown")
    assert code == 0
    assert markdown.startswith("<!-- fleet-handshake-status -->\n### ✅ fleet-handshake status")
    assert f"| eu-west | ✅ Ready | `{commit[:12]}` |  |" in markdown

    code, raw, _ = status(kube_env, "--out", out, "--format", "json")
    report = json.loads(raw)
    assert code == 0 and report["ready"] is True and report["summary"] == {
        "ready": 3, "deployments": 3, "notReadyClusters": []
    }  # fmt: skip
    assert [h["name"] for h in report["handshakes"]] == ["orders", "registry"]


def moved_on(
    repo: SourceRepo, tmp_path: Path, env: dict[str, str], fake: FakeKube
) -> tuple[Path, str, dict[str, Any], str, str]:
    """Two prod clusters Ready at OUT's first commit; OUT moves on (a new commit), Fleet relabels
    the Bundle and eu-west follows. (OUT, workspace, the bundle's fleet.yaml, old commit, new commit)."""
    out, old = make_out(repo, tmp_path, env, handshake("registry", "registry-pull", [PROD]))
    put_cluster(fake, "c-m-eu", "eu-west", {"env": "prod"})
    put_cluster(fake, "c-m-us", "us-east", {"env": "prod"})
    ws, bundle = fleet_reads(fake, out, old)["registry"]
    git(out.parent, "commit", "--quiet", "--allow-empty", "-m", "later")
    new = git(out.parent, "rev-parse", "HEAD")
    put_bundle(fake, ws, bundle, new)
    put_deployment(fake, ws, bundle, "c-m-eu", "Ready", new)
    return out, ws, bundle, old, new


def test_a_cluster_at_an_older_commit_is_not_ready(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    out, ws, bundle, old, new = moved_on(repo, tmp_path, kube_env, fake_kube)
    put_deployment(fake_kube, ws, bundle, "c-m-us", "Ready", old)

    code, text, _ = status(kube_env, "--out", out)

    assert code == 11
    assert f"  us-east  Ready        {old[:12]}  Ready at commit {old[:12]}, not yet at OUT's commit {new[:12]}" in text
    assert f"  eu-west  Ready        {new[:12]}\n" in text
    assert f"NOT READY: 1 of 2 bundle deployment(s) Ready at OUT's commit {new[:12]}; not Ready: us-east." in text


def test_a_deployment_relabelled_with_outs_commit_but_not_rolled_out_is_not_ready(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """Fleet's Bundle controller writes the Bundle's labels (OUT's commit) and the new manifest's ID
    (`fleet.cattle.io/content-name`) onto every deployment of the Bundle, also onto those of a
    rollout partition it does not stage yet (target/partition.go UpdatePartitions stops at the first
    unavailable partition; maxUnavailablePartitions defaults to 0): their deploymentID is still the
    earlier manifest's, applied and ready. Fleet counts such a cluster WaitApplied (target.go
    effectiveDeployment); the Secret there is the earlier one."""
    out, ws, bundle, old, new = moved_on(repo, tmp_path, kube_env, fake_kube)
    held = deployment(ws, bundle, "c-m-us", "Ready", old)  # applied and ready at the earlier manifest
    held["metadata"]["labels"].update({COMMIT: new, CONTENT: f"s-{new[:10]}"})  # relabelled, not staged
    fake_kube.put_object(held)

    code, raw, _ = status(kube_env, "--out", out, "--format", "json")

    assert code == 11
    rows = {c["displayName"]: c for c in json.loads(raw)["handshakes"][0]["clusters"]}
    assert rows["us-east"]["state"] == "WaitApplied" and rows["us-east"]["ready"] is False
    assert "not rolled out" in rows["us-east"]["message"]
    assert rows["eu-west"]["state"] == "Ready" and rows["eu-west"]["ready"] is True


def test_bundles_fleet_lacks_and_bundles_out_no_longer_has_are_called_out(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    out, first = make_out(repo, tmp_path, kube_env, handshake("gone", "orders-db", [{"clusterName": "eu-west"}]))
    put_cluster(fake_kube, "c-m-eu", "eu-west", {"env": "prod"})
    ws, gone = fleet_reads(fake_kube, out, first)["gone"]
    put_deployment(fake_kube, ws, gone, "c-m-eu", "Ready", first)
    # The source replaces handshake "gone" by "registry"; Fleet has not read the new commit.
    out, _ = make_out(repo, tmp_path, kube_env, handshake("registry", "registry-pull", [PROD]))

    code, text, _ = status(kube_env, "--out", out)

    assert code == 11
    registry = next(p.parent.name for p in out.glob("fleet-default/registry-*/fleet.yaml"))
    assert "fleet-default/registry (Secret apps/registry-pull)\n  eu-west  Absent" in text
    assert "Bundles OUT has that Fleet lacks (no GitRepo points at OUT, or it has not read OUT's commit yet):\n" \
           f"  fleet-default/{registry}\n" in text  # fmt: skip
    assert "fleet-handshake Bundles Fleet still has that OUT no longer has (their Secrets are still delivered):\n" \
           f"  fleet-default/{gone['name']} (handshake fleet-default/gone) on eu-west\n" in text  # fmt: skip

    code, raw, _ = status(kube_env, "--out", out, "--format", "json")
    report = json.loads(raw)
    assert report["absentBundles"] == [f"fleet-default/{registry}"]
    assert report["extraBundles"] == [
        {"namespace": "fleet-default", "name": gone["name"], "handshake": "gone", "clusters": ["eu-west"]}
    ]


def test_another_sources_bundles_are_not_called_out(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    out, ws, bundle = ready_on_eu_west(repo, tmp_path, kube_env, fake_kube)
    theirs = {**bundle, "name": "theirs-0123456789abcdef"}
    theirs["labels"] = {**bundle["labels"], "fleethandshake.riverpointtechnology.com/source": "another-source-1a2b"}
    put_bundle(fake_kube, ws, theirs, "0" * 40)

    code, text, _ = status(kube_env, "--out", out)

    assert code == 0, text
    assert "theirs" not in text

    # One of this source's own, left over: Fleet has not removed it yet.
    ours = {**bundle, "name": "ours-0123456789abcdef"}
    put_bundle(fake_kube, ws, ours, "0" * 40)
    code, text, _ = status(kube_env, "--out", out)
    assert code == 11 and "  fleet-default/ours-0123456789abcdef (handshake fleet-default/registry)\n" in text


def test_status_of_a_source_shows_commits_without_comparing(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    ready_on_eu_west(repo, tmp_path, kube_env, fake_kube, at="1" * 40)

    code, text, _ = status(kube_env, repo.root)

    assert code == 0, text
    assert "commits are shown, not compared" in text
    assert f"  eu-west  Ready        {'1' * 12}\n" in text


@pytest.mark.parametrize(
    ("fail", "code", "words"),
    [
        (403, 1, "forbidden: status needs list on bundles, clusters and clustergroups in each workspace"),
        (404, 1, "is Fleet installed on the cluster at http://127.0.0.1:"),
        (500, 1, "failed; try again later"),
    ],
)
def test_api_failures_are_named_without_a_body(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube, fail: int, code: int, words: str
) -> None:
    out, _ = make_out(repo, tmp_path, kube_env, handshake("registry", "registry-pull", [PROD]))
    fake_kube.fail_next(fail, "Failed", method="GET", message="BODY-TEXT-NOT-SHOWN")

    got, stdout, stderr = status(kube_env, "--out", out)

    assert got == code and stdout == ""
    assert "cannot list bundles.fleet.cattle.io in namespace fleet-default" in stderr and words in stderr
    assert "BODY-TEXT-NOT-SHOWN" not in stderr


def test_without_a_kubeconfig_or_with_both_inputs_it_is_a_usage_error(repo: SourceRepo, tmp_path: Path) -> None:
    env = {"KUBECONFIG": "", "HOME": str(tmp_path)}
    repo.handshakes("hs.yaml", handshake("registry", "registry-pull", [PROD]))
    result = run_cli("status", repo.root, env=env)
    assert result.code == 2 and "no Kubernetes configuration" in result.stderr
    result = run_cli("status", repo.root, "--out", tmp_path, env=env)
    assert result.code == 2 and "SOURCE or --out OUT, one of them" in result.stderr
    result = run_cli("status", env=env)
    assert result.code == 2


def test_status_never_reads_a_secret(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    out, _ = make_out(repo, tmp_path, kube_env, handshake("registry", "registry-pull", [PROD]))
    fake_kube.allowed, fake_kube.allowed_verbs = {p: {"list"} for p in ("bundles", "bundledeployments", "clusters",
                                                                          "clustergroups")}, set()  # fmt: skip
    code, _, stderr = status(kube_env, "--out", out)
    assert code == 11, stderr
    assert {r.path.split("/")[-1] for r in fake_kube.requests} == {"bundles", "bundledeployments", "clusters",
                                                                     "clustergroups"}  # fmt: skip


def test_a_bundle_that_targets_no_cluster_is_not_called_delivered(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """A handshake naming a cluster Fleet does not have (a typo, not registered yet): its Secret
    goes nowhere. The report said "No fleet-handshake bundle to report: OUT has none" and an
    unqualified "Ready: every targeted cluster is Ready"."""
    out, commit = make_out(
        repo, tmp_path, kube_env, handshake("registry", "registry-pull", [{"clusterName": "eu-west-2"}])
    )
    put_cluster(fake_kube, "c-m-eu", "eu-west", {"env": "prod"})
    fleet_reads(fake_kube, out, commit)

    code, text, _ = status(kube_env, "--out", out)

    assert code == 0, "no delivery is missing: the exit code stays (README)"
    registry = next(p.parent.name for p in out.glob("fleet-default/registry-*/fleet.yaml"))
    assert f"Bundles of OUT that target no cluster:\n  fleet-default/{registry}\n" in text
    assert "OUT has none" not in text
    assert text.rstrip().endswith("; 1 bundle(s) target no cluster: no Secret from them.")
    _, markdown, _ = status(kube_env, "--out", out, "--format", "markdown")
    assert "1 bundle(s) target no cluster: no Secret from them." in markdown


def test_a_handshake_out_records_as_not_synced_is_not_ready(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube, other_key: Any
) -> None:
    """A Secret rotated in the source that this run cannot decrypt: OUT keeps the previous bundle
    (Error in status.json), Fleet delivers it Ready at OUT's commit. status said "Ready" (exit 0)
    though the rotated Secret reached no cluster."""
    out, _ = make_out(repo, tmp_path, kube_env, handshake("registry", "registry-pull", [PROD]))
    put_cluster(fake_kube, "c-m-eu", "eu-west", {"env": "prod"})
    repo.encrypted("s.yaml", secret("registry-pull", stringData={"token": VALUE + "-rotated"}),
                   secret("orders-db", stringData={"password": VALUE}), recipients=(other_key.recipient,))  # fmt: skip
    assert run_cli("generate", repo.root, "--out", out, env=kube_env).code == 1
    git(out.parent, "add", "-A")
    git(out.parent, "commit", "--quiet", "-m", "registry Error, previous bundle kept")
    commit = git(out.parent, "rev-parse", "HEAD")
    ws, bundle = fleet_reads(fake_kube, out, commit)["registry"]
    put_deployment(fake_kube, ws, bundle, "c-m-eu", "Ready", commit)

    code, text, _ = status(kube_env, "--out", out)

    assert code == 11, text
    assert "  eu-west  Ready" in text
    assert "Handshakes OUT records as not Synced (their previous bundles are kept: the source's Secret as it is " \
           "now is not delivered):\n  fleet-default/registry: Error: cannot decrypt s.yaml" in text  # fmt: skip
    assert text.rstrip().endswith("; not Synced in OUT: fleet-default/registry.")
    code, raw, _ = status(kube_env, "--out", out, "--format", "json")
    report = json.loads(raw)
    assert code == 11 and report["ready"] is False
    assert [(n["name"], n["status"]) for n in report["notSynced"]] == [("registry", "Error")]


def test_a_secret_changed_on_the_cluster_is_modified_and_its_values_stay_hidden(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """Fleet's Modified message ends with the JSON merge patch back to what it deploys
    (ModifiedStatus.String): for a Secret someone changed on the cluster, its `data` holds the
    delivered value (base64). status printed it, into job summaries and pull-request comments."""
    out, commit = make_out(repo, tmp_path, kube_env, handshake("registry", "registry-pull", [PROD]))
    put_cluster(fake_kube, "c-m-eu", "eu-west", {"env": "prod"})
    ws, bundle = fleet_reads(fake_kube, out, commit)["registry"]
    encoded = base64.b64encode(VALUE.encode()).decode()
    patch = json.dumps({"data": {"token": encoded, "added-by-hand": None}, "metadata": {"labels": {"x": "y"}}})
    modified = deployment(ws, bundle, "c-m-eu", "Modified", commit)
    modified["status"]["modifiedStatus"][0]["patch"] = patch
    monitored = next(c for c in modified["status"]["conditions"] if c["type"] == "Monitored")
    monitored["message"] = f"secret.v1 apps/registry-pull modified {patch}"
    fake_kube.put_object(modified)

    for fmt in ("text", "markdown", "json"):
        code, shown, err = status(kube_env, "--out", out, "--format", fmt)
        assert code == 11
        assert encoded not in shown + err and encoded[:12] not in shown + err
        assert "Modified" in shown
    report = json.loads(shown)
    assert report["handshakes"][0]["clusters"][0]["message"] == (
        'secret.v1 apps/registry-pull modified {"data":{"token":"(hidden)","added-by-hand":null},'
        '"metadata":{"labels":{"x":"y"}}}'
    )


def test_control_characters_in_fleets_messages_are_shown_not_obeyed(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """Anyone who can write a BundleDeployment's status sets its message: a terminal escape (clear
    the screen, retitle the window) or a right-to-left override reached the terminal as is."""
    out, commit = make_out(repo, tmp_path, kube_env, handshake("registry", "registry-pull", [PROD]))
    put_cluster(fake_kube, "c-m-eu", "eu-west", {"env": "prod"})
    ws, bundle = fleet_reads(fake_kube, out, commit)["registry"]
    modified = deployment(ws, bundle, "c-m-eu", "Modified", commit)
    monitored = next(c for c in modified["status"]["conditions"] if c["type"] == "Monitored")
    monitored["message"] = "secret.v1 apps/registry-pull modified \x1b[2J\x1b]0;owned\x07 \u202edeliver"
    fake_kube.put_object(modified)

    for fmt in ("text", "markdown"):
        code, shown, _ = status(kube_env, "--out", out, "--format", fmt)
        assert code == 11
        assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
        assert "modified ?[2J?]0;owned? ?deliver" in shown


def test_wait_looks_again_after_a_passing_api_failure(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """A 500 or 503 from the API server (a restart, a load balancer's blip) while waiting: the
    wait looked no further and failed (exit 1) although Fleet was Ready; it looks again until the
    timeout, saying why on stderr."""
    out, _, _ = ready_on_eu_west(repo, tmp_path, kube_env, fake_kube)
    fake_kube.fail_next(500, "Failed", method="GET", message="BODY-TEXT-NOT-SHOWN")
    fake_kube.fail_next(503, "Unavailable", method="GET")

    code, stdout, stderr = status(kube_env, "--out", out, "--wait", "600", "--wait-interval", "0")

    assert code == 0, stderr
    assert "Ready: every targeted cluster is Ready" in stdout
    assert "HTTP 500 Internal Server Error" in stderr and "HTTP 503 Service Unavailable" in stderr
    assert "looking again until the timeout" in stderr and "BODY-TEXT-NOT-SHOWN" not in stderr


@pytest.mark.parametrize(("fail", "timeout"), [(403, "600"), (500, "0")])
def test_wait_stops_at_a_lasting_api_failure_or_at_the_timeout(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube, fail: int, timeout: str
) -> None:
    """Forbidden does not pass by waiting: it fails at once; a passing failure at the timeout fails."""
    out, _, _ = ready_on_eu_west(repo, tmp_path, kube_env, fake_kube)
    fake_kube.fail_next(fail, "Failed", method="GET")

    code, stdout, stderr = status(kube_env, "--out", out, "--wait", timeout, "--wait-interval", "0")

    assert code == 1 and stdout == ""
    assert "cannot list bundles.fleet.cattle.io in namespace fleet-default" in stderr and f"HTTP {fail}" in stderr
    assert "looking again" not in stderr
    assert len(fake_kube.requests_of("GET")) == 1


def test_bundles_generated_but_not_committed_are_not_ready(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """OUT generated into its repository and not committed (forgotten, or git-ignored): Fleet can
    never read it. status said "Ready: every targeted cluster is Ready ... (0 bundle
    deployment(s))" and exited 0, also with --wait."""
    repo.handshakes("hs.yaml", handshake("registry", "registry-pull", [PROD]))
    repo.encrypted("s.yaml", secret("registry-pull", stringData={"token": VALUE}))
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "--quiet", "--initial-branch=main")
    git(work, "commit", "--quiet", "--allow-empty", "-m", "empty")
    out = work / "bundles"
    assert run_cli("generate", repo.root, "--out", out, env=kube_env).code == 0
    put_cluster(fake_kube, "c-m-eu", "eu-west", {"env": "prod"})
    [folder] = [f"{p.parent.name}/{p.name}" for p in out.glob("*/*") if (p / "fleet.yaml").is_file()]

    code, stdout, _ = status(kube_env, "--out", out)

    assert code == 11, stdout
    assert (
        f"Bundle folders of OUT that differ from OUT's commit (not committed: Fleet cannot read them):\n  {folder}"
        in (stdout)
    )
    assert "NOT READY" in stdout and "1 bundle folder(s) of OUT not committed" in stdout
    _, raw, _ = status(kube_env, "--out", out, "--format", "json")
    assert json.loads(raw)["uncommittedBundles"] == [folder] and json.loads(raw)["ready"] is False
    # Waiting cannot help: one look, not 600 s (the child would outlive run_cli's timeout).
    code, _, stderr = status(kube_env, "--out", out, "--wait", "600", "--wait-interval", "0")
    assert code == 11 and "are not committed: Fleet cannot read them" in stderr

    # Committed, and Fleet read it: Ready; a change to a bundle's file since is called out again.
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "bundles")
    commit = git(work, "rev-parse", "HEAD")
    ws, bundle = fleet_reads(fake_kube, out, commit)["registry"]
    put_deployment(fake_kube, ws, bundle, "c-m-eu", "Ready", commit)
    assert status(kube_env, "--out", out)[0] == 0
    (out / folder / "fleet.yaml").write_text((out / folder / "fleet.yaml").read_text() + "# edited\n")
    code, stdout, _ = status(kube_env, "--out", out)
    assert code == 11 and f"not committed: Fleet cannot read them):\n  {folder}" in stdout


def test_a_bundle_folder_removed_by_hand_is_not_ready(
    repo: SourceRepo, tmp_path: Path, kube_env: dict[str, str], fake_kube: FakeKube
) -> None:
    """A bundle folder of a Synced handshake deleted by hand and committed: Fleet removes its
    Bundle and the Secret from its clusters. status said Ready for the bundles that were left."""
    out, _ = make_out(repo, tmp_path, kube_env, handshake("registry", "registry-pull", [PROD]),
                      handshake("orders", "orders-db", [PROD]))  # fmt: skip
    [gone] = [p for p in out.glob("*/orders-*") if (p / "fleet.yaml").is_file()]
    folder = f"{gone.parent.name}/{gone.name}"
    shutil.rmtree(gone)
    git(out.parent, "add", "-A")
    git(out.parent, "commit", "--quiet", "-m", "remove a bundle by hand")
    commit = git(out.parent, "rev-parse", "HEAD")
    put_cluster(fake_kube, "c-m-eu", "eu-west", {"env": "prod"})
    ws, bundle = fleet_reads(fake_kube, out, commit)["registry"]  # Fleet read it: orders' Bundle is gone
    put_deployment(fake_kube, ws, bundle, "c-m-eu", "Ready", commit)

    code, stdout, _ = status(kube_env, "--out", out)

    assert code == 11, stdout
    assert f"status.json lists for a Synced handshake that OUT lacks (removed by hand? Fleet removes their " \
           f"Secrets; run generate to write them again):\n  {folder}" in stdout  # fmt: skip
    assert "NOT READY: 1 of 1 bundle deployment(s) Ready" in stdout and "1 bundle folder(s) missing from OUT" in stdout
    _, raw, _ = status(kube_env, "--out", out, "--format", "json")
    assert json.loads(raw)["missingBundles"] == [folder] and json.loads(raw)["ready"] is False
    code, _, stderr = status(kube_env, "--out", out, "--wait", "600", "--wait-interval", "0")
    assert code == 11 and "are missing from OUT, and waiting cannot change that; looked once" in stderr
