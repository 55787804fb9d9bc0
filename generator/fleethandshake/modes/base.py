"""What a delivery mode is: what each bundle holds beside fleet.yaml, what is written elsewhere,
and how plan reads a bundle back. A mode is pure: what must happen outside the output tree
(sealing with sops, Secrets on the management cluster) it describes as data in `Rendered`, and
the application performs it with the adapters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ..core.bundles import Bundle, bundles_for
from ..core.models import Handshake, PlainSecret, Target
from ..core.render import FLEET_YAML, Rendered, Sealed, Tree, fleet_document
from ..errors import Problem

if TYPE_CHECKING:
    from jinja2 import Environment

Recipients = Callable[[Target], tuple[str, ...]]
Load = Callable[[bytes | None], Any]


class Mode:
    name: ClassVar[str]
    file: ClassVar[str]  # the file each bundle holds beside fleet.yaml
    clear_text: ClassVar[bool] = False  # `file` holds the Secret's values readable: written private, warned about
    seals: ClassVar[bool] = False  # `file` is encrypted after rendering (Rendered.sealed), anew each time
    elsewhere: ClassVar[bool] = False  # writes Secrets on the management cluster (Rendered.management)

    def fleet(self, handshake: Handshake, bundle: Bundle, source: str = "") -> dict[str, Any]:
        """The document a bundle's fleet.yaml holds."""
        return fleet_document(handshake, bundle, source)

    def prepare(self, env: Environment, handshake: Handshake, secret: PlainSecret, source: str) -> Any:
        """What every bundle of the handshake shares (rendered once)."""
        return None

    def bundle_file(self, env: Environment, handshake: Handshake, bundle: Bundle, shared: Any,
                    recipients: Recipients | None, revision: str, source: str) -> bytes | Sealed:  # fmt: skip
        """The file `bundle` holds beside fleet.yaml (or a Sealed one): by default, the shared one."""
        made: bytes = shared
        return made

    def management(self, handshake: Handshake, secret: PlainSecret, source: str) -> tuple[dict[str, Any], ...]:
        """The Secrets to write on the management cluster."""
        return ()

    def undelivered(self, secret: PlainSecret) -> tuple[str, ...]:
        """What `secret` holds that this mode cannot deliver to the clusters (said as a warning)."""
        return ()

    def render(
        self,
        env: Environment,
        handshake: Handshake,
        secret: PlainSecret,
        recipients: Recipients | None = None,
        revision: str = "",
        source: str = "",
    ) -> Rendered:
        """Every file of every bundle of one handshake. `source`: the source identity its labels
        carry (core/ownership.py); "" writes none."""
        shared = self.prepare(env, handshake, secret, source)
        fleet_template = env.get_template("fleet.yaml.j2")
        files: Tree = {}
        sealed: list[Sealed] = []
        for bundle in bundles_for(handshake, self.name):
            made = self.bundle_file(env, handshake, bundle, shared, recipients, revision, source)
            if isinstance(made, Sealed):
                sealed.append(made)
            else:
                files[f"{bundle.path}/{self.file}"] = made
            fleet = self.fleet(handshake, bundle, source)
            files[f"{bundle.path}/{FLEET_YAML}"] = fleet_template.render(
                handshake=handshake, bundle=bundle, fleet=fleet
            ).encode()
        return Rendered(files, tuple(sealed), self.management(handshake, secret, source), self.undelivered(secret))

    def read_back(
        self, content: bytes | None, fleet: Mapping[str, Any], load: Load, light: bool
    ) -> tuple[dict[str, Any], bool] | None:
        """How plan reads a bundle back from its `file` (`content`, None if absent) and fleet.yaml:
        the Secret it delivers (at least its metadata) and whether its values are readable there,
        or None when the bundle is not of this mode."""
        found = load(content)
        return ({"metadata": found.get("metadata") or {}}, False) if isinstance(found, dict) else None

    def clashes(self, handshakes: list[Handshake], bundle_names: set[tuple[str, str]]) -> list[Problem]:
        """Names of this mode's handshakes that would make one's Secret another's."""
        return []
