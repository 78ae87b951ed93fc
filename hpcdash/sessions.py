"""Views of objects that outlive a page: one server keeps the provenance record and the cluster for all
of its pages (browser tabs), and each page shows them with widgets of its own.

Widgets made with ``from_param`` and ``param.watch`` callbacks register watchers on the shared object;
nothing removes those when the page closes, so every reload would leave a set behind (each holding its
page's widgets, and each woken by every change). `watchers_added` collects what a view registers, and
`at_session_end` runs the clean-up when the page's session ends. `run_on`, `next_tick` and `held`
change a page's Bokeh models from callbacks that are not the page's own events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import panel as pn
import param


def _watchers(obj: param.Parameterized) -> list:
    return [w for per_param in obj.param.watchers.values() for ws in per_param.values() for w in ws]


@contextmanager
def watchers_added(*objs: param.Parameterized) -> Iterator[list]:
    """Collect into the yielded list the watchers registered on `objs` inside the block."""
    before = {id(w) for obj in objs for w in _watchers(obj)}
    added: list = []
    try:
        yield added
    finally:
        added.extend(w for obj in objs for w in _watchers(obj) if id(w) not in before)


def release(watchers: list) -> None:
    """Unregister `watchers` (from `watchers_added`); those already gone are skipped."""
    for w in watchers:
        try:
            w.inst.param.unwatch(w)
        except Exception:  # noqa: BLE001 - already removed
            pass
    watchers.clear()


def in_session() -> bool:
    """True inside a served page's session (not a notebook, not a plain script)."""
    doc = pn.state.curdoc
    return doc is not None and doc.session_context is not None


@contextmanager
def held(doc=None) -> Iterator[None]:
    """The Bokeh model changes made inside (to `doc`, default the current page's) go to the page as
    one message, as with Panel's ``pn.io.hold``, also in the moments before the page has said it is
    drawn: Panel's hold then drops them, counting on the page to fetch the whole document later, but a
    page that has fetched it and is still drawing it never got them (a slice read meanwhile was shown
    with an empty readout). Until then Bokeh's own hold sends them to the page."""
    from panel.io.state import set_curdoc

    doc = doc if doc is not None else pn.state.curdoc
    if doc is None or doc.session_context is None:
        with pn.io.hold(doc):
            yield
        return
    with set_curdoc(doc):
        drawn = pn.state.loaded
    # (on a thread of its own, as Panel's hold does: Bokeh's sends only on the document's own thread)
    if drawn or getattr(pn.state, "_thread_id", None) not in (None, threading.get_ident()):
        with pn.io.hold(doc):
            yield
    elif doc.callbacks.hold_value:  # inside another hold: it sends them
        yield
    else:
        doc.hold("combine")
        try:
            yield
        finally:
            doc.unhold()


def run_on(doc, fn: Callable[[], None]) -> None:
    """Run `fn()` in `doc`'s next tick, its document locked and current (a Bokeh model may be changed
    there, not from a HoloViews stream's subscriber or a widget's event), its changes sent as one,
    under `held`. Held, they also keep their place among Panel's messages: Panel holds a message back
    while the page's websocket is busy, and a change sent straight away could overtake the message
    that brought its model to the page. Nothing once the session closed."""
    from panel.io.state import set_curdoc

    def run() -> None:
        # Panel sends model changes of this session only when its document is the current one
        with set_curdoc(doc), held(doc):
            fn()

    try:
        doc.add_next_tick_callback(run)
    except Exception:  # noqa: BLE001 - the session closed meanwhile
        pass


def next_tick(fn: Callable[[], None], shown_by: pn.viewable.Viewable | None = None) -> None:
    """`run_on` the current page's document; outside a served page (a notebook, a script) at once. `fn` changes Bokeh models itself: in a notebook they reach the output only when pushed
    over its comm, which `shown_by` (a Panel object drawn with those models) does."""
    if in_session():
        run_on(pn.state.curdoc, fn)
        return
    fn()
    if shown_by is not None:
        pn.io.push_notebook(shown_by)


def at_session_end(fn: Callable[[], None]) -> bool:
    """Call `fn()` when the current page's session ends; False (and nothing registered) outside one."""
    if not in_session():
        return False
    pn.state.on_session_destroyed(lambda session_context: fn())
    return True
