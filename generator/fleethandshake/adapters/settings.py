"""Settings read from the environment, shared by the adapters."""

from __future__ import annotations

import os

from ..errors import UsageError


def env_seconds(variable: str, default: float) -> float:
    """A timeout from the environment, or the default; a bad value is a usage error."""
    text = os.environ.get(variable)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise UsageError(f"{variable} must be a number of seconds above 0, not {text!r}")
    return value


SOPS_TIMEOUT_VARIABLE = "FLEET_HANDSHAKE_SOPS_TIMEOUT"
DEFAULT_SOPS_TIMEOUT = 60.0


def sops_timeout() -> float:
    """How long one call of sops, or of the age key command, may take."""
    return env_seconds(SOPS_TIMEOUT_VARIABLE, DEFAULT_SOPS_TIMEOUT)
