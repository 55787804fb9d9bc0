"""The `kubernetes` client for every Kubernetes adapter: loading the kubeconfig (or the in-cluster
service account), raw calls, paged lists and the shape of errors.

kube.py (downstream mode's Secrets), kuberead.py (import, status), kubeobjects.py (controller)
and lease.py build on it; they and this module are the only ones that import the `kubernetes`
client, and only once used: runs without a cluster never load it.

Responses are read raw and never deserialised into client models (whose validation errors quote
their input). Errors name the operation, the object and the HTTP status, never a response body
(the server can echo the object it was sent, and a Secret's body is its values) nor the request;
API errors are raised without a cause.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import EXIT_USAGE, UserError

TIMEOUT = (10.0, 60.0)  # connect, read
LIST_PAGE = 500
# Accept headers for metadata only (PartialObjectMetadata): a Secret's values are never fetched;
# a server that cannot do that sends the whole object.
METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
_MIN_CLIENT_MAJOR = 36  # first client whose generated methods take `_content_type` (apply patches)
_PHRASES = {status.value: status.phrase for status in HTTPStatus}


class KubeError(UserError):
    """A Kubernetes API call failed. Carries the HTTP status (None: no answer), never a payload."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class KubeConfigError(KubeError):
    """No usable kubeconfig, context or in-cluster service account: a usage problem."""

    exit_code = EXIT_USAGE


def list_pages(what: str, host: str, fetch: Callable[..., bytes]) -> tuple[list[dict[str, Any]], str]:
    """Every item of a list, page by page: `fetch(limit=, _continue=)` gives one page's raw body,
    asked for until the server gives no `continue` token. Also the list's resourceVersion (to
    watch from)."""
    items: list[dict[str, Any]] = []
    page: str | None = None
    while True:
        document = json_object(what, host, fetch(limit=LIST_PAGE, _continue=page))
        items += [item for item in document.get("items") or [] if isinstance(item, dict)]
        meta = document.get("metadata") or {}
        page = meta.get("continue") or None
        if page is None:
            return items, str(meta.get("resourceVersion") or "")


def api_failure(what: str, host: str, status: Any, reason: Any, detail: Callable[[int], str | None]) -> KubeError:
    """The error of a failed call: `detail(code)` says what a status means for it, else the general words."""
    code = status if isinstance(status, int) else 0
    if code == 0:
        return KubeError(f"cannot {what}: cannot reach the Kubernetes API at {host} (connection or TLS error)")
    if code == HTTPStatus.UNAUTHORIZED:
        general = f"unauthorized: the Kubernetes API at {host} rejected the credentials; check the kubeconfig user"
    elif code >= 500 or code == HTTPStatus.TOO_MANY_REQUESTS:
        general = f"the Kubernetes API at {host} failed; try again later"
    else:
        general = "the API server refused the request"
    phrase = _PHRASES.get(code) or clip(str(reason), 40)
    return KubeError(f"cannot {what}: HTTP {code} {phrase}: {detail(code) or general}", status=code)


def json_object(what: str, host: str, raw: bytes) -> dict[str, Any]:
    """A response body that must be one JSON object; KubeError naming `what` otherwise."""
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise KubeError(f"cannot {what}: the Kubernetes API at {host} did not answer with a JSON object")
    return document


def raw_call(
    host: str, what: str, method: Any, failure: Callable[[Any, Any], KubeError], *args: Any, **kwargs: Any
) -> bytes:
    """Call a client method and return the raw response body. An API error becomes
    `failure(status, reason)`, raised without its cause (whose text holds the response body)."""
    import urllib3
    from kubernetes.client.exceptions import ApiException

    error: KubeError
    try:
        response = method(*args, _preload_content=False, _request_timeout=TIMEOUT, **kwargs)
        data = getattr(response, "data", b"")  # reading it also frees the connection
        return data if isinstance(data, bytes) else b""
    except ApiException as e:
        # Raised outside this block, so the exception (whose text holds the body) is not chained.
        error = failure(e.status, e.reason)
    except (urllib3.exceptions.HTTPError, OSError) as e:
        raise KubeError(f"cannot {what}: cannot reach the Kubernetes API at {host} ({transport(e)})") from e
    except (TypeError, ValueError) as e:
        # The client checks arguments with pydantic, whose messages quote the input.
        error = KubeError(f"cannot {what}: the Kubernetes client refused the request ({type(e).__name__})")
    raise error


def api_client(context: str | None, kubeconfig: str | None) -> Any:
    """A `kubernetes` ApiClient for the context (KubeConfigError when there is none to load)."""
    import kubernetes
    import yaml
    from kubernetes import client, config

    if int(kubernetes.__version__.split(".")[0]) < _MIN_CLIENT_MAJOR:
        raise KubeError(
            f"the installed kubernetes Python client {kubernetes.__version__} cannot send server-side apply"
            f" requests; fleet-handshake needs kubernetes>={_MIN_CLIENT_MAJOR}"
        )
    configuration = client.Configuration()
    source = _kubeconfig_source(kubeconfig)
    loaders: Any = config  # untyped functions
    try:
        if source is None:
            if context:
                raise KubeConfigError(f"context {context!r} was asked for, but there is no kubeconfig")
            loaders.load_incluster_config(client_configuration=configuration)
        else:
            loaders.load_kube_config(
                config_file=source, context=context, client_configuration=configuration, persist_config=False
            )
    except (config.ConfigException, OSError, ValueError, yaml.YAMLError) as e:
        where = source or "the in-cluster service account"
        raise KubeConfigError(f"cannot load the Kubernetes configuration from {where}: {clip(str(e))}") from e
    return client.ApiClient(configuration)


def _kubeconfig_source(explicit: str | None) -> str | None:
    """The kubeconfig to load: the explicit path, $KUBECONFIG, ~/.kube/config; None: in-cluster."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise KubeConfigError(f"kubeconfig file not found: {explicit}")
        return str(path)
    if os.environ.get("KUBECONFIG"):
        return os.environ["KUBECONFIG"]  # may list several files, merged by the client
    default = Path("~/.kube/config").expanduser()
    if default.is_file():
        return str(default)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    raise KubeConfigError(
        "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG or create ~/.kube/config"
        " (inside a pod, its service account is used)"
    )


def host_of(api: Any) -> str:
    """The API server's URL without any credentials, for messages."""
    raw = str(getattr(getattr(getattr(api, "api_client", None), "configuration", None), "host", "") or "")
    parts = urlsplit(raw)
    if not parts.hostname:
        return raw or "(unknown host)"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}".rstrip("/")


def transport(error: BaseException) -> str:
    reason = getattr(error, "reason", None)  # MaxRetryError wraps the last underlying error
    name = type(reason if isinstance(reason, BaseException) else error).__name__
    if "Timeout" in name:
        return "timed out"
    if "SSL" in name:
        return "TLS handshake failed"
    if name in ("NewConnectionError", "NameResolutionError", "ConnectionRefusedError"):
        return "connection refused or host unreachable"
    return f"connection failed: {name}"


def clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
