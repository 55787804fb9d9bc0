"""The source stays in modules a reader can hold in mind: none is over 350 lines (issue 14)."""

from __future__ import annotations

from fhtest import REPO

LIMIT = 350


def test_no_module_is_over_350_lines() -> None:
    modules = sorted((REPO / "generator").rglob("*.py"))
    assert len(modules) > 50  # the tree was found
    long = {str(p.relative_to(REPO)): n for p in modules if (n := len(p.read_text().splitlines())) > LIMIT}
    assert long == {}
