"""hpcdash's text panes in a notebook with ``pn.extension(inline=True)``: a new text leaves the inline
stylesheets of the first output in place (Panel's own panes name cdn.holoviz.org then)."""

from __future__ import annotations

import panel as pn
import pytest
from bokeh.models import ImportedStyleSheet

from hpcdash.panes import HTML, Alert, Markdown


def _offhost_stylesheets(doc) -> set[str]:
    return {str(m.url) for m in doc.models if isinstance(m, ImportedStyleSheet) and "://" in str(m.url)}


@pytest.fixture
def inline(monkeypatch):
    """As after ``pn.extension(inline=True)`` in a notebook."""
    monkeypatch.setattr(pn.extension, "_loaded", True)
    old = pn.config.inline
    pn.config.inline = True
    yield
    pn.config.inline = old


@pytest.mark.parametrize("pane", [lambda: HTML("a"), lambda: Markdown("a"), lambda: Alert("a")],
                         ids=["HTML", "Markdown", "Alert"])
def test_new_text_keeps_the_inline_stylesheets(inline, pane):
    pane = pane()
    layout = pn.Column(pane)
    layout._repr_mimebundle_()
    ref = next(iter(layout._models))
    doc = pn.state._views[ref][2]
    model = pane._models[ref][0]
    assert not _offhost_stylesheets(doc)
    sheets = list(model.stylesheets)
    pane.object = "b"
    assert "b" in model.text
    assert list(model.stylesheets) == sheets
    assert not _offhost_stylesheets(doc)


def test_panels_own_pane_is_what_this_works_around(inline):
    """If this fails, Panel keeps a notebook's inline stylesheets itself and hpcdash.panes can go."""
    pane = pn.pane.HTML("a")
    layout = pn.Column(pane)
    layout._repr_mimebundle_()
    doc = pn.state._views[next(iter(layout._models))][2]
    pane.object = "b"
    assert _offhost_stylesheets(doc)
