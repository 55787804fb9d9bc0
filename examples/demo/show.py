"""Show what `make demo` generated: the tree, one fleet.yaml, and a Secret with values masked."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml


def main(out: Path) -> None:
    print(f"\nGenerated bundles in {out}/ (one folder per handshake target):")
    for path in sorted(out.rglob("*")):
        if path.is_file():
            print(f"  {path.relative_to(out)}")
    status = json.loads((out / ".fleet-handshake" / "status.json").read_text())
    multi = max(status["handshakes"], key=lambda h: len(h["bundles"]))
    last = out / multi["bundles"][-1]
    print(f"\n{last}/fleet.yaml (target {len(multi['bundles'])} of handshake {multi['name']}):\n")
    print((last / "fleet.yaml").read_text())
    secret = yaml.safe_load((last / "secret.yaml").read_text())
    for section in ("data", "stringData"):
        for key, value in (secret.get(section) or {}).items():
            secret[section][key] = f"<{len(value)} characters, not shown>"
    print(f"{last}/secret.yaml, values masked here (the file holds them in clear text):\n")
    print(yaml.safe_dump(secret, sort_keys=False))
    print("Point a Fleet GitRepo at a private repository holding this folder; see README.md.")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "demo-out"))
