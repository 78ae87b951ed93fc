"""A run's history under its pane (`HistoryView`): the figures an inversion kept per iteration
(`append_mesh_model(..., history=...)`) plotted against the iterations, the iteration shown marked."""

from __future__ import annotations

from pathlib import Path

import holoviews as hv
import numpy as np
import panel as pn
from bokeh.document import Document

from hpcdash.data import append_mesh_model
from hpcdash.explorer.profile import HistoryView
from hpcdash.explorer.state import SliceState
from hpcdash.sim.mesh import TensorMesh
from tests.ui.hdf5_files import write_run

hv.extension("bokeh")


def _inversion(path: Path, figures: list[dict]) -> Path:
    mesh = TensorMesh.padded((6, 8, 10), 10.0, n_pad=2)
    rng = np.random.default_rng(1)
    for it, h in enumerate(figures, 1):
        append_mesh_model(path, "/model/conductivity", mesh, rng.random(mesh.n_cells), step=it, history=h)
    return path


def test_each_figure_is_plotted_against_the_iterations_with_the_one_shown_marked(tmp_path: Path):
    misfit = [4000.0, 600.0, 90.0, 12.0]
    path = _inversion(tmp_path / "inv.h5", [{"phi_d": m, "beta": 10.0 / (i + 1)} for i, m in enumerate(misfit)])
    s = SliceState(str(path), root=str(tmp_path))
    view = HistoryView(s)
    pn.panel(view).get_root(Document())
    assert view._layout.visible and "<b>Run history</b>: 2 figures the run kept per iteration" in view.where.object
    drawn = [p.object for p in view.plots.objects]
    assert len(drawn) == 2 and all(isinstance(el, hv.Overlay) for el in drawn)
    by_title = {el.opts.get().kwargs["title"]: el for el in drawn}
    assert set(by_title) == {"phi_d", "beta"}
    curve = by_title["phi_d"].Curve.I
    np.testing.assert_array_equal(curve.dimension_values(0), [1, 2, 3, 4])
    np.testing.assert_array_equal(curve.dimension_values(1), misfit)
    assert curve.opts.get().kwargs["logy"] is True  # 4000 to 12: decades
    assert by_title["beta"].Curve.I.opts.get().kwargs["logy"] is False
    # iterations are counted: ticks at whole numbers only (Bokeh chose 1.5, 2.5 on a narrow plot)
    assert hv.render(by_title["beta"]).xaxis[0].ticker.min_interval == 1
    view._marks.clear()
    view.plots.get_root(Document())
    assert [m.location for m in view._marks] == [4.0, 4.0]  # opened at the newest iteration
    s.held = {"iteration": 1}
    view.plots.get_root(Document())
    assert [m.location for m in view._marks][-2:] == [2.0, 2.0]


def test_a_run_without_history_shows_none(tmp_path: Path):
    s = SliceState(str(write_run(tmp_path / "a.h5", 1, 10.0)), root=str(tmp_path))
    view = HistoryView(s)
    assert s.history == {} and not view._layout.visible and view.plots.objects == []
