"""downstream: each bundle carries `downstreamResources` and a small marker ConfigMap; the
decrypted Secret is written into the workspace namespace on the management cluster (by
app/downstream.py, through the Kubernetes API), and Fleet copies it to the clusters. No secret
material in git and none held downstream."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..core.bundles import Bundle
from ..core.models import Handshake, PlainSecret, item_path
from ..core.render import RenderError, owner_labels, secret_document
from ..core.secrettypes import SERVICE_ACCOUNT_NAME, SERVICE_ACCOUNT_TOKEN
from ..errors import Problem
from .base import Load, Mode, Recipients

if TYPE_CHECKING:
    from jinja2 import Environment


class Downstream(Mode):
    name = "downstream"
    file = "marker.yaml"
    elsewhere = True

    def fleet(self, handshake: Handshake, bundle: Bundle, source: str = "") -> dict[str, Any]:
        fleet = super().fleet(handshake, bundle, source)
        fleet["downstreamResources"] = [{"kind": "Secret", "name": handshake.secret_name}]
        return fleet

    def bundle_file(self, env: Environment, handshake: Handshake, bundle: Bundle, shared: Any,
                    recipients: Recipients | None, revision: str, source: str) -> bytes:  # fmt: skip
        """Fleet needs one manifest per bundle; this one says where the Secret comes from, and nothing secret.

        `revision` changes whenever the Secret does (a digest of the *encrypted* source, which
        reveals nothing): the bundle changes with it, so Fleet's agent copies the Secret again.
        It only recopies when it reconciles the BundleDeployment.
        """
        marker = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": bundle.name,
                "namespace": handshake.target_namespace,
                "labels": owner_labels(handshake, source),
            },
            "data": {
                "handshake": handshake.ref,
                "secret": handshake.secret_name,
                "mode": self.name,
                "source-revision": revision,
            },
        }
        return env.get_template("marker.yaml.j2").render(handshake=handshake, marker=marker).encode()

    def undelivered(self, secret: PlainSecret) -> tuple[str, ...]:
        """Fleet clones a downstream Secret's data and type only into the cluster's namespace
        (internal/cmd/controller/reconciler/bundle_controller.go cloneSecret): its labels,
        annotations and `immutable` never reach a cluster."""
        parts = (("labels", secret.labels), ("annotations", secret.annotations), ("immutable", secret.immutable))
        return tuple(name for name, value in parts if value)

    def management(self, handshake: Handshake, secret: PlainSecret, source: str) -> tuple[dict[str, Any], ...]:
        """The Secret in the workspace namespace that Fleet copies. Fleet copies it under the same
        name at both hops (bundle_controller.go cloneSecret, then the agent's
        copyResourcesFromUpstream), so it must be secretName itself. Collisions are refused by
        `clashes` and by ownership labels, not avoided by renaming.

        Without `immutable` (below). A service-account token Secret cannot go this way: the copy
        arrives without the `kubernetes.io/service-account.name` annotation the API server
        requires of that type."""
        if secret.type == SERVICE_ACCOUNT_TOKEN:
            raise RenderError(
                f"a {SERVICE_ACCOUNT_TOKEN} Secret cannot be delivered in downstream mode: Fleet copies a"
                " Secret's data and type only, and the API server refuses that type without its"
                f" {SERVICE_ACCOUNT_NAME} annotation; use plain or sops mode for it"
            )
        doc = secret_document(handshake, secret)
        # `immutable` never reaches a cluster (`undelivered`); here it would only make the API
        # server refuse the next rotation (data of an immutable Secret cannot change), and the run.
        doc.pop("immutable", None)
        doc["metadata"]["name"] = handshake.secret_name
        doc["metadata"]["namespace"] = handshake.workspace
        doc["metadata"]["labels"] = {**doc["metadata"].get("labels", {}), **owner_labels(handshake, source)}
        return (doc,)

    def read_back(
        self, content: bytes | None, fleet: Mapping[str, Any], load: Load, light: bool
    ) -> tuple[dict[str, Any], bool] | None:
        names = copied_secrets(fleet)
        return ({"metadata": {"name": names[0]}}, False) if names else None

    def clashes(self, handshakes: list[Handshake], bundle_names: set[tuple[str, str]]) -> list[Problem]:
        """Fleet copies Secret `secretName` from the workspace namespace under that name: two
        handshakes there must not share it, and it must not equal a bundle name (Fleet deletes a
        Secret named like a BundleDeployment in the cluster namespace)."""
        problems = []
        seen: dict[tuple[str, str], Handshake] = {}
        for hs in handshakes:
            first = seen.setdefault((hs.workspace, hs.secret_name), hs)
            if first is not hs:
                problems.append(Problem(hs.file, hs.document, item_path(hs.item, "spec.secretName"),
                    f"downstream mode: {first.ref} ({first.file}) already delivers Secret {hs.secret_name} "
                    f"from workspace {hs.workspace}; Fleet copies it under that one name"))  # fmt: skip
            if (hs.workspace, hs.secret_name) in bundle_names:
                problems.append(Problem(hs.file, hs.document, item_path(hs.item, "spec.secretName"),
                    "downstream mode: equals a bundle name in the workspace; Fleet would delete the copy"))  # fmt: skip
        return problems


def copied_secrets(fleet: Mapping[str, Any]) -> list[str]:
    """The names of the Secrets a bundle's fleet.yaml has Fleet copy (`downstreamResources`)."""
    resources = fleet.get("downstreamResources")
    return [
        resource["name"]
        for resource in (resources if isinstance(resources, list) else ())
        if isinstance(resource, dict) and resource.get("kind") == "Secret" and isinstance(resource.get("name"), str)
    ]


MODE = Downstream()
