"""fleet-handshake's templates, rendered without importing Jinja2 when they are simple enough.

Every bundled template is text with `{{ name.attribute }}` and `{{ name | filter }}` in it. For
such a template the result of Jinja2 is known exactly: the text, and `str` of each value looked
up as Jinja2 looks it up (attribute, then item). This module renders those directly; anything
else (a `{%` block, a `{#` comment, another expression, a value that is not a string, a name
missing from the context) is rendered by Jinja2 itself, with the options below. Importing Jinja2
takes about 25 ms, a large part of a run that renders one changed Secret.
`tests/unit/test_templating.py` compares both paths on every bundled template.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    import jinja2

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_EXPRESSION = re.compile(rf"\{{\{{ *({_NAME}(?:\.{_NAME})*) *(?:\| *({_NAME}) *)?\}}\}}")

Part = str | tuple[tuple[str, ...], str | None]  # text, or (name and attributes, filter or None)
Filter = Callable[["Any"], str]


def compile_simple(source: str) -> tuple[Part, ...] | None:
    """The template as text and expressions, or None when it holds anything else."""
    if "\r" in source:
        return None  # Jinja2 rewrites line endings
    parts: list[Part] = []
    pos = 0
    for match in _EXPRESSION.finditer(source):
        parts += [source[pos : match.start()], (tuple(match[1].split(".")), match[2])]
        pos = match.end()
    parts.append(source[pos:])
    for text in parts[0::2]:
        assert isinstance(text, str)
        if "{{" in text or "{%" in text or "{#" in text or text.endswith("{"):
            return None
    return tuple(parts)


def render_simple(parts: tuple[Part, ...], context: Mapping[str, Any], filters: Mapping[str, Filter]) -> str | None:
    """What Jinja2 renders for these parts, or None when only Jinja2 can say (then it is asked)."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        path, filter_name = part
        if path[0] not in context:
            return None  # StrictUndefined: Jinja2 raises its own error
        value = context[path[0]]
        for attribute in path[1:]:
            try:
                value = getattr(value, attribute)
            except AttributeError:
                try:
                    value = value[attribute]
                except (TypeError, LookupError, AttributeError):
                    return None
        if filter_name is not None:
            function = filters.get(filter_name)
            if function is None:
                return None
            value = function(value)
        if type(value) is not str:
            return None  # str() of other types is Jinja2's to decide
        out.append(value)
    return "".join(out)


class Template:
    def __init__(self, owner: Templates, name: str) -> None:
        self._owner = owner
        self._name = name
        source = owner.sources.get(name)
        self._parts = compile_simple(source) if source is not None else None

    @property
    def simple(self) -> bool:
        return self._parts is not None

    def render(self, **context: Any) -> str:
        if self._parts is not None:
            text = render_simple(self._parts, context, self._owner.filters)
            if text is not None:
                return text
        rendered: str = self._owner.jinja().get_template(self._name).render(**context)
        return rendered


class Templates:
    """Named template sources and filters; `get_template(name).render(**context)` as in Jinja2."""

    def __init__(self, sources: Mapping[str, str], filters: Mapping[str, Filter]) -> None:
        self.sources = dict(sources)
        self.filters = dict(filters)
        self._templates: dict[str, Template] = {}
        self._jinja: jinja2.Environment | None = None

    def get_template(self, name: str) -> Template:
        template = self._templates.get(name)
        if template is None:
            template = self._templates[name] = Template(self, name)
        return template

    def jinja(self) -> jinja2.Environment:
        if self._jinja is None:
            self._jinja = jinja_environment(self.sources, self.filters)
        return self._jinja


def jinja_environment(sources: Mapping[str, str], filters: Mapping[str, Filter]) -> jinja2.Environment:
    import jinja2

    # YAML, not HTML: autoescaping would corrupt it. Values enter only through to_yaml.
    env = jinja2.Environment(
        loader=jinja2.DictLoader(dict(sources)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(filters)
    return env
