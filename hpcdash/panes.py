"""Text panes (HTML, Markdown, Alert) whose new text leaves the page's stylesheets as they are.

Panel rebuilds a text pane's whole list of stylesheets each time its text changes. In a notebook with
``pn.extension(inline=True)`` the list it rebuilds names Panel's CSS on cdn.holoviz.org (loading.css,
the theme's default.css and native.css) in place of the inline copies sent with the first output,
so every status line that changes sends the browser to the CDN, out of reach of compute nodes and
offline containers. A new text cannot change a pane's stylesheets (a change of ``stylesheets`` takes
Panel's other path), so these panes send the text and leave the stylesheets alone.
"""

from __future__ import annotations

import panel as pn

__all__ = ["HTML", "Alert", "Markdown"]


class _KeepsStylesheets:
    def _update(self, ref: str, model) -> None:
        props = self._get_properties(model.document)
        props.pop("stylesheets", None)
        model.update(**props)


class HTML(_KeepsStylesheets, pn.pane.HTML):
    """``pn.pane.HTML`` whose new text keeps the stylesheets it was first shown with."""


class Markdown(_KeepsStylesheets, pn.pane.Markdown):
    """``pn.pane.Markdown`` whose new text keeps the stylesheets it was first shown with."""


class Alert(_KeepsStylesheets, pn.pane.Alert):
    """``pn.pane.Alert`` whose new text keeps the stylesheets it was first shown with."""
