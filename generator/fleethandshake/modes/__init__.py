"""The delivery modes, listed once in NAMES: mode `x` is the module modes/x.py (its `MODE`, a
base.Mode), with its template in templates/ and its tests. cli's --mode choices, the validation
of a mode name and the GitHub Action read the list from here; cli and validation need the names
alone, so the modes themselves are imported when a command first asks for them."""

from __future__ import annotations

import functools
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Mode

NAMES = ("plain", "downstream", "sops")  # the first is the default
DEFAULT = NAMES[0]
# The modes `fleet-handshake controller` delivers with: sops needs a source's recipients.
IN_CLUSTER = ("plain", "downstream")


@functools.cache
def modes() -> dict[str, Mode]:
    return {name: import_module(f"{__name__}.{name}").MODE for name in NAMES}
