"""Controls a keyboard reaches and a screen reader names: help icons, number fields, buttons, card
headers, plots and their tools, as Bokeh and Panel draw them.

- **Help icons** (the "?" a field shows for its parameter's doc, and ``help_icon``) are ``div``s that
  only a mouse opens. Each becomes a Tab stop named "Help: <field>" (a button; for a field's own icon,
  right before the field, where it is drawn, in its label), described by the help text
  (``aria-description``), which is also the field's description. Following the WAI-ARIA tooltip pattern, the tooltip shows while the icon has
  the keyboard focus and Escape hides it; Enter or Space shows or hides it too. A mouse works as before.
- **Number fields** (``IntInput``, ``FloatInput``) draw two step buttons after the field, unnamed and in
  the Tab order. As in the WAI-ARIA spin button pattern, the field alone is a Tab stop (ArrowUp/ArrowDown
  and PageUp/PageDown step its value); the buttons leave the Tab order, are named "Increase <field>" and
  "Decrease <field>", and step the value when a screen reader or voice control activates them.
  The field itself is a spin button (``role="spinbutton"``, ``aria-valuenow``/``-valuemin``/``-valuemax``
  following the model).
- **Card headers** (``pn.Card``'s collapse button) are named by the card's title and say whether the
  card is open (``aria-expanded``).
- **Buttons with a tooltip** (Panel's ``description``) are described by its text, not for mouse users
  alone; a check box labelled as a help icon's tag says (``help_icon``) is described by the help text.
- **Plots**: a canvas takes the keyboard focus (for its tools' keys) as an unnamed group. It becomes an
  image (``aria-roledescription`` "plot") named by ``name_plot``'s tag, else by its title, axis labels and
  colour bar title, kept up to date when they change. The **toolbar's tools** are buttons; those a click
  turns on and off say whether they are on (``aria-pressed``). Bokeh's keys stay (Enter toggles a tool).

Nothing is attached to each drawn widget: once per page, when it is ready, the browser wraps (once per
window) the drawing methods of Bokeh's input widgets, buttons, plots and tool buttons, Panel's TooltipIcon
and Panel's Card, so that whatever they draw, then or later (a card opened, a form drawn again, a new file pane), gets the above.
The page is prepared by any ``AccessibleColumn`` or ``AccessibleFlexBox`` drawn on it, or by
``accessible_controls(doc)``. A notebook's output never reports itself ready (one of its roots, Panel's
comm manager, never reports itself drawn): there the layouts above (and ``hpcdash.tabs``'
``KeyboardTabsHost``) carry a small script that runs the same code when the output is drawn
(``with_page_hooks``); a view of ours inside a layout of the user's own that holds none of them stays
as Bokeh and Panel draw it.

``when_page_ready`` is the once-per-page mechanism, shared with :mod:`hpcdash.tabs`.
"""

from __future__ import annotations

import html
import json
from typing import Any

import panel as pn
from bokeh.models import Button, CustomJS, PanTool, Plot, ResetTool, TextInput

__all__ = ["AccessibleColumn", "AccessibleFlexBox", "accessible_controls", "help_icon", "name_plot",
           "when_page_ready", "with_page_hooks"]

#: The key of the tag that names what a ``help_icon`` helps with.
_HELP_FOR = "hpcdash_help_for"
#: The key of the tag that names a plot (``name_plot``).
_PLOT_NAME = "hpcdash_plot_name"


#: Helpers every page hook's code can use (``when_page_ready`` puts them before it): ``set(el, name,
#: value)`` sets an attribute unless it has that value already; ``safely(what, bind)`` is ``bind`` that logs
#: its failure (as `what`) rather than stopping Bokeh's drawing; ``after(proto, names, bind)`` makes each of
#: the methods `names` of the prototype `proto` call ``bind(view)`` once it has run (once its promise has
#: settled, for an async one).
_PRELUDE = """
const set = (el, name, value) => {
  if (el.getAttribute(name) !== value)
    el.setAttribute(name, value)
}
const safely = (what, bind) => (view) => {
  try {
    bind(view)
  } catch (error) {
    console.warn(`${what}:`, error)
  }
}
const after = (proto, names, bind) => {
  for (const name of names) {
    const base = proto[name]
    if (typeof base != "function")
      continue
    proto[name] = function (...args) {
      const result = base.apply(this, args)
      if (result instanceof Promise)
        return result.then((value) => {
          bind(this)
          return value
        })
      bind(this)
      return result
    }
  }
}
"""


def when_page_ready(doc, name: str, code: str, **args: Any) -> None:
    """Once per page (`doc`; None: nothing) and `name`: run the JavaScript `code` in the browser when the
    page is ready (with `args` as its arguments, and the helpers of ``_PRELUDE``). Calling it again with
    the same name adds nothing.

    A notebook's output never reports itself ready (one of its roots, Panel's comm manager, never
    reports itself drawn): there the code runs from the layout that carries it (``with_page_hooks``)."""
    if doc is None:
        return
    done = getattr(doc, "_hpcdash_when_ready", None)
    if done is None:
        done = doc._hpcdash_when_ready = set()
    if name in done:
        return
    done.add(name)
    code = _PRELUDE + code
    doc.js_on_event("document_ready", CustomJS(args=args, code=code))
    pending = getattr(doc, "_hpcdash_page_hooks", None)
    if pending is None:
        pending = doc._hpcdash_page_hooks = []
    pending.append((code, args))


#: Runs each hook's code once it is drawn, again when the output it is in has been drawn (the views drawn
#: before it are then in Bokeh's index), and once more a second later; the hooks wrap Bokeh's and
#: Panel's drawing methods once per window and bind views idempotently, so running again adds nothing.
_NOTEBOOK_RUNNER = """(function () {
  const hooks = [%s]
  const run = () => {
    for (const hook of hooks) {
      try {
        hook()
      } catch (error) {
        console.warn("page hooks:", error)
      }
    }
  }
  run()
  setTimeout(run, 0)
  setTimeout(run, 1000)
})()"""


def with_page_hooks(model, doc, comm) -> Any:
    """`model` (a drawn layout's Bokeh model) carrying, in a notebook's output (`comm` given), the page
    hooks asked for on `doc` by ``when_page_ready`` that no layout carries yet: a script run when the
    output is drawn, as the page's ready event would run them in a served page. Elsewhere `model` as it is."""
    pending = getattr(doc, "_hpcdash_page_hooks", None) if comm is not None else None
    if not pending or not isinstance(getattr(model, "children", None), list):
        return model  # (a layout drawn by a template, such as a FlexBox, leaves them to one inside it)
    from panel.models import HTML as PanelHTML

    hooks = []
    for code, args in pending:
        consts = "".join(f"const {k} = {json.dumps(v)};\n" for k, v in args.items())
        hooks.append(f"() => {{\n{consts}{code}\n}}")
    pending.clear()
    script = (_NOTEBOOK_RUNNER % ",\n".join(hooks)).replace("</", "<\\/")
    runner = PanelHTML(text=html.escape(f"<script>{script}</script>"), run_scripts=True, disable_math=True,
                       width=0, height=0, margin=(0, 0, 0, 0), sizing_mode="fixed",
                       tags=["hpcdash-page-hooks"])
    model.children = [*model.children, runner]
    return model


#: Once per page, when it is ready: wraps the drawing methods (once per window), then binds the views
#: already drawn. Arguments: the models' qualified names and the help icon's tag key.
_INSTALL = """
const input_view = Bokeh.Models.get(text_input)?.prototype.default_view
const icon_view = Bokeh.Models.get(tooltip_icon)?.prototype.default_view
const card_view = Bokeh.Models.get(card)?.prototype.default_view
const button_view = Bokeh.Models.get(button)?.prototype.default_view
const plot_view = Bokeh.Models.get(plot)?.prototype.default_view
// the classes of a toolbar's buttons are not in Bokeh's registry: those of an on/off tool's and a
// one-click tool's button (a toolbar makes its buttons so)
const button_class = (tool) => {
  try {
    return new (Bokeh.Models.get(tool))().tool_button().constructor
  } catch (error) {
    return null
  }
}
const tool_view = button_class(on_off_tool)?.prototype.default_view
const click_model = button_class(click_tool)
if (input_view == null)
  return
// the prototype of `view_class` (or of a class it extends) that defines the method `name` itself
const own = (view_class, name) => {
  let proto = view_class?.prototype
  while (proto != null && !Object.prototype.hasOwnProperty.call(proto, name))
    proto = Object.getPrototypeOf(proto)
  return proto
}
// the class that draws every input widget's title and help icon (TextInput's view inherits it)
const input_proto = own(input_view, "_build_description_el")
if (input_proto == null)
  return
if (!Object.prototype.hasOwnProperty.call(input_proto, "__hpcdash_access")) {
  const flat = (text) => (text ?? "").replace(/\\s+/g, " ").trim()
  // the text of an element, through open shadow roots (not of styles or scripts)
  const text_of = (el) => {
    if (el.nodeType === Node.TEXT_NODE)
      return el.textContent
    if (el.nodeType !== Node.ELEMENT_NODE || ["STYLE", "SCRIPT", "LINK", "TEMPLATE"].includes(el.tagName))
      return ""
    const children = el.shadowRoot != null ? el.shadowRoot.childNodes : el.childNodes
    return Array.from(children, text_of).join(" ")
  }
  // a tooltip's content as plain text (a string, or HTML as Panel makes it)
  const tip_text = (content) => {
    if (typeof content == "string")
      return flat(content)
    const html = content?.html
    const parts = typeof html == "string" ? [html] : Array.isArray(html) ? html : []
    const parsed = document.createElement("template")
    parsed.innerHTML = parts.filter((part) => typeof part == "string").join(" ")
    return flat(parsed.content.textContent)
  }
  // `icon`: the "?" element; `tip()`: its tooltip's view (a string when Bokeh shows the text as the icon's
  // title); `about`: what it helps with; `field`: the control it describes (null: none)
  const bind_help = (icon, tip, about, field) => {
    set(icon, "role", "button")
    set(icon, "tabindex", "0")
    set(icon, "aria-label", about ? `Help: ${about}` : "Help")
    const view = tip()
    const text = tip_text(typeof view == "string" ? view : view?.model.content)
    if (view?.el != null)
      set(view.el, "role", "tooltip")
    // the text itself, not a reference to it: ids name elements of their own shadow root only, and a
    // hidden copy of the text would be found by searches of the page's text
    set(icon, "aria-description", text)
    if (field != null)
      set(field, "aria-description", text)
    if (icon.__hpcdash_keys)
      return
    icon.__hpcdash_keys = true
    // shown while the icon has the keyboard focus (a click keeps Bokeh's own show and pin)
    const model = () => {
      const view = tip()
      return view == null || typeof view == "string" ? null : view.model
    }
    let by_focus = false
    const show = () => {
      const m = model()
      if (m != null && !m.visible) {
        by_focus = true
        m.visible = true
      }
    }
    const hide = () => {
      const m = model()
      if (m != null && by_focus)
        m.visible = false
      by_focus = false
    }
    icon.addEventListener("focus", () => {
      if (icon.matches(":focus-visible"))
        show()
    })
    icon.addEventListener("blur", hide)
    icon.addEventListener("mouseleave", () => {  // Bokeh hides it then; the focus is still on the icon
      if (by_focus && icon.getRootNode().activeElement === icon) {
        by_focus = false
        show()
      }
    })
    icon.addEventListener("keydown", (event) => {
      const m = model()
      if (m == null || event.altKey || event.ctrlKey || event.metaKey)
        return
      if (event.key == "Escape" && m.visible) {
        event.preventDefault()
        event.stopPropagation()
        by_focus = true
        hide()
      } else if (event.key == "Enter" || event.key == " ") {
        event.preventDefault()
        if (m.visible) {
          by_focus = true
          hide()
        } else
          show()
      }
    })
  }
  const title_of = (view) => {
    const {title} = view.model
    return flat(typeof title == "string" ? title : view.title_el?.textContent)
  }
  const bind_input = (view) => {
    const about = title_of(view)
    const {desc_el: icon, input_el: field, btn_up_el: up, btn_down_el: down} = view
    if (icon != null) {
      bind_help(icon, () => view.description, about, field)
      // the field is named by its title alone, not by the help icon drawn inside its label
      if (field != null && about)
        set(field, "aria-label", about)
    }
    if (field != null && up != null) {
      // a number field with step buttons is a spin button: its role, bounds and current value
      set(field, "role", "spinbutton")
      const number = (v) => typeof v == "number" && isFinite(v) ? String(v) : null
      const state = () => {
        for (const [name, v] of [["aria-valuenow", view.model.value], ["aria-valuemin", view.model.low],
                                 ["aria-valuemax", view.model.high]]) {
          const text = number(v)
          if (text == null)
            field.removeAttribute(name)
          else
            set(field, name, text)
        }
      }
      state()
      if (!view.__hpcdash_value) {
        view.__hpcdash_value = true
        view.on_change([view.model.properties.value, view.model.properties.low, view.model.properties.high], state)
      }
    }
    for (const [btn, word, sign] of [[up, "Increase", 1], [down, "Decrease", -1]]) {
      if (btn == null)
        continue
      set(btn, "tabindex", "-1")
      set(btn, "aria-label", about ? `${word} ${about}` : word)
      if (btn.__hpcdash_click)
        continue
      btn.__hpcdash_click = true
      // a screen reader's or voice control's click has no mouse press (Bokeh steps on mouse presses)
      btn.addEventListener("click", (event) => {
        if (event.detail !== 0 || view.model.disabled)
          return
        view.increment(sign * view.model.step)
        view.model.value_throttled = view.model.value
      })
    }
  }
  const bind_icon = (view) => {
    const tag = view.model.tags.find((t) => t != null && typeof t == "object" && typeof t[help_for] == "string")
    const about = tag?.[help_for] ?? ""
    // the control it helps with, when one control on the page is labelled so (a check box's own label)
    const labelled = (v) => v.model.label === about || (Array.isArray(v.model.labels) && v.model.labels.length == 1
                                                         && v.model.labels[0] === about)
    const fields = about ? Array.from(Bokeh.index.query(labelled), (v) => v.input_el ?? v.shadow_el?.querySelector("input"))
                                .filter((el) => el != null) : []
    if (view.desc_el != null)
      bind_help(view.desc_el, () => view.child_views.find((v) => v.model === view.model.description),
                about, fields.length == 1 ? fields[0] : null)
  }
  // a button's tooltip (Panel's ``description``) is its description, not for mouse users alone
  const bind_button = (view) => {
    const tip = view.model.tooltip ?? view.model.description
    const text = tip == null ? "" : tip_text(typeof tip == "string" ? tip : tip.content)
    if (view.button_el != null && text)
      set(view.button_el, "aria-description", text)
  }
  // a plot's canvas takes the keyboard focus (for its tools' keys): an image named by what it shows
  const axis_label = (renderers) => flat(renderers.find((r) => typeof r.axis_label == "string" && r.axis_label)?.axis_label)
  const plot_name = (model) => {
    const tag = model.tags.find((t) => t != null && typeof t == "object" && typeof t[plot_tag] == "string")
    if (tag != null)
      return tag[plot_tag]
    const {title, below, above, left, right} = model
    const x = axis_label([...below, ...above]), y = axis_label([...left, ...right])
    const bar = [...right, ...left, ...below, ...above].find((r) => r.color_mapper != null && typeof r.title == "string")
    return [flat(typeof title == "string" ? title : title?.text), x && y ? `${y} against ${x}` : "",
            bar != null && flat(bar.title) ? `colour: ${flat(bar.title)}` : ""].filter(Boolean).join(", ")
  }
  const bind_plot = (view) => {
    const el = view.canvas_view?.events_el
    if (el == null)
      return
    set(el, "role", "img")
    set(el, "aria-roledescription", "plot")
    set(el, "aria-label", plot_name(view.model) || "plot")
    if (view.__hpcdash_named)
      return
    view.__hpcdash_named = true
    const {below, above, left, right} = view.model
    const labels = [...below, ...above, ...left, ...right].flatMap((r) =>
      ["axis_label", "title"].filter((name) => r.properties[name] != null).map((name) => r.properties[name]))
    view.on_change([...labels, view.model.properties.tags], () => bind_plot(view))
  }
  // a tool's button: a button, pressed while its tool is on (Save and Reset act at once: no state)
  const bind_tool = (view) => {
    set(view.el, "role", "button")
    if (click_model == null || !(view.model instanceof click_model))
      set(view.el, "aria-pressed", view.model.tool.active ? "true" : "false")
  }
  const bind_card = (view) => {
    const button = view.button_el
    if (button == null || !view.model.collapsible || view.header_el !== button)
      return
    set(button, "aria-expanded", view.model.collapsed ? "false" : "true")
    const title = flat(text_of(view.child_views[0]?.el ?? button))
    if (title)
      set(button, "aria-label", title)
  }
  const wrap = (proto, names, bind) => {
    const safe = safely("accessible controls", bind)  // a failure must not stop Bokeh from drawing
    after(proto, names, safe)
    proto.__hpcdash_access = safe
  }
  wrap(input_proto, ["render"], bind_input)
  const button_proto = own(button_view, "_render_button")
  if (button_proto != null)
    wrap(button_proto, ["render"], bind_button)
  const plot_proto = own(plot_view, "render")
  if (plot_proto != null)
    wrap(plot_proto, ["render"], bind_plot)
  const tool_proto = own(tool_view, "_toggle_active")
  if (tool_proto != null)
    wrap(tool_proto, ["_toggle_active"], bind_tool)
  if (icon_view != null)
    wrap(icon_view.prototype, ["render"], bind_icon)
  if (card_view != null)
    wrap(card_view.prototype, ["render", "_collapse"], bind_card)
}
for (const view of Bokeh.index.query((v) => typeof v.__hpcdash_access == "function"))
  view.__hpcdash_access(view)
"""


def accessible_controls(doc) -> None:
    """Once per page (`doc`, None: nothing): when it is ready, its help icons, number fields and card
    headers, drawn with it or later, are reached and named as the module's docstring says. Calling it
    again for the same page adds nothing."""
    when_page_ready(doc, "accessible_controls", _INSTALL,
                    text_input=TextInput.__qualified_model__,
                    tooltip_icon=pn.widgets.TooltipIcon._widget_type.__qualified_model__,
                    card=pn.Card._bokeh_model.__qualified_model__, help_for=_HELP_FOR,
                    button=Button.__qualified_model__, plot=Plot.__qualified_model__,
                    on_off_tool=PanTool.__qualified_model__, click_tool=ResetTool.__qualified_model__,
                    plot_tag=_PLOT_NAME)


def help_icon(text: str, about: str, **kwargs: Any) -> pn.widgets.TooltipIcon:
    """A "?" icon that shows `text` (Markdown), for the control named `about`: a screen reader calls it
    "Help: <about>" (on a page prepared by ``accessible_controls``)."""
    tags = [*kwargs.pop("tags", []), {_HELP_FOR: about}]
    return pn.widgets.TooltipIcon(value=text, tags=tags, **kwargs)


def name_plot(fig, name: str) -> None:
    """Name the Bokeh figure `fig` `name` for a screen reader (on a page prepared by
    ``accessible_controls``), in place of the name made of its title, axis labels and colour bar title."""
    fig.tags = [t for t in fig.tags if not (isinstance(t, dict) and _PLOT_NAME in t)] + [{_PLOT_NAME: name}]


class AccessibleColumn(pn.Column):
    """A ``pn.Column`` that prepares the page it is drawn on with ``accessible_controls`` (in a notebook,
    it carries the page's hooks: ``with_page_hooks``)."""

    def _get_model(self, doc, root=None, parent=None, comm=None):
        accessible_controls(doc)
        return with_page_hooks(super()._get_model(doc, root, parent, comm), doc, comm)


class AccessibleFlexBox(pn.FlexBox):
    """A ``pn.FlexBox`` that prepares the page it is drawn on with ``accessible_controls`` (in a notebook,
    it carries the page's hooks: ``with_page_hooks``)."""

    def _get_model(self, doc, root=None, parent=None, comm=None):
        accessible_controls(doc)
        return with_page_hooks(super()._get_model(doc, root, parent, comm), doc, comm)
