"""core.templating renders what Jinja2 renders (with fleet-handshake's options), or asks Jinja2."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fleethandshake.core import templating


def shout(value: Any) -> str:
    return f"<{value}>"


FILTERS = {"shout": shout, "to_text": str}

TEXT = st.text(alphabet="ab \n{}%#-|:.'\"", max_size=8)
EXPRESSION = st.sampled_from(
    ["{{ a }}", "{{a}}", "{{  a.b  }}", "{{ a.b.c }}", "{{ a | shout }}", "{{ a.b|to_text }}", "{{ n }}",
     "{{ missing }}", "{{ a.missing }}", "{{ d.k }}", "{{ d.items }}", "{{ o.name }}", "{{ o.k }}", "{{ a | nope }}",
     "{{- a }}", "{{ a -}}", "{% if a %}x{% endif %}", "{# c #}", "{{ a + a }}", "{{ 'q' }}", "{{ none }}",
     "{{ i }}", "{{ a\n}}"]
)  # fmt: skip
SOURCES = st.lists(st.one_of(TEXT, EXPRESSION), max_size=6).map("".join)
VALUES = st.one_of(st.text(alphabet="xy \n{}", max_size=4), st.integers(-3, 3), st.none(), st.booleans())


@st.composite
def contexts(draw: st.DrawFn) -> dict[str, Any]:
    context: dict[str, Any] = {
        "a": draw(st.one_of(VALUES, st.builds(lambda v: {"b": v, "c": v}, VALUES))),
        "d": {"k": draw(VALUES), "items": draw(VALUES)},
        "o": SimpleNamespace(name=draw(VALUES)),
        "i": draw(st.integers()),
        "none": None,
    }
    if draw(st.booleans()):
        context["n"] = draw(VALUES)
    return context


def outcome(render: Any) -> tuple[str, Any]:
    try:
        return ("ok", render())
    except Exception as e:
        return ("error", type(e).__name__)


@settings(max_examples=2000, deadline=None)
@given(source=SOURCES, context=contexts())
@example(source="# x {{ a }}. y\n{{ a | shout }}\n", context={"a": "v"})
@example(source="{{{ a }}", context={"a": "v"})
@example(source="x\r\n{{ a }}", context={"a": "v"})
def test_renders_as_jinja2_or_leaves_it_to_jinja2(source: str, context: dict[str, Any]) -> None:
    ours = templating.Templates({"t": source}, FILTERS)
    reference = templating.jinja_environment({"t": source}, FILTERS)
    expected = outcome(lambda: reference.get_template("t").render(**context))
    assert outcome(lambda: ours.get_template("t").render(**context)) == expected


@pytest.mark.parametrize(
    "source",
    ["{% if a %}x{% endif %}", "{# c #}", "{{ a + 1 }}", "{{- a }}", "{{{ a }}", "x\r\n", "{{ a }}{", "{{ a(1) }}",
     "{{ a['b'] }}", "{{ a|f(1) }}"],
)  # fmt: skip
def test_anything_but_text_and_simple_expressions_goes_to_jinja2(source: str) -> None:
    assert templating.compile_simple(source) is None


def test_simple_templates_do_not_import_jinja2() -> None:
    ours = templating.Templates({"t": "# {{ h.name }}\n{{ doc | shout }}\n"}, FILTERS)
    assert ours.get_template("t").simple
    assert ours.get_template("t").render(h=SimpleNamespace(name="n"), doc="d") == "# n\n<d>\n"
    assert ours._jinja is None
