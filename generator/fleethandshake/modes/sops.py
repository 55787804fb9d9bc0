"""sops: each bundle holds a SopsSecret, sealed per target for that target's age recipients
(`sops.recipients` in the config), which the sops-secrets-operator turns into the Secret
downstream. No clear text in git; each cluster holds one key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..core.bundles import Bundle
from ..core.describe import describe_target
from ..core.models import Handshake, PlainSecret
from ..core.render import RenderError, Sealed, owner_labels, present
from .base import Load, Mode, Recipients

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

    def undelivered(self, secret: PlainSecret) -> tuple[str, ...]:
        """The operator's SopsSecret template has no `immutable` (isindir/sops-secrets-operator
        api/v1alpha3 SopsSecretTemplate: name, annotations, labels, type, data, stringData)."""
        return ("immutable",) if secret.immutable else ()

    def bundle_file(self, env: Environment, handshake: Handshake, bundle: Bundle, shared: Any,
                    recipients: Recipients | None, revision: str, source: str) -> Sealed:  # fmt: skip
        to = recipients(bundle.target) if recipients is not None else ()
        if not to:
            raise RenderError(f"no sops recipients for target [{describe_target(bundle.target.to_dict())}]: "
                              "add a scope for it under sops.recipients in .fleet-handshake.yaml")  # fmt: skip
        # The sops-secrets-operator's convention: encrypt spec.secretTemplates.
        return Sealed(f"{bundle.path}/{self.file}", shared, to, "Templates")

    def read_back(
        self, content: bytes | None, fleet: Mapping[str, Any], load: Load, light: bool
    ) -> tuple[dict[str, Any], bool] | None:
        """The SopsSecret's metadata, and the key names of its Secret: sops encrypts values only,
        so plan can name keys when the state file does not record them."""
        found = load(content)
        if not isinstance(found, dict):
            return None
        spec = found.get("spec")
        templates = spec.get("secretTemplates") if isinstance(spec, dict) else None
        template = templates[0] if isinstance(templates, list) and templates else None
        data = template.get("data") if isinstance(template, dict) else None
        names = {str(k): "" for k in data} if isinstance(data, dict) else {}
        return {"metadata": found.get("metadata") or {}, "data": names}, False


MODE = Sops()
