"""Find the Jinja2 templates: inside the installed package, or in the source checkout."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from ..errors import UsageError

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def template_dir() -> Path:
    # A wheel carries them as fleethandshake/templates; an editable install runs from the
    # checkout, where they sit in the top-level templates/ folder.
    for candidate in (_PACKAGE_DIR / "templates", _PACKAGE_DIR.parent.parent / "templates"):
        if (candidate / "fleet.yaml.j2").is_file():
            return candidate
    raise UsageError("the fleet-handshake templates are missing from this installation")


@functools.cache
def _files() -> dict[str, bytes]:
    """Every template's bytes by file name, read once per run."""
    return {path.name: path.read_bytes() for path in sorted(template_dir().glob("*.j2"))}


def digest() -> str:
    """Changes whenever a template changes, so bundles made with older templates are redone."""
    h = hashlib.sha256()
    for name, data in _files().items():
        h.update(name.encode() + b"\0" + data + b"\0")
    return h.hexdigest()[:16]


def sources() -> dict[str, str]:
    """Every template, by file name (what `core.render.make_environment` takes)."""
    return {name: data.decode("utf-8") for name, data in _files().items()}
