"""A fleet at the scale the plan comment is designed for: handshakes, Secrets and a Fleet inventory.

`fleet(changed, clusters)` describes a pull request as sources before and after: Secrets rotated
(a value changed, sometimes a key added and one removed), handshakes removed and added, and
unchanged handshakes around them, so that exactly `changed` bundles change. `plan_in_memory`
renders both with the core's own code (plain mode, no sops) and plans them against the inventory;
the integration test writes the same fleet to disk with real sops. Every value is `CANARY` plus a
suffix: a plan that shows one is a leak.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from fhtest import handshake as handshake_doc
from fhtest import secret as secret_doc
from fleethandshake.core import bundles, inventory, matching, plan, render, validate
from fleethandshake.core.models import Handshake, Status
from fleethandshake.core.output import HandshakeChange
from fleethandshake.core.yaml.reader import parse_documents

CANARY = "canary-value-Q7x2"
WORKSPACE = "fleet-default"
ENVS = ("prod", "prod", "staging", "dev")
GEOS = ("eu", "us", "ap")
DISPLAY = "management.cattle.io/cluster-display-name"


def cluster_id(j: int) -> str:
    return "c-m-" + hashlib.sha256(str(j).encode()).hexdigest()[:8]


def display_name(j: int) -> str:
    return f"{ENVS[j % 4]}-{GEOS[j // 4 % 3]}-{j:04d}"


def clusters(count: int, workspace: str = WORKSPACE) -> list[dict[str, Any]]:
    """Rancher-provisioned clusters: generated ids, a display-name label, env, geo and tier labels."""
    items: list[dict[str, Any]] = []
    for j in range(count):
        labels = {DISPLAY: display_name(j), "env": ENVS[j % 4], "geo": GEOS[j // 4 % 3],
                  "tier": "edge" if j % 5 == 0 else "core"}  # fmt: skip
        items.append({"apiVersion": "fleet.cattle.io/v1alpha1", "kind": "Cluster",
                      "metadata": {"name": cluster_id(j), "namespace": workspace, "labels": labels}})  # fmt: skip
    for name, selector in (("prod-eu", {"env": "prod", "geo": "eu"}), ("edge", {"tier": "edge"})):
        items.append({"apiVersion": "fleet.cattle.io/v1alpha1", "kind": "ClusterGroup",
                      "metadata": {"name": name, "namespace": workspace},
                      "spec": {"selector": {"matchLabels": selector}}})  # fmt: skip
    return items


def target(k: int, i: int) -> dict[str, Any]:
    """Target k of handshake i: cluster groups, label selectors and a single cluster by display name."""
    return [
        {"name": "prod-eu", "clusterGroup": "prod-eu"},
        {"name": "prod-us", "clusterSelector": {"matchLabels": {"env": "prod", "geo": "us"}}},
        {"name": "edge", "clusterGroup": "edge"},
        {"name": "staging", "clusterSelector": {"matchExpressions": [
            {"key": "env", "operator": "In", "values": ["staging", "dev"]}]}},
        {"name": "canary", "clusterName": display_name(i % 10)},
    ][(k + i) % 5]  # fmt: skip


APPS = ("orders", "payments", "search", "billing", "catalog", "checkout", "ledger", "identity", "metrics", "ingest")
PURPOSES = ("db-credentials", "api-token", "tls", "registry-pull", "webhook", "smtp")


def secret_name(i: int) -> str:
    """Names like a platform team's: `orders-db-credentials`, `search-api-token`; unique per i."""
    base = f"{APPS[i % len(APPS)]}-{PURPOSES[i // len(APPS) % len(PURPOSES)]}"
    return base if i < len(APPS) * len(PURPOSES) else f"{base}-{i // (len(APPS) * len(PURPOSES))}"


def keys(i: int) -> dict[str, str]:
    names = ("password", "username", "api-token", "ca.crt", "tls.key", "webhook-secret")
    return {names[(i + n) % len(names)]: f"{CANARY}-{i}-{n}" for n in range(2 + i % 3)}


@dataclass
class Fleet:
    """A pull request: the source before and after, and the inventory."""

    before: list[dict[str, Any]] = field(default_factory=list)  # handshake documents
    after: list[dict[str, Any]] = field(default_factory=list)
    secrets_before: dict[str, dict[str, str]] = field(default_factory=dict)  # Secret name -> stringData
    secrets_after: dict[str, dict[str, str]] = field(default_factory=dict)
    inventory: list[dict[str, Any]] = field(default_factory=list)

    def changed_secret_names(self) -> set[str]:
        return {s for s in self.secrets_before | self.secrets_after
                if self.secrets_before.get(s) != self.secrets_after.get(s)}  # fmt: skip


def fleet(changed: int, cluster_count: int, *, removed: int = 0, added: int = 0, unchanged: int = 25) -> Fleet:
    """`changed` bundles change: `removed` of them by handshakes gone, `added` by new ones, the rest
    by rotated Secrets whose handshakes have 2 or 3 targets (35 bundles: 15 Secrets, as in issue 15)."""
    f = Fleet(inventory=clusters(cluster_count))
    rotated_bundles = changed - removed - added
    rotated = max(1, round(rotated_bundles * 15 / 35)) if rotated_bundles else 0
    counts = [rotated_bundles // rotated + (1 if i < rotated_bundles % rotated else 0) for i in range(rotated)]
    plan_: list[tuple[str, int, str]] = []  # (kind, number of targets, which)
    plan_ += [("rotated", n, "both") for n in counts]
    plan_ += [("unchanged", 1 + i % 2, "both") for i in range(unchanged)]
    plan_ += [("removed", 1, "before") for _ in range(removed)]
    plan_ += [("added", 1, "after") for _ in range(added)]
    for i, (kind, n, which) in enumerate(plan_):
        name = secret_name(i)
        doc = handshake_doc(name, name, [target(k, i) for k in range(n)],
                            target_namespace=("apps", "payments", "monitoring")[i % 3])  # fmt: skip
        data = keys(i)
        if which in ("both", "before"):
            f.before.append(doc)
            f.secrets_before[name] = data
        if which in ("both", "after"):
            f.after.append(doc)
            new = dict(data)
            if kind == "rotated":
                new[next(iter(new))] = f"{CANARY}-{i}-rotated"
                if i % 4 == 1:  # a key added and one removed
                    new["pool-size"] = f"{CANARY}-{i}-pool"
                    new.pop(list(new)[1])
            f.secrets_after[name] = new
    return f


def _handshakes(docs: list[dict[str, Any]]) -> list[Handshake]:
    text = yaml.safe_dump_all(docs, sort_keys=False).encode()
    source, problems = validate.validate_source([("handshakes.yaml", parse_documents(text))])
    assert not problems, problems
    return list(source.handshakes)


def tree(docs: list[dict[str, Any]], secrets: dict[str, dict[str, str]]) -> dict[str, bytes]:
    """The output tree plain mode renders: fleet.yaml and secret.yaml per bundle."""
    out: dict[str, bytes] = {}
    for hs in _handshakes(docs):
        plain = render.plain_secret(secret_doc(hs.secret_name, stringData=secrets[hs.secret_name]), hs.secret_name)
        for bundle in bundles.bundles_for(hs, "plain"):
            out[f"{bundle.path}/fleet.yaml"] = render.to_yaml(render.fleet_document(hs, bundle)).encode()
            out[f"{bundle.path}/secret.yaml"] = render.to_yaml(render.secret_document(hs, plain)).encode()
    return out


def plan_in_memory(f: Fleet) -> plan.Plan:
    inv, problems = inventory.parse_inventory(f.inventory)
    assert not problems, problems
    resolver = matching.Resolver(inv)

    def resolve(workspace: str, t: Any, earlier: Any) -> frozenset[str]:
        from fleethandshake.core.validate_handshake import parse_target

        def parsed(data: Any) -> Any:
            found, _ = parse_target(dict(data), file="fleet.yaml")
            return found

        return resolver.bundle_clusters(workspace, parsed(t), [parsed(e) for e in earlier])

    display = {(c.workspace, c.name): c.label_map[DISPLAY] for c in inv.clusters}
    changes = [HandshakeChange(WORKSPACE, d["metadata"]["name"], Status.SYNCED, "", (), (), ()) for d in f.after]
    return plan.make_plan(tree(f.before, f.secrets_before), tree(f.after, f.secrets_after), changes, resolve, display)


def leaks(text: str) -> list[str]:
    """Forms of the canary found in `text`: as is, base64 (its first 15 bytes encode alike in every
    value), hex."""
    raw = CANARY.encode()
    forms = (CANARY, base64.b64encode(raw[:15]).decode(), raw.hex(), raw.hex().upper())
    return [form for form in forms if form in text]


def _cells(line: str) -> int:
    return len(re.split(r"(?<!\\)\|", line.strip())) - 2


def check_markdown(text: str, limit: int) -> None:
    """Within `limit`; every <details> closed and none nested; no code fence left open; every table
    preceded by a blank line, with a separator row and the header's number of cells in every row."""
    assert len(text) <= limit, len(text)
    lines = text.splitlines()
    depth = 0
    for line in lines:
        depth += line.count("<details>") - line.count("</details>")
        assert depth in (0, 1), line
    assert depth == 0
    assert sum(1 for line in lines if line.lstrip().startswith(("```", "~~~"))) % 2 == 0
    i = 0
    while i < len(lines):
        if not lines[i].startswith("|"):
            i += 1
            continue
        assert i > 0 and lines[i - 1] == "", f"a table must follow a blank line: {lines[i - 1]!r}"
        width = _cells(lines[i])
        assert re.fullmatch(r"\|(---\|)+", lines[i + 1]) and _cells(lines[i + 1]) == width, lines[i + 1]
        i += 2
        while i < len(lines) and lines[i].startswith("|"):
            assert _cells(lines[i]) == width, lines[i]
            i += 1
        assert i == len(lines) or lines[i] == "", "a table ends with a blank line"
