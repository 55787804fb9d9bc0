"""The API server's rules for the built-in Secret types: a Secret that breaks them is refused on
every cluster, so it is an Error here rather than Synced.

Read from kubernetes/kubernetes pkg/apis/core/validation/validation.go (ValidateSecret) and
written anew: the keys each type requires in `data` (stringData folded in), the JSON object the
two docker types hold, and the annotation a service-account token names its account with.
Messages name keys, never values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

_REQUIRED = {
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
}
_JSON = {"kubernetes.io/dockercfg": ".dockercfg", "kubernetes.io/dockerconfigjson": ".dockerconfigjson"}
SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"  # noqa: S105 (a Secret type, not a password)
SERVICE_ACCOUNT_NAME = "kubernetes.io/service-account.name"


def type_problem(kind: str, data: Mapping[str, bytes], annotations: Mapping[str, str]) -> str | None:
    """Why the API server refuses a Secret of `kind` with these keys, or None."""
    missing = [key for key in _REQUIRED.get(kind, ()) if key not in data]
    if kind == "kubernetes.io/basic-auth" and not ({"username", "password"} & data.keys()):
        missing = ["username or password"]  # either may be empty, but one must be there
    if kind == "kubernetes.io/ssh-auth" and not data.get("ssh-privatekey"):
        missing = ["ssh-privatekey (not empty)"]
    if missing:
        return f"a {kind} Secret needs the data key(s) {', '.join(missing)}"
    key = _JSON.get(kind)
    if key is not None and not _is_json_object(data[key]):
        return f"data.{key} of a {kind} Secret must hold a JSON object"
    if kind == SERVICE_ACCOUNT_TOKEN and not annotations.get(SERVICE_ACCOUNT_NAME):
        return f"a {kind} Secret needs the annotation {SERVICE_ACCOUNT_NAME}"
    return None


def _is_json_object(raw: bytes) -> bool:
    def refuse(name: str) -> None:
        raise ValueError(name)  # NaN and Infinity: Python reads them, Go's encoding/json does not

    try:
        return isinstance(json.loads(raw.decode("utf-8", "replace"), parse_constant=refuse), dict)
    except ValueError:
        return False
