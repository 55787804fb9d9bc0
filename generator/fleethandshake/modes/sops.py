"""sops: each bundle holds a SopsSecret, sealed per target for that target's age recipients
(`sops.recipients` in the config), which the sops-secrets-operator turns into the Secret
downstream. No clear text in git; each cluster holds one key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.bundles import Bundle
from ..core.describe import describe_target
from ..core.models import Handshake, PlainSecret
from ..core.render import RenderError, Sealed, owner_labels, present
from .base import Mode, Recipients

if TYPE_CHECKING:
    from jinja2 import Environment


class Sops(Mode):
    name = "sops"
    file = "sopssecret.yaml"
    seals = True

    def prepare(self, env: Environment, handshake: Handshake, secret: PlainSecret, source: str) -> bytes:
        """A SopsSecret (isindir.github.com/v1alpha3) the sops-secrets-operator turns into the Secret."""
        template = {"name": secret.name, "type": secret.type,
                    **present(labels=secret.labels, annotations=secret.annotations, data=secret.data)}  # fmt: skip
        labels = owner_labels(handshake, source)
        document = {
            "apiVersion": "isindir.github.com/v1alpha3",
            "kind": "SopsSecret",
            "metadata": {"name": secret.name, "namespace": handshake.target_namespace, "labels": labels},
            "spec": {"secretTemplates": [template]},
        }
        return env.get_template("sopssecret.yaml.j2").render(sopssecret=document).encode()

    def bundle_file(self, env: Environment, handshake: Handshake, bundle: Bundle, shared: Any,
                    recipients: Recipients | None, revision: str, source: str) -> Sealed:  # fmt: skip
        to = recipients(bundle.target) if recipients is not None else ()
        if not to:
            raise RenderError(f"no sops recipients for target [{describe_target(bundle.target.to_dict())}]: "
                              "add a scope for it under sops.recipients in .fleet-handshake.yaml")  # fmt: skip
        # The sops-secrets-operator's convention: encrypt spec.secretTemplates.
        return Sealed(f"{bundle.path}/{self.file}", shared, to, "Templates")


MODE = Sops()
