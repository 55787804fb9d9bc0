"""The controller's one index of Secrets (by namespace and name): the handshakes that read each
(its `secretNamespace/secretName`) and, in downstream mode, the handshake whose copy in the
workspace it is or would be (its namespace and secretName).

A Secret event reconciles its readers; a deleted one also the handshake whose copy it was (the
copy recreated, or its name freed for a handshake that found it taken: Error until then). A
handshake that starts or stops reading a Secret reconciles the handshake whose copy that is:
the copy is applied without its owner reference while another handshake reads it.
"""

from __future__ import annotations

from typing import Any

from ..core.models import ANNOTATION_MODE, LABEL_COPY_OF, LABEL_HANDSHAKE, LABEL_MANAGED_BY, LABEL_WORKSPACE, MANAGER
from ..modes import modes

Key = tuple[str, str]  # (namespace, name)
READS, COPIES = "reads", "copies"


class SecretIndex:
    """Not thread-safe: the controller holds its lock around every call."""

    def __init__(self, default_mode: str) -> None:
        self.default_mode = default_mode
        self._by_secret: dict[Key, set[tuple[Key, str]]] = {}  # (handshake, READS or COPIES)

    def clear(self) -> None:
        self._by_secret.clear()

    def add(self, key: Key, obj: dict[str, Any]) -> None:
        for secret, role in self._entries(obj):
            self._by_secret.setdefault(secret, set()).add((key, role))

    def discard(self, key: Key, obj: dict[str, Any]) -> None:
        for secret, role in self._entries(obj):
            if (entries := self._by_secret.get(secret)) is not None:
                entries.discard((key, role))
                if not entries:
                    del self._by_secret[secret]

    def holding(self, secret: Key, *roles: str) -> list[Key]:
        """The handshakes indexed under the Secret in one of `roles`."""
        return [key for key, role in self._by_secret.get(secret, ()) if role in roles]

    def _entries(self, obj: dict[str, Any]) -> list[tuple[Key, str]]:
        meta = obj.get("metadata") or {}
        entries = [(read_by(obj), READS)]
        mode = modes().get((meta.get("annotations") or {}).get(ANNOTATION_MODE) or self.default_mode)
        if mode is not None and mode.elsewhere:  # the mode that writes a copy into the workspace
            entries.append(((str(meta.get("namespace")), read_by(obj)[1]), COPIES))
        return entries


def read_by(obj: dict[str, Any]) -> Key:
    """(secretNamespace, secretName) of a handshake object: the Secret it reads."""
    spec = obj["spec"] if isinstance(obj.get("spec"), dict) else {}
    return (str(spec.get("secretNamespace")), str(spec.get("secretName")))


def kept_for(secret: dict[str, Any]) -> Key | None:
    """The handshake (namespace, name) a copy was kept for (LABEL_COPY_OF), None for other Secrets."""
    labels = (secret.get("metadata") or {}).get("labels") or {}
    if labels.get(LABEL_MANAGED_BY) != MANAGER or not labels.get(LABEL_COPY_OF):
        return None
    return (str(labels.get(LABEL_WORKSPACE)), str(labels.get(LABEL_HANDSHAKE)))
