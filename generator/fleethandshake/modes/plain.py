"""plain: the decrypted Secret is written into each bundle. Works with stock Fleet and nothing
else downstream; the output holds Secrets in clear text and must stay private."""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..core.models import Handshake, PlainSecret
from ..core.render import MAX_BUNDLE_GZIP, RenderError, secret_document
from .base import Load, Mode

if TYPE_CHECKING:
    from jinja2 import Environment

_RENDERED_NAME = re.compile(rb'\n"kind": "Secret"\n"metadata":\n  "name": "([a-z0-9][a-z0-9.-]*)"\n')


def rendered_secret_name(content: bytes) -> str | None:
    """The name of a secret.yaml exactly as render.py writes it, found without parsing the YAML (an
    unchanged bundle needs only that, for conflicts); None for any other text."""
    found = _RENDERED_NAME.search(content)
    return found[1].decode() if found is not None else None


class Plain(Mode):
    name = "plain"
    file = "secret.yaml"
    clear_text = True

    def prepare(self, env: Environment, handshake: Handshake, secret: PlainSecret, source: str) -> bytes:
        doc = secret_document(handshake, secret)
        text = env.get_template("secret.yaml.j2").render(handshake=handshake, secret=doc).encode()
        if len(text) > MAX_BUNDLE_GZIP:  # base64 text: it gzips to at least 3/4 of its size
            packed = len(zlib.compress(text, 9))
            if packed > MAX_BUNDLE_GZIP:
                raise RenderError(f"the Secret compresses to {packed} bytes, over the {MAX_BUNDLE_GZIP} bytes a "
                                  "Fleet bundle can hold; use downstream mode for a Secret this large")  # fmt: skip
        return text

    def read_back(
        self, content: bytes | None, fleet: Mapping[str, Any], load: Load, light: bool
    ) -> tuple[dict[str, Any], bool] | None:
        name = rendered_secret_name(content) if content and light else None
        if name:
            return {"metadata": {"name": name}}, False
        secret = load(content)
        return (secret, True) if isinstance(secret, dict) else None


MODE = Plain()
