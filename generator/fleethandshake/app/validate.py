"""`fleet-handshake validate`: parse and check the source; no keys needed."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import EXIT_OK
from . import source as source_loader


def run(src: Path, *, quiet: bool) -> int:
    loaded = source_loader.load(src, None)
    if not quiet:
        hs, secrets = loaded.source.handshakes, loaded.source.secrets
        refs = {(s.namespace, s.name) for s in secrets}
        missing = [h for h in hs if (h.secret_namespace, h.secret_name) not in refs]
        print(f"ok: {len(hs)} handshake(s), {len(secrets)} encrypted Secret(s)", file=sys.stderr)
        for h in missing:
            print(
                f"warning: {h.file}: handshake {h.ref} references Secret "
                f"{h.secret_namespace}/{h.secret_name}, which is not in the source (it would be Missing)",
                file=sys.stderr,
            )
    return EXIT_OK
