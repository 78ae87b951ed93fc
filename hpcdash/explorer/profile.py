"""The profile of a pane: the values along the normal axis through the point clicked on its slice.

A geophysicist reads a 3-D model as much by its soundings (conductivity against depth under one
station) as by its sections; with Link on, a click on one run draws the profile through the same place
in every run of the same axis. The state side is `SliceState.probe` / `profile`; this is its picture.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import numpy as np
import panel as pn

from hpcdash.panes import HTML
from hpcdash.sessions import in_session, next_tick

from .state import SliceState, escape
from .views import STYLESHEETS, ExportButtons, _dim, _value_dim, message_pane, weak_hook

#: height of a profile's plot (px)
PROFILE_HEIGHT = 230
#: the dashed line marking the slice shown along the profile
MARK_STYLE = {"line_color": "#d62728", "line_dash": "dashed", "line_width": 1.5}


class ProfileView(pn.viewable.Viewer):
    """Below a pane's slice: a hint to click it, then the profile through the clicked point (a line
    plot along the normal axis, drawn as a sounding with depth down the side when that axis is
    vertical), the slice shown marked on it, with Clear and its .csv / .npy downloads."""

    def __init__(self, state: SliceState, **params):
        super().__init__(**params)
        self.state = state
        self.hint = HTML("", css_classes=["hpcdash-profile-hint"], margin=(0, 10), stylesheets=STYLESHEETS)
        self.where = HTML("", css_classes=["hpcdash-profile-where"], sizing_mode="stretch_width",
                          margin=(8, 10, 0, 10))
        self.error_pane = message_pane("warning")
        self.clear_w = pn.widgets.Button(label="Clear", width=70, color="default", css_classes=["hpcdash-profile-clear"],
                                         description="Remove the profile (and, with Link on, the linked panes' too)")
        self.clear_w.on_click(self._clear)
        self.exports = ExportButtons(data=lambda: state.profile, stem=state.profile_stem, png=None,
                                     record=state.profile_exported, formats=("npy", "csv"))
        self.plot_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width", height=PROFILE_HEIGHT,
                                           css_classes=["hpcdash-profile-plot"])
        # shown and hidden through a box of its own (see SliceView.plot_box: a layout parameter set on a
        # HoloViews pane that has drawn a plot fails in Panel 1.9)
        self.plot_box = pn.Column(self.plot_pane, sizing_mode="stretch_width", margin=0)
        self._marks: list[Any] = []  # the Bokeh Spans marking the slice in the drawn plots
        self.box = pn.Column(pn.Row(self.where, self.clear_w, sizing_mode="stretch_width"), self.error_pane,
                             self.plot_box, self.exports.row, css_classes=["hpcdash-profile"],
                             sizing_mode="stretch_width", visible=False, margin=0)
        self._layout = pn.Column(self.hint, self.box, sizing_mode="stretch_width", margin=0)
        state.param.watch(self._on_profile, ["profile", "profile_error", "probe"])
        state.param.watch(self._on_index, ["index"])
        state.param.watch(self._on_hint, ["data", "error", "axis"])
        self._on_hint()
        self._on_profile()

    def __panel__(self):
        return self._layout

    def _clear(self, event=None) -> None:
        self.state.probe = None

    def _on_hint(self, *events) -> None:
        s = self.state
        shown = s.data is not None and not s.error and s.axis is not None and not s.probe
        text = (f"Click the slice to plot the values along {escape(s.axis)} through that point."
                if shown else "")
        if self.hint.object != text:
            self.hint.object = text
        if self.hint.visible != shown:
            self.hint.visible = shown

    def _on_profile(self, *events) -> None:
        s = self.state
        self._on_hint()
        line, error = s.profile, s.profile_error
        self.box.visible = bool(s.probe) and (line is not None or bool(error))
        self.error_pane.param.update(object=escape(error), visible=bool(error))
        values = None if line is None else np.asarray(line.values, dtype=float)
        empty = values is not None and not np.isfinite(values).any()
        if line is not None and empty:
            # the point lies where the model has no values (air above the topography, inactive cells)
            self.error_pane.param.update(object=escape(f"No values along {line.dims[0]} at this point."),
                                         visible=True)
        self.where.object = f"<b>Profile</b> along {escape(s.profile_text())}" if line is not None else ""
        self.exports.enable(line is not None and not empty)
        self._marks = []
        self.plot_pane.object = None if line is None or empty else self._element(line)
        self.plot_box.visible = line is not None and not empty

    def _element(self, line) -> hv.Element:
        vol = self.state.volume
        (dim,) = line.dims
        coord_units = getattr(vol, "coord_units", {}) or {}
        kdim = _dim(str(dim), str(dim), coord_units.get(dim))
        curve = hv.Curve((np.asarray(line[dim].values, dtype=float), np.asarray(line.values, dtype=float)),
                         kdims=[kdim], vdims=[_value_dim(vol)])
        # along a vertical axis, a sounding: depth up and down the side, as geophysicists draw them
        vertical = (getattr(vol, "dim_roles", {}) or {}).get(dim) == "vertical"
        down = dim in (getattr(vol, "positive_down", None) or ())
        return curve.opts(responsive=True, height=PROFILE_HEIGHT, tools=["hover"], title="", line_width=2,
                          color="#1f77b4", invert_axes=vertical, invert_yaxis=vertical and down,
                          invert_xaxis=not vertical and down, show_grid=True, toolbar="above",
                          hooks=[weak_hook(self._mark_at_render)])

    def _position(self) -> float | None:
        """Where the slice shown lies along the profile's axis (its coordinate)."""
        s, line = self.state, self.state.profile
        if line is None:
            return None
        (dim,) = line.dims
        coords = np.asarray(line[dim].values, dtype=float)
        return float(coords[s.index]) if 0 <= s.index < coords.size else None

    def _mark_at_render(self, plot, element) -> None:
        from bokeh.models import Span

        pos = self._position()
        vertical = bool(plot.invert_axes)
        mark = Span(location=pos, dimension="width" if vertical else "height", **MARK_STYLE)
        plot.state.add_layout(mark)
        self._marks.append(mark)

    def _on_index(self, event) -> None:
        if not self._marks:
            return
        if in_session():  # Bokeh models: changed in the document's next tick (see `next_tick`)
            next_tick(self._move_marks)
        elif self.state.profile is not None:  # a notebook sends a new plot, not a model's change
            self._marks = []
            self.plot_pane.object = self._element(self.state.profile)

    def _move_marks(self) -> None:
        pos = self._position()
        if pos is None:
            return
        for mark in self._marks:
            if mark.location != pos:
                mark.location = pos
