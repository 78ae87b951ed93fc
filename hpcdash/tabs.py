"""The page's tabs (Explorer, Cluster, Provenance) as a keyboard and a screen reader can use them.

Bokeh draws tab headers as focusable ``div``s after the tabs' contents (so Tab reaches them only after
every widget of the open tab), with no ARIA roles, and opens a tab only on a click. ``PageTabs`` puts
the headers first and follows the WAI-ARIA tabs pattern with manual activation: the header list is a
``tablist`` of ``tab``s with ``aria-selected``, each naming its ``tabpanel``; only the open tab's header is in the Tab order (the
others have tabindex -1); Left/Right (and Home/End) move between headers; Enter or Space opens the
focused one. Opening a tab can take a moment the first time (it is built then), so the arrows only move
the focus. The work is done in the browser when the page is ready and when the open tab or the list of
tabs changes; nothing else (a slider step) runs it.
"""

from __future__ import annotations

import panel as pn
import param
from bokeh.models import CustomJS

__all__ = ["PageTabs"]

#: Binds one drawn Tabs model (``tabs``): roles, selection and tabindex from ``tabs.active``; the
#: headers before the contents; the key handler, once per header list. Run again after Bokeh redraws
#: the headers (a change of ``tabs``, where BokehJS's own handler runs after this one: hence the timeout).
_KEYBOARD_TABS = """
const apply = () => {
  const view = Bokeh.index.find_one(tabs)
  if (view == null || view.header_els == null || view.headers_wrapper_el == null)
    return false
  if (view.shadow_el.firstElementChild !== view.header_el)
    view.shadow_el.prepend(view.header_el)
  const list = view.headers_wrapper_el
  list.setAttribute("role", "tablist")
  list.setAttribute("aria-label", label)
  view.header_els.forEach((el, i) => {
    const selected = i == tabs.active
    el.id = `${tabs.id}-tab-${i}`
    el.setAttribute("role", "tab")
    el.setAttribute("aria-selected", selected ? "true" : "false")
    el.tabIndex = selected ? 0 : -1
    const panel = view.child_views[i]?.el
    if (panel != null) {  // in the same shadow root as the headers, so the ids resolve
      panel.id = `${tabs.id}-panel-${i}`
      panel.setAttribute("role", "tabpanel")
      panel.setAttribute("aria-labelledby", el.id)
      el.setAttribute("aria-controls", panel.id)
    }
  })
  if (list.__hpcdash_keys)
    return true
  list.__hpcdash_keys = true
  list.addEventListener("keydown", (event) => {
    const els = view.header_els
    const i = els.indexOf(event.target)
    if (i < 0 || event.altKey || event.ctrlKey || event.metaKey)
      return
    const n = els.length
    const to = {ArrowRight: (i + 1) % n, ArrowLeft: (i - 1 + n) % n, Home: 0, End: n - 1}[event.key]
    if (event.key == "Enter" || event.key == " ") {
      event.preventDefault()
      view.change_active(i)
    } else if (to != null) {
      event.preventDefault()
      els[to].focus()
    }
  })
  return true
}
if (!apply())
  for (const ms of [100, 500, 2000])
    setTimeout(apply, ms)
setTimeout(apply, 0)
"""


class PageTabs(pn.Tabs):
    """``pn.Tabs`` that a keyboard reaches first and opens (see the module's docstring)."""

    label = param.String(default="Sections", doc="What a screen reader calls the list of tabs.")

    _rename = {**pn.Tabs._rename, "label": None}

    def _get_model(self, doc, root=None, parent=None, comm=None):
        model = super()._get_model(doc, root, parent, comm)
        hook = CustomJS(args={"tabs": model, "label": self.label}, code=_KEYBOARD_TABS)
        model.js_on_change("active", hook)
        model.js_on_change("tabs", hook)
        if doc is not None:
            doc.js_on_event("document_ready", hook)
        return model
