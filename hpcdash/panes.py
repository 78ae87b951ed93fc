"""Text panes (HTML, Markdown, Alert) of the app's views: Panel's, under one name; and a check box
whose label names it for screen readers (`labelled_checkbox`).

`kept_in_view` scrolls a message into view when it appears (or says something new).

Known limit: in a notebook with ``pn.extension(inline=True)``, Panel rebuilds a text pane's stylesheet
list each time its text changes and names its CSS on cdn.holoviz.org (loading.css, the theme's
default.css and native.css) in place of the inline copies, so a status line that changes asks the CDN
for them; offline, the views work but miss those styles. Sending the text alone (leaving the
stylesheets as they were) lost updates in notebooks now and then, so these are Panel's panes as they are.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param

__all__ = ["HTML", "Alert", "Markdown", "kept_in_view", "labelled_checkbox"]

HTML = pn.pane.HTML
Markdown = pn.pane.Markdown
Alert = pn.pane.Alert

#: In the browser, a message just shown (or given new words) is scrolled into view, the least needed, in
#: whatever scrolls around it; once its view has been drawn again
_INTO_VIEW = """
if (!cb_obj.visible)
  return
setTimeout(() => {
  const v = Bokeh.index.query_one((v) => v.model === cb_obj)
  if (v != null && v.el.isConnected)
    v.el.scrollIntoView({block: "nearest"})
}, 50)
"""


def kept_in_view(pane: pn.pane.PaneBase) -> pn.pane.PaneBase:
    """`pane` (a message) is scrolled into view when it is shown or its text changes while shown: an
    answer under a button low on a small screen, or pushed down when the page above it grew, is still
    read without scrolling. Returns `pane`."""
    pane.jscallback(object=_INTO_VIEW, visible=_INTO_VIEW)
    return pane


def labelled_checkbox(obj: param.Parameterized, name: str, label: str, **kwargs: Any) -> pn.widgets.CheckBoxGroup:
    """A check box for the boolean parameter `name` of `obj`, kept in step both ways, labelled `label`.

    Bokeh's Checkbox draws its text beside the box, not in a ``<label>`` around it, so a screen reader
    announces an unnamed check box (and a click on the text does nothing); a one-option CheckBoxGroup
    puts the box inside its label."""
    box = pn.widgets.CheckBoxGroup(options=[label], value=[label] if getattr(obj, name) else [], **kwargs)
    box.param.watch(lambda event: setattr(obj, name, label in event.new), "value")
    obj.param.watch(lambda event: box.param.update(value=[label] if event.new else []), name)
    return box
