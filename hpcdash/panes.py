"""Text panes (HTML, Markdown, Alert) of the app's views: Panel's, under one name.

Known limit: in a notebook with ``pn.extension(inline=True)``, Panel rebuilds a text pane's stylesheet
list each time its text changes and names its CSS on cdn.holoviz.org (loading.css, the theme's
default.css and native.css) in place of the inline copies, so a status line that changes asks the CDN
for them; offline, the views work but miss those styles. Sending the text alone (leaving the
stylesheets as they were) lost updates in notebooks now and then, so these are Panel's panes as they are.
"""

from __future__ import annotations

import panel as pn

__all__ = ["HTML", "Alert", "Markdown"]

HTML = pn.pane.HTML
Markdown = pn.pane.Markdown
Alert = pn.pane.Alert
