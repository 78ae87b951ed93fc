"""The profile through a point of a pane's slice (`SliceState.probe` / `profile`, `ProfileView`): real
HDF5 files, real reads; linked panes on different grids; the URL; a file written again; the picture."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import holoviews as hv
import numpy as np
import panel as pn
import pytest
from bokeh.document import Document

from hpcdash.explorer.profile import ProfileView
from hpcdash.explorer.state import ExplorerState, SliceState
from tests.ui.hdf5_files import NX, NY, NZ, grid, model, model_4d, write_run, write_run_4d

hv.extension("bokeh")


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    write_run(tmp_path / "a.h5", 1, 10.0)
    write_run(tmp_path / "c.h5", 3, 1000.0, shape=(NZ, NY + 2, NX))  # y on another grid
    write_run_4d(tmp_path / "t.h5", 2)
    return tmp_path


def test_a_point_of_the_slice_gives_the_values_along_the_axis_through_its_cell(runs: Path):
    s = SliceState(str(runs / "a.h5"), root=str(runs), axis="z")
    assert s.profile is None and s.probe_indices() is None
    x, y = grid()["x"], grid()["y"]
    s.probe_at({"x": x[7] + 0.3 * (x[8] - x[7]), "y": y[5] - 2.0})
    assert s.probe == {"x": x[7], "y": y[5]}  # the centre of the cell clicked
    assert s.probe_indices() == {"x": 7, "y": 5}
    np.testing.assert_allclose(s.profile.values, model(1)[:, 5, 7], rtol=1e-6)
    np.testing.assert_array_equal(s.profile["z"].values, grid()["z"])
    assert s.profile_text() == f"z through y = {y[5]:.1f} m · x = {x[7]:.1f} m"
    assert s.profile_stem() == "a_z_profile_y6_x8"
    # a slice step keeps the profile (the very same array: nothing read again)
    line = s.profile
    s.index = s.index + 1
    assert s.profile is line and s.profile_error == ""
    # outside the grid: said, no profile
    s.probe_at({"x": x.max() + 1000.0, "y": y[5]})
    assert s.profile is None and "outside the grid of a.h5" in s.profile_error
    # another normal axis: a point of the old plane means nothing there
    s.probe_at({"x": x[3], "y": y[2]})
    assert s.profile is not None
    s.axis = "y"
    assert s.probe is None and s.profile is None and s.profile_error == ""


def test_linked_runs_draw_the_profile_through_their_own_cell_nearest_the_point(runs: Path):
    ex = ExplorerState([runs / "a.h5", runs / "c.h5"], root=str(runs))
    ex.link = True
    a, c = ex.panes
    ya, yc = grid()["y"], grid(NZ, NY + 2, NX)["y"]
    a.probe_at({"x": grid()["x"][4], "y": ya[9]})
    assert c.probe == a.probe
    j = int(np.abs(yc - ya[9]).argmin())
    np.testing.assert_allclose(c.profile.values, model(3, (NZ, NY + 2, NX))[:, j, 4], rtol=1e-6)
    # a click on the other run moves both; clearing one clears both
    c.probe_at({"x": grid()["x"][10], "y": yc[2]})
    assert a.probe_indices()["x"] == 10
    c.probe = None
    assert a.probe is None and a.profile is None
    # without Link each keeps its own
    ex.link = False
    a.probe_at({"x": grid()["x"][4], "y": ya[9]})
    assert c.probe is None and c.profile is None


def test_the_profile_of_data_of_more_than_3_dims_is_at_the_held_indices(runs: Path):
    s = SliceState(str(runs / "t.h5"), root=str(runs), axis="z")
    s.held = {"t": 1}
    s.probe_at({"x": grid()["x"][2], "y": grid()["y"][3]})
    np.testing.assert_allclose(s.profile.values, model_4d(2)[1, :, 3, 2], rtol=1e-6)
    s.held = {"t": 3}
    np.testing.assert_allclose(s.profile.values, model_4d(2)[3, :, 3, 2], rtol=1e-6)
    assert s.profile_stem() == "t_z_profile_y4_x3_t4"


def test_the_point_goes_into_the_url_and_comes_back_from_it(runs: Path):
    ex = ExplorerState([runs / "a.h5", runs / "c.h5"], root=str(runs))
    ex.link = True
    ex.panes[0].probe_at({"x": grid()["x"][4], "y": grid()["y"][9]})
    q = ex.to_query()
    assert float(q["probe.x"]) == grid()["x"][4] and float(q["probe2.y"]) == ex.panes[1].probe["y"]
    again = SliceState(str(runs / "a.h5"), root=str(runs))
    again.apply_settings(SliceState.settings_from_query(q))
    assert again.probe_indices() == {"x": 4, "y": 9}
    np.testing.assert_array_equal(again.profile.values, ex.panes[0].profile.values)
    # a malformed or partial point is left out
    assert "probe" not in SliceState.settings_from_query({"probe.x": "1", "probe.y": "nan"})
    assert "probe" not in SliceState.settings_from_query({"probe.x": "1"})


WRITE_AGAIN = """
import sys, h5py
with h5py.File(sys.argv[1], "a") as f:
    f["/model/conductivity"][...] *= 2
"""


def test_a_file_written_again_gives_the_new_profile_after_reload(runs: Path):
    """A running job rewrites the model: Reload shows its new values along the profile too (written by
    another process: the pane holds the file open)."""
    s = SliceState(str(runs / "a.h5"), root=str(runs), axis="z")
    s.probe_at({"x": grid()["x"][4], "y": grid()["y"][9]})
    before = s.profile.values.copy()
    subprocess.run([sys.executable, "-c", WRITE_AGAIN, str(runs / "a.h5")], check=True)
    assert s.reload()
    s.refresh()
    np.testing.assert_allclose(s.profile.values, 2 * before, rtol=1e-6)


def _drawn(view: ProfileView):
    pn.panel(view).get_root(Document())
    return view


def test_the_view_says_to_click_then_draws_a_sounding_with_the_slice_marked(runs: Path):
    s = SliceState(str(runs / "a.h5"), root=str(runs), axis="z")
    view = _drawn(ProfileView(s))
    assert view.hint.visible and "along z" in view.hint.object and not view.box.visible
    s.probe_at({"x": grid()["x"][4], "y": grid()["y"][9]})
    assert not view.hint.visible and view.box.visible and view.plot_box.visible
    assert "Profile</b> along z through y = " in view.where.object
    curve = view.plot_pane.object
    assert isinstance(curve, hv.Curve) and curve.kdims[0].name == "z"
    view.plot_pane.get_root(Document())  # drawn: the hook marks the slice shown
    assert view._marks and view._marks[0].location == grid()["z"][s.index]
    assert view._marks[0].dimension == "width"  # z is vertical: depth down the side
    s.index = 2  # outside a served page (a notebook): the mark moves (and is pushed over the comm)
    view.plot_pane.get_root(Document())
    assert view._marks[-1].location == grid()["z"][2]
    assert all(not b.disabled for b in view.exports.buttons.values())
    view._clear()
    assert s.probe is None and view.hint.visible and not view.box.visible


def test_a_pane_on_a_log_colour_scale_draws_its_profile_on_a_log_axis(runs: Path):
    """Conductivities spanning decades: with the pane's colours on a log scale its sounding's values are on
    a log axis too (across, z being vertical), in the overlay of linked runs as well; linear again with
    the colours, and kept linear for values that are not all positive."""
    from bokeh.models import LogAxis

    from hpcdash.explorer.profile import ProfilesOverlay

    def value_axis(plot_pane) -> type:
        return type(hv.render(plot_pane.object).xaxis[0])

    ex = ExplorerState([runs / "a.h5", runs / "c.h5"], root=str(runs), link=True)
    a, c = ex.panes
    view, overlay = _drawn(ProfileView(a)), ProfilesOverlay(ex)
    a.probe_at({"x": grid()["x"][4], "y": grid()["y"][9]})
    assert (a.profile.values > 0).all() and value_axis(view.plot_pane) is not LogAxis
    a.scale = "log"
    assert value_axis(view.plot_pane) is LogAxis
    assert overlay._layout.visible and value_axis(overlay.plot_pane) is LogAxis
    a.scale = "linear"
    assert value_axis(view.plot_pane) is not LogAxis and value_axis(overlay.plot_pane) is not LogAxis
    write_run(runs / "signed.h5", 2, 10.0)
    with h5py.File(runs / "signed.h5", "r+") as f:
        f["/model/conductivity"][...] -= 0.5 * float(np.nanmax(f["/model/conductivity"][...]))
    s = SliceState(str(runs / "signed.h5"), root=str(runs), axis="z", scale="log")
    signed = _drawn(ProfileView(s))
    s.probe_at({"x": grid()["x"][4], "y": grid()["y"][9]})
    assert (s.profile.values <= 0).any() and value_axis(signed.plot_pane) is not LogAxis


def test_a_point_without_values_says_so_instead_of_a_plot(tmp_path: Path):
    """Air above the topography: NaN all the way down at that point."""
    data = model(5).copy()
    data[:, 3, 4] = np.nan
    path = tmp_path / "air.h5"
    from hpcdash.data import write_volume

    write_volume(path, "m", data, grid(), units="S/m", coord_units={"z": "m", "y": "m", "x": "m"}, mode="w")
    s = SliceState(str(path), root=str(tmp_path), axis="z")
    view = _drawn(ProfileView(s))
    s.probe_at({"x": grid()["x"][4], "y": grid()["y"][3]})
    assert view.box.visible and not view.plot_box.visible
    assert view.error_pane.visible and "No values along z at this point" in view.error_pane.object
    assert all(b.disabled for b in view.exports.buttons.values())


def test_names_from_the_file_are_escaped_in_the_profile(tmp_path: Path):
    """Dims named by the file (h5py dimension scales: any text) reach the page escaped; a plain dataset's
    index dims read as cells, numbered from 1."""
    path = tmp_path / "names.h5"
    names = ("<b>depth", "north", "<img src=x onerror=alert(1)>")
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("v", data=np.arange(60.0).reshape(3, 4, 5))
        for i, name in enumerate(names):
            scale = f.create_dataset(name, data=np.arange(ds.shape[i], dtype=float))
            scale.make_scale(name)
            ds.dims[i].attach_scale(scale)
        f["plain"] = np.arange(60.0).reshape(3, 4, 5)
    s = SliceState(str(path), root=str(tmp_path), dataset="/v", axis=names[0])
    view = _drawn(ProfileView(s))
    assert "&lt;b&gt;depth" in view.hint.object and "<b>depth" not in view.hint.object
    s.probe_at({names[2]: 2.0, "north": 1.0})
    np.testing.assert_array_equal(s.profile.values, np.arange(60.0).reshape(3, 4, 5)[:, 1, 2])
    assert "&lt;img" in view.where.object and "<img" not in view.where.object
    plain = SliceState(str(path), root=str(tmp_path), dataset="/plain", axis="dim_0")
    plain.probe_at({"dim_2": 2.0, "dim_1": 1.0})
    assert plain.profile_text() == "dim_0 through dim_1: cell 2 · dim_2: cell 3"


def test_an_exported_profile_is_recorded_with_where_it_runs(runs: Path):
    s = SliceState(str(runs / "a.h5"), root=str(runs), axis="z")
    s.probe_at({"x": grid()["x"][4], "y": grid()["y"][9]})
    from hpcdash.explorer.export import slice_csv

    payload = slice_csv(s.profile)
    s.profile_exported("csv", s.profile_stem() + ".csv", payload)
    rec = s.last_export
    assert rec["filename"] == "a_z_profile_y10_x5.csv" and rec["bytes"] == len(payload)
    assert rec["profile"]["axis"] == "z" and rec["profile"]["through"] == s.probe
    assert payload.decode().splitlines()[0] == "z,conductivity"


def test_linked_runs_profiles_are_drawn_together_in_one_quantity(runs: Path):
    """With Link on and two or more profiles: one plot, a curve per run named by pane number and file,
    of the first run's units (a run in other units is left out, and said so); Link off hides it."""
    from hpcdash.data import write_volume
    from hpcdash.explorer.profile import ProfilesOverlay

    write_volume(runs / "rho.h5", "/model/resistivity", 1 / model(4), grid(), units="ohm m",
                 coord_units={"z": "m", "y": "m", "x": "m"}, mode="w")
    ex = ExplorerState([runs / "a.h5", runs / "c.h5", runs / "rho.h5"], root=str(runs))
    overlay = ProfilesOverlay(ex)
    pn.panel(overlay).get_root(Document())
    assert not overlay._layout.visible  # no profile yet
    ex.link = True
    a, c, rho = ex.panes
    a.probe_at({"x": grid()["x"][4], "y": grid()["y"][9]})
    assert rho.profile is not None  # its own pane shows it
    assert overlay._layout.visible and "Profiles of the linked runs</b> along z through y = " in overlay.where.object
    drawn = overlay.plot_pane.object
    assert isinstance(drawn, hv.Overlay) and [el.label for el in drawn] == ["1. a.h5", "2. c.h5"]
    for el, p in zip(drawn, (a, c), strict=True):
        np.testing.assert_array_equal(el.dimension_values(1), p.profile.values)
    assert overlay.note.visible and "Run 3 left out: values in other units than run 1's" in overlay.note.object
    overlay.plot_pane.get_root(Document())
    a.index = 3  # the mark is at the first run's slice
    overlay.plot_pane.get_root(Document())
    assert overlay._marks[-1].location == grid()["z"][3]
    ex.link = False
    assert not overlay._layout.visible
    ex.link = True
    assert overlay._layout.visible
    overlay._clear()
    assert all(p.probe is None for p in ex.panes) and not overlay._layout.visible
    # a closed pane is no longer watched
    ex.close_pane(c)
    assert id(c) not in overlay._watched


def test_a_pane_whose_file_is_gone_shows_no_profile_of_it(runs: Path):
    """The file deleted and Reload pressed: the pane says why it shows nothing, and its profile (of the
    values read before) goes too."""
    s = SliceState(str(runs / "a.h5"), root=str(runs), axis="z")
    view = _drawn(ProfileView(s))
    s.probe_at({"x": grid()["x"][4], "y": grid()["y"][9]})
    assert view.box.visible
    (runs / "a.h5").unlink()
    assert not s.reload()
    assert s.error and not view.box.visible and not view.hint.visible


def test_the_point_is_marked_on_the_slice(runs: Path):
    """A crosshair on the pane's slice at the centre of the cell the profile runs through; hidden without
    a point."""
    from hpcdash.explorer.views import SliceView

    s = SliceState(str(runs / "a.h5"), root=str(runs), axis="z")
    view = SliceView(s)
    pn.panel(view).get_root(Document())
    assert len(view._probe_marks) == 2 and not any(m.visible for m in view._probe_marks)
    s.probe_at({"x": grid()["x"][4] + 1.0, "y": grid()["y"][9] - 1.0})
    lines = {m.dimension: m for m in view._probe_marks}
    assert lines["height"].visible and lines["height"].location == grid()["x"][4]  # a vertical line at x
    assert lines["width"].visible and lines["width"].location == grid()["y"][9]
    s.probe = None
    assert not any(m.visible for m in view._probe_marks)


@pytest.mark.parametrize("link", [True, False])
def test_a_click_on_the_comparison_gives_both_runs_profiles_through_that_point(runs: Path, link: bool):
    """Where A - B stands out, a click on the comparison plots A's and B's profiles through that cell
    (linked or not), each read from its own file."""
    from hpcdash.explorer.views import ComparisonView

    write_run(runs / "b.h5", 2, 10.0)
    ex = ExplorerState([runs / "a.h5", runs / "b.h5"], root=str(runs), link=link)
    ex.compare = "difference"
    view = ComparisonView(ex)
    pn.panel(view).get_root(Document())
    assert ex.comparison is not None and "Click the comparison to plot A's and B's values along z" in view.hint.object
    x, y = grid()["x"][4], grid()["y"][9]
    view._on_tap(view._tap, x=x + 0.1, y=y - 0.1)  # near the centre of that cell
    a, b = ex.panes
    assert a.probe == b.probe == {"x": x, "y": y}
    # the point is marked on the comparison as on the slices: a crosshair, at its x and at its y
    assert [(m.visible, m.location) for m in view._probe_marks] == [(True, x), (True, y)]
    with h5py.File(runs / "b.h5", "r", locking=False) as f:
        np.testing.assert_array_equal(b.profile.values, f["/model/conductivity"][:, 9, 4])
    assert not np.array_equal(a.profile.values, b.profile.values)
    # the comparison along both profiles, under the comparison: A - B, then log10(A/B)
    line = ex.comparison_profile()
    np.testing.assert_allclose(line.values, a.profile.values - b.profile.values)
    assert view.profile_box.visible and "<b>A - B</b> along z through y = " in view.profile_where.object
    np.testing.assert_allclose(view.profile_pane.object.dimension_values(1), line.values)
    ex.compare = "ratio"
    np.testing.assert_allclose(view.profile_pane.object.dimension_values(1),
                               np.log10(a.profile.values / b.profile.values), rtol=1e-6)
    view._on_tap(object(), x=x, y=y)  # another plot's click: nothing
    a.probe = b.probe = None
    assert [m.visible for m in view._probe_marks] == [False, False]
    assert ex.comparison_profile() is None and not view.profile_box.visible
    ex.compare = "none"
    assert view.hint.object == ""
