"""The profile of a pane: the values along the normal axis through the point clicked on its slice.

A geophysicist reads a 3-D model as much by its soundings (conductivity against depth under one
station) as by its sections; with Link on, a click on one run draws the profile through the same place
in every run of the same axis. The state side is `SliceState.probe` / `profile`; this is its picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import holoviews as hv
import numpy as np
import panel as pn

from hpcdash.panes import HTML
from hpcdash.sessions import next_tick

from .state import SliceState, escape
from .views import (
    STYLESHEETS,
    ExportButtons,
    _dim,
    _MarkedPlot,
    _value_dim,
    message_pane,
    plain_text,
    watch_panes,
    weak_hook,
)

#: height of a profile's plot (px)
PROFILE_HEIGHT = 230


def profile_curve(pane: SliceState, label: str = "") -> hv.Curve:
    """`pane`'s profile as a curve: the axis's coordinates (with units) and the values (long name, units)."""
    line, vol = pane.profile, pane.volume
    (dim,) = line.dims
    kdim = _dim(str(dim), str(dim), (getattr(vol, "coord_units", {}) or {}).get(dim))
    return hv.Curve((np.asarray(line[dim].values, dtype=float), np.asarray(line.values, dtype=float)),
                    kdims=[kdim], vdims=[_value_dim(vol)], label=plain_text(label) or "")


def profile_opts(pane: SliceState, *others: SliceState) -> dict:
    """How a profile of `pane` (and those of `others` in one plot) is drawn: along a vertical axis as a
    sounding, depth up and down the side as geophysicists draw them (increasing downwards for a depth),
    else along the horizontal axis; the values on a log axis while the pane's colours are on a log scale
    (conductivities over decades), if every value is positive."""
    vol, (dim,) = pane.volume, pane.profile.dims
    vertical = (getattr(vol, "dim_roles", {}) or {}).get(dim) == "vertical"
    down = dim in (getattr(vol, "positive_down", None) or ())
    values = np.concatenate([np.asarray(p.profile.values, dtype=float).ravel() for p in (pane, *others)])
    finite = values[np.isfinite(values)]
    log = pane.scale == "log" and finite.size > 0 and bool((finite > 0).all())
    return dict(responsive=True, height=PROFILE_HEIGHT, tools=["hover"], title="", line_width=2,
                invert_axes=vertical, invert_yaxis=vertical and down, invert_xaxis=not vertical and down,
                logx=vertical and log, logy=not vertical and log, show_grid=True, toolbar="above")


def profile_position(pane: SliceState | None) -> float | None:
    """Where `pane`'s slice lies along its profile's axis (its coordinate); None without a profile."""
    line = None if pane is None else pane.profile
    if line is None:
        return None
    (dim,) = line.dims
    coords = np.asarray(line[dim].values, dtype=float)
    return float(coords[pane.index]) if 0 <= pane.index < coords.size else None


class ProfileView(_MarkedPlot):
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
        self._drawn: tuple | None = None  # (id of the profile drawn, colour scale)
        self.box = pn.Column(pn.Row(self.where, self.clear_w, sizing_mode="stretch_width"), self.error_pane,
                             self.plot_box, self.exports.row, css_classes=["hpcdash-profile"],
                             sizing_mode="stretch_width", visible=False, margin=0)
        self._layout = pn.Column(self.hint, self.box, sizing_mode="stretch_width", margin=0)
        state.param.watch(self._on_profile, ["profile", "profile_error", "probe", "error", "scale"])
        state.param.watch(self._on_index, ["index"])
        state.param.watch(self._on_hint, ["data", "axis"])
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
        # a pane showing an error (its file gone or broken) shows no profile of what it read before
        self.box.visible = bool(s.probe) and not s.error and (line is not None or bool(error))
        self.error_pane.param.update(object=escape(error), visible=bool(error))
        values = None if line is None else np.asarray(line.values, dtype=float)
        empty = values is not None and not np.isfinite(values).any()
        if line is not None and empty:
            # the point lies where the model has no values (air above the topography, inactive cells)
            self.error_pane.param.update(object=escape(f"No values along {line.dims[0]} at this point."),
                                         visible=True)
        self.where.object = f"<b>Profile</b> along {escape(s.profile_text())}" if line is not None else ""
        self.exports.enable(line is not None and not empty)
        drawn = None if line is None or empty else (id(line), s.scale)
        if drawn != self._drawn:  # a new profile (the point moved, the file was read again, log): a new plot
            self._drawn = drawn
            self._marks = []
            self.plot_pane.object = None if drawn is None else self._element()
        self.plot_box.visible = drawn is not None

    def _position(self) -> float | None:
        return profile_position(self.state)

    def _element(self) -> hv.Element:
        return profile_curve(self.state).opts(color="#1f77b4", hooks=[weak_hook(self._mark_at_render)],
                                              **profile_opts(self.state))


class ProfilesOverlay(_MarkedPlot):
    """With Link on, the profiles of the linked runs through the point clicked, in one plot: a curve per
    run in one quantity (units) as the first run with a profile, named by pane number and file, so soundings
    of runs read side by side (each pane shows its own under its slice too). Shown above the panes while at
    least two runs have a profile."""

    def __init__(self, explorer, **params):
        super().__init__(**params)
        self.explorer = explorer
        self.where = HTML("", css_classes=["hpcdash-profiles-where"], sizing_mode="stretch_width",
                          margin=(8, 10, 0, 10))
        self.note = HTML("", css_classes=["hpcdash-profiles-note"], margin=(0, 10), visible=False)
        self.plot_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width", height=PROFILE_HEIGHT + 30,
                                           css_classes=["hpcdash-profiles-plot"])
        self.clear_w = pn.widgets.Button(label="Clear", width=70, color="default",
                                         css_classes=["hpcdash-profiles-clear"],
                                         description="Remove the profiles of all linked runs")
        self.clear_w.on_click(self._clear)
        self._layout = pn.Column(pn.Row(self.where, self.clear_w, sizing_mode="stretch_width"), self.note,
                                 self.plot_pane, css_classes=["hpcdash-profiles"], sizing_mode="stretch_width",
                                 visible=False, margin=(0, 0, 10, 0))
        self._marks: list[Any] = []
        self._watched: dict[int, tuple] = {}  # id(pane) -> (pane, its watchers)
        self._key: tuple | None = None  # what the plot drawn shows
        explorer.param.watch(self._on_panes, ["panes"])
        explorer.param.watch(self._update, ["link"])
        self._on_panes()

    def __panel__(self):
        return self._layout

    def _on_panes(self, *events) -> None:
        watch_panes(self._watched, self.explorer.panes, lambda p: [p.param.watch(self._update, ["profile", "scale"]),
                                                                   p.param.watch(self._on_index, ["index"])])
        self._update()

    def _runs(self) -> list[tuple[int, SliceState]]:
        """The panes (numbered from 1) whose profiles are drawn: those of the first one's quantity."""
        with_profile = [(i + 1, p) for i, p in enumerate(self.explorer.panes) if p.profile is not None]
        if not with_profile:
            return []
        quantity = with_profile[0][1].quantity
        return [(i, p) for i, p in with_profile if p.quantity == quantity]

    def _marked(self) -> SliceState | None:
        runs = self._runs()
        return runs[0][1] if runs else None

    def _position(self) -> float | None:
        return profile_position(self._marked())

    def _on_index(self, *events) -> None:
        if any(e.obj is self._marked() for e in events):  # the runs' mark is the first run's slice
            super()._on_index(*events)

    def _clear(self, event=None) -> None:
        for p in self.explorer.panes:
            p.probe = None

    def _element(self) -> hv.Element:
        runs = self._runs()
        opts = profile_opts(*(p for _, p in runs))
        curves = [profile_curve(p, f"{i}. {Path(p.file).name}").opts(**opts) for i, p in runs]
        return hv.Overlay(curves).opts(legend_position="right", responsive=True, height=PROFILE_HEIGHT + 30,
                                       hooks=[weak_hook(self._mark_at_render)])

    def _update(self, *events) -> None:
        e = self.explorer
        runs = self._runs() if e.link else []
        shown = len(runs) >= 2
        left = [i for i, p in enumerate(e.panes, 1) if p.profile is not None and (i, p) not in runs]
        key = (tuple((i, id(p.profile)) for i, p in runs), tuple(left), runs[0][1].scale) if shown else None
        if key == self._key:
            return
        self._key = key
        self._layout.visible = shown
        self._marks = []
        if not shown:
            self.plot_pane.object = None
            return
        lead = runs[0][1]
        self.where.object = f"<b>Profiles of the linked runs</b> along {escape(lead.profile_text())}"
        self.note.param.update(visible=bool(left), object=(
            f"Run{'s' if len(left) > 1 else ''} {', '.join(map(str, left))} left out: "
            f"values in other units than run {runs[0][0]}'s." if left else ""))
        self.plot_pane.object = self._element()


class HistoryView(_MarkedPlot):
    """Under a pane of a run that kept figures per step (`SliceState.history`: the misfit, beta... per
    iteration, written by ``append_mesh_model(..., history=...)``): a small plot of each against the
    steps, side by side as the width allows, the step on show marked; a figure spanning decades (a
    misfit) on a log scale. One HoloViews pane per figure, in a Row that wraps: with a HoloViews Layout,
    or HoloViews panes in a FlexBox, the page never said it was drawn (Panel 1.9: no "document_ready",
    so no `pn.state.onload` callbacks, and changes made under Panel's hold were dropped)."""

    def __init__(self, state: SliceState, **params):
        super().__init__(**params)
        self.state = state
        self.where = HTML("", css_classes=["hpcdash-history-where"], sizing_mode="stretch_width",
                          margin=(8, 10, 0, 10))
        self.plots = pn.Row(css_classes=["hpcdash-history-plots"], sizing_mode="stretch_width", margin=0,
                            stylesheets=[":host { flex-wrap: wrap; }"])
        self._layout = pn.Column(self.where, self.plots, css_classes=["hpcdash-history"],
                                 sizing_mode="stretch_width", visible=False, margin=0)
        self._marks: list[Any] = []
        state.param.watch(self._on_history, ["history"])
        state.param.watch(self._on_index, ["held", "index"])
        self._draw()

    def __panel__(self):
        return self._layout

    def _dim(self) -> str | None:
        return next(iter(self.state.history), None)

    def _position(self) -> float | None:
        s, dim = self.state, self._dim()
        if dim is None:
            return None
        at = s.held.get(dim, s.index if dim == s.axis else None)
        coords = np.asarray(next(iter(s.history[dim].values()))[dim].values, dtype=float)
        return float(coords[at]) if at is not None and 0 <= at < coords.size else None

    def _on_history(self, *events) -> None:
        next_tick(self._draw)

    def _drawn_in(self) -> pn.viewable.Viewable:
        return self.plots

    def _draw(self) -> None:
        dim = self._dim()
        self._layout.visible = dim is not None
        self._marks = []
        if dim is None:
            self.plots.objects = []
            return
        n = len(self.state.history[dim])
        self.where.object = (f"<b>Run history</b>: {'the figure' if n == 1 else f'{n} figures'} the run kept per "
                             f"{escape(dim)}, the one shown marked")
        self.plots.objects = [pn.pane.HoloViews(el, linked_axes=False, css_classes=["hpcdash-history-plot"])
                              for el in self._elements()]

    def _elements(self) -> list[hv.Overlay]:
        from bokeh.models import BasicTicker

        s, dim = self.state, self._dim()
        vol = s.volume
        kdim = _dim(str(dim), str(dim), (getattr(vol, "coord_units", {}) or {}).get(dim))
        plots = []
        for name, series in s.history[dim].items():
            x = np.asarray(series[dim].values, dtype=float)
            y = np.asarray(series.values, dtype=float)
            finite = y[np.isfinite(y)]
            logy = bool(finite.size > 1 and (finite > 0).all() and finite.max() >= 100 * finite.min())
            vdim = _dim(f"history_{len(plots)}", str(series.attrs.get("long_name") or name), series.attrs.get("units"))
            curve = hv.Curve((x, y), kdims=[kdim], vdims=[vdim])
            points = hv.Scatter((x, y), kdims=[kdim], vdims=[vdim])
            # counted steps (iterations) are ticked at whole numbers only (not at "1.5")
            whole = bool(x.size and np.all(np.mod(x[np.isfinite(x)], 1) == 0))
            ticks = {"xticks": BasicTicker(min_interval=1)} if whole else {}
            plots.append((curve * points).opts(
                hv.opts.Curve(color="#1f77b4", line_width=2, tools=["hover"], logy=logy, **ticks),
                hv.opts.Scatter(color="#1f77b4", size=5, logy=logy),
                hv.opts.Overlay(title=plain_text(str(name)) or "", width=300, height=190, show_grid=True,
                                toolbar=None, hooks=[weak_hook(self._mark_at_render)])))
        return plots
