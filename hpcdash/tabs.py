"""Tabs as a keyboard and a screen reader can use them: the page's (Explorer, Cluster, Provenance) and
the Explorer's runs when its layout is "tabs".

Bokeh draws tab headers as focusable ``div``s after the tabs' contents (so Tab reaches them only after
every widget of the open tab), with no ARIA roles, and opens a tab only on a click. ``KeyboardTabs``
puts the headers first and follows the WAI-ARIA tabs pattern with manual activation: the header list
is a ``tablist`` of ``tab``s with ``aria-selected``, each naming its ``tabpanel`` (which is labelled by
it); only the open tab's header is in the Tab order (the others have tabindex -1); Left/Right (and
Home/End) move between headers; Enter or Space opens the focused one. Opening one of the page's tabs
can take a moment the first time (it is built then), so the arrows only move the focus, in every tab
list alike.

BokehJS has no event for a view being drawn, and the Explorer draws new tabs whenever a run is opened
or closed or its layout changes. So nothing is attached to each drawn tabs model: once per page, when
it is ready, the browser wraps (once per window) the methods of Panel's tabs view that draw the headers,
add the contents and show the open tab, so that each of them also applies the pattern to the tabs it
drew, for the tabs marked by ``KeyboardTabs`` only. Nothing else (a slider step) runs it, and it
writes only the attributes that changed; each header list element gets one key handler (a redrawn
list is a new element, with its own). Titles stay text: Bokeh writes them as text nodes, and nothing
here reads or writes them.
"""

from __future__ import annotations

import panel as pn
import param

from hpcdash.access import when_page_ready, with_page_hooks

__all__ = ["KeyboardTabs", "KeyboardTabsHost", "PageTabs", "keyboard_tabs"]

#: The key of the tag that marks a drawn tabs model as keyboard tabs; its value is the list's label.
_MARK = "hpcdash_tablist"

#: Once per page, when it is ready (arguments ``model_type``, the tabs model's qualified name, and
#: ``mark``): wraps the tabs view's drawing methods, once per window, then binds the tabs already drawn.
_INSTALL = """
const View = Bokeh.Models.get(model_type)?.prototype.default_view
if (View == null)
  return
const proto = View.prototype
if (!Object.prototype.hasOwnProperty.call(proto, "__hpcdash_bind")) {
  const bind = (view) => {
    const tag = view.model.tags.find((t) => t != null && typeof t == "object" && typeof t[mark] == "string")
    const {header_el, headers_wrapper_el: list, header_els: els, shadow_el: root} = view
    if (tag == null || header_el == null || list == null || els == null || root == null)
      return
    // the headers before the contents, so that Tab reaches them first (a moved element loses the focus)
    if (view.child_views.some((c) => c.el.parentNode === root &&
                                     (c.el.compareDocumentPosition(header_el) & Node.DOCUMENT_POSITION_FOLLOWING))) {
      const focused = root.activeElement
      root.prepend(header_el)
      if (focused != null && header_el.contains(focused))
        focused.focus()
    }
    set(list, "role", "tablist")
    set(list, "aria-label", tag[mark])
    const active = view.model.active
    const stop = active in els ? active : 0
    els.forEach((el, i) => {
      const id = `${view.model.id}-tab-${i}`
      if (el.id !== id)
        el.id = id
      set(el, "role", "tab")
      set(el, "aria-selected", i == active ? "true" : "false")
      if (el.tabIndex !== (i == stop ? 0 : -1))
        el.tabIndex = i == stop ? 0 : -1
      const panel = view.child_views[i]?.el
      if (panel == null) {  // its content is not drawn yet: bound again once it is
        el.removeAttribute("aria-controls")
        return
      }
      const panel_id = `${view.model.id}-panel-${i}`  // in the headers' shadow root, so the ids resolve
      if (panel.id !== panel_id)
        panel.id = panel_id
      set(panel, "role", "tabpanel")
      set(panel, "aria-labelledby", id)
      set(el, "aria-controls", panel_id)
    })
    if (list.__hpcdash_keys)
      return
    list.__hpcdash_keys = true
    list.addEventListener("keydown", (event) => {
      const els = view.header_els
      const i = els.indexOf(event.target)
      if (i < 0 || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey)
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
  }
  // a failure here must not stop Bokeh from drawing the tabs
  proto.__hpcdash_bind = safely("keyboard tabs", bind)
  // the headers drawn (first drawing, new tabs), the open tab shown, the contents of new tabs drawn
  after(proto, ["_update_headers", "update_active", "update_children"], proto.__hpcdash_bind)
}
for (const view of Bokeh.index.query((v) => v instanceof View))
  proto.__hpcdash_bind(view)
"""


def keyboard_tabs(doc) -> None:
    """Once per page (`doc`, None: nothing): when it is ready, every ``KeyboardTabs`` of the page,
    drawn with it or later, follows the tabs pattern (see the module's docstring). Calling it again
    for the same page adds nothing."""
    when_page_ready(doc, "keyboard_tabs", _INSTALL, model_type=pn.Tabs._bokeh_model.__qualified_model__, mark=_MARK)


class KeyboardTabs(pn.Tabs):
    """``pn.Tabs`` that a keyboard reaches first and opens, and a screen reader reads as a list of tabs
    named ``label`` (see the module's docstring)."""

    label = param.String(default="Tabs", constant=True, doc="What a screen reader calls the list of tabs.")

    _rename = {**pn.Tabs._rename, "label": None}

    def _process_param_change(self, params):
        props = super()._process_param_change(params)
        if "tags" in props:  # the mark rides along with the user's own tags
            props["tags"] = [*props["tags"], {_MARK: self.label}]
        return props

    def _get_model(self, doc, root=None, parent=None, comm=None):
        keyboard_tabs(doc)
        return super()._get_model(doc, root, parent, comm)


class PageTabs(KeyboardTabs):
    """The page's sections as keyboard tabs."""

    label = param.String(default="Sections", constant=True, doc="What a screen reader calls the list of tabs.")


class KeyboardTabsHost(pn.Column):
    """A ``pn.Column`` that may show ``KeyboardTabs`` only after its page is ready (a layout switched to
    tabs later): drawing it prepares the page for them (``keyboard_tabs``), as drawing the tabs would (in a
    notebook, it carries the page's hooks: ``with_page_hooks``)."""

    def _get_model(self, doc, root=None, parent=None, comm=None):
        keyboard_tabs(doc)
        return with_page_hooks(super()._get_model(doc, root, parent, comm), doc, comm)
