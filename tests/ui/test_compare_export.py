"""Export of the comparison view (A - B, log10(A/B)): PNG, .npy and .csv of what is drawn, named after
both runs and the slice, recorded in provenance like a pane's exports (no browser)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from hpcdash.explorer.state import ExplorerState
from hpcdash.explorer.views import ComparisonView, SliceView
from hpcdash.provenance.state import ProvenanceState
from hpcdash.provenance.view import events_table_html
from tests.ui.hdf5_files import write_run

DATASET = "/model/conductivity"


@pytest.fixture()
def runs(tmp_path: Path) -> Path:
    """Two runs on one grid; B's name carries markup, as any file name may."""
    write_run(tmp_path / "a.h5", 1, 10.0)
    write_run(tmp_path / "b <i>.h5", 2, 100.0)
    return tmp_path


def read_slice(path: Path, index: int) -> np.ndarray:
    """Slice `index` along z straight from the file, in the file's type (float32 here)."""
    with h5py.File(path, "r", locking=False) as f:  # as the explorer opens it (it has it open)
        return np.asarray(f[DATASET][index])


def read_coords(path: Path) -> dict[str, np.ndarray]:
    """The y and x cell centres of the dataset (its dimension scales)."""
    with h5py.File(path, "r", locking=False) as f:  # as the explorer opens it (it has it open)
        dims = f[DATASET].dims
        return {dims[i].label or dims[i][0].name.rsplit("/", 1)[-1]: np.asarray(dims[i][0][()], dtype=float)
                for i in (1, 2)}


def download(view, kind: str) -> tuple[str, bytes]:
    """Press a download button as the browser does: its callback, then the file name it then has."""
    widget = view.exports.buttons[kind]
    got = widget.callback()
    assert got is not None, f"{kind}: nothing to download"
    return widget.filename, got.getvalue()


def compared(root: Path, mode: str, index: int = 6) -> tuple[ExplorerState, ComparisonView]:
    ex = ExplorerState(["a.h5", "b <i>.h5"], root=str(root), link=True)
    view = ComparisonView(ex)
    ex.panes[0].index = index  # Link moves B along
    ex.compare = mode
    assert ex.comparison is not None, ex.comparison_error
    return ex, view


@pytest.mark.parametrize(("mode", "word", "expected"), [
    ("difference", "minus", lambda a, b: a - b),
    ("ratio", "log10ratio", lambda a, b: np.log10(a / b)),
])
def test_npy_and_csv_hold_the_comparison_with_coordinates(runs: Path, mode, word, expected):
    ex, view = compared(runs, mode, index=6)
    want = expected(read_slice(runs / "a.h5", 6), read_slice(runs / "b <i>.h5", 6))
    assert np.isfinite(want).all() and np.ptp(want) > 0

    name, payload = download(view, "npy")
    assert name == f"a_{word}_b-i_z7.npy"  # slice 7 of 12, as the page and the panes' exports count
    got = np.load(io.BytesIO(payload))
    assert got.shape == want.shape == (16, 20)
    assert got.dtype == want.dtype == np.float32  # float32 runs compare in float32: no doubled file
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)

    name, payload = download(view, "csv")
    assert name == f"a_{word}_b-i_z7.csv"
    lines = payload.decode().splitlines()
    assert lines[0] == "y,x," + ("A - B" if mode == "difference" else "log10(A/B)")
    table = np.loadtxt(io.StringIO("\n".join(lines[1:])), delimiter=",")
    c = read_coords(runs / "a.h5")
    assert c["y"].shape == (16,) and c["x"].shape == (20,)
    yy, xx = np.meshgrid(c["y"], c["x"], indexing="ij")
    assert table.shape == (16 * 20, 3)
    np.testing.assert_allclose(table[:, 0], yy.ravel(), rtol=1e-8)
    np.testing.assert_allclose(table[:, 1], xx.ravel(), rtol=1e-8)
    np.testing.assert_allclose(table[:, 2], want.ravel(), rtol=1e-8, atol=1e-12)


def test_export_names_count_slices_as_the_panes_do(runs: Path):
    """One numbering (1 to n) in the panes' and the comparison's file names, on any normal axis."""
    ex, view = compared(runs, "difference", index=0)
    a = ex.panes[0]
    assert a.export_stem() == "a_z1"
    assert download(view, "png")[0] == "a_minus_b-i_z1.png"
    a.axis = "y"  # Link takes B along
    a.index = 15
    assert ex.comparison is not None
    assert a.export_stem() == "a_y16"
    assert download(view, "npy")[0] == "a_minus_b-i_y16.npy"
    ex.compare = "ratio"
    assert download(view, "csv")[0] == "a_log10ratio_b-i_y16.csv"


def test_png_shows_the_comparison_with_its_colour_bar_and_runs(runs: Path, monkeypatch):
    from holoviews.plotting.util import process_cmap

    from hpcdash.explorer import export

    drawn = {}
    original = export.slice_png

    def spy(data, palette, clim, **kw):
        drawn.update(data=data, palette=list(palette), clim=clim, **kw)
        return original(data, palette, clim, **kw)

    monkeypatch.setattr(export, "slice_png", spy)
    ex, view = compared(runs, "difference")
    name, png = download(view, "png")
    # what is drawn: the comparison, in the diverging map over its symmetric range, the colour bar
    # labelled as on screen, a heading naming what is compared, where, and both runs
    coolwarm = process_cmap("coolwarm", 256)
    assert drawn["data"] is ex.comparison and drawn["palette"] == coolwarm
    lo, hi = drawn["clim"]
    assert lo == -hi and hi == pytest.approx(float(np.abs(ex.comparison.values).max()))
    assert drawn["clabel"] == "A - B (S/m)" and not drawn.get("log")
    a, b = ex.panes
    assert drawn["title"].split("\n") == [f"A - B · {a.readout}", f"A = {a.title}", f"B = {b.title}"]
    assert "a.h5" in a.title and "b <i>.h5" in b.title and "z = " in a.readout
    assert (drawn["xlabel"], drawn["ylabel"]) == ("x [m]", "y [m]")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pane_png = download(SliceView(ex.panes[0]), "png")[1]
    with Image.open(io.BytesIO(png)) as img, Image.open(io.BytesIO(pane_png)) as pane_img:
        img.verify()
        # the plane and its axes as in A's export, and a heading of three lines (what is compared and
        # where, run A, run B) where a pane's has two (the run, where)
        assert img.size == (pane_img.width, pane_img.height + 22)
        assert img.width > 560
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    colours = {tuple(c) for c in np.unique(rgb.reshape(-1, 3), axis=0)}
    assert len(colours) > 50
    # both ends of the diverging map are in the picture (its colour bar), none of the panes' viridis
    ends = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in (coolwarm[0], coolwarm[-1])]
    assert set(ends) <= colours and (253, 231, 37) not in colours

    ex.compare = "ratio"
    download(view, "png")
    assert drawn["clabel"] == "log10(A / B)" and drawn["title"].startswith("log10(A / B) · z = ")
    assert drawn["clim"][0] == -drawn["clim"][1]


def test_exports_are_recorded_with_both_runs_mode_and_hash(runs: Path):
    ex, view = compared(runs, "difference")
    prov = ProvenanceState(root=str(runs))
    prov.watch_explorer(ex)
    before = len(prov.events())
    name, payload = download(view, "npy")
    events = prov.events()[before:]
    assert [e.kind for e in events] == ["export"]
    e = events[0]
    assert e.summary == f"Downloaded {name}"
    assert e.paths == (str(runs / "a.h5"), str(runs / "b <i>.h5"))  # A first
    d = e.details
    assert d["compare"] == "difference" and d["format"] == "npy" and d["filename"] == name
    assert d["sha256"] == hashlib.sha256(payload).hexdigest() and d["bytes"] == len(payload)
    assert d["a"] == {"file": str(runs / "a.h5"), "dataset": DATASET, "index": 6}
    assert d["b"] == {"file": str(runs / "b <i>.h5"), "dataset": DATASET, "index": 6}
    assert d["axis"] == "z" and d["readout"] == ex.panes[0].readout

    ex.compare = "ratio"
    name, payload = download(view, "png")
    e = prov.events()[-1]
    assert e.kind == "export" and e.details["compare"] == "ratio" and e.details["format"] == "png"
    assert e.details["sha256"] == hashlib.sha256(payload).hexdigest()
    # the record names files as text, escaped in what the Provenance tab shows
    table = events_table_html(prov.events(), prov.root)
    assert "a_log10ratio_b-i_z7.png" in table  # the export's name holds no markup
    assert "b &lt;i&gt;.h5" in table and "<i>" not in table


def test_names_from_files_are_escaped_on_the_page(runs: Path):
    """The runs' titles (file names, attributes) reach the comparison's heading escaped."""
    ex, view = compared(runs, "difference")
    html = view.title_pane.object
    assert "b &lt;i&gt;.h5" in html and "unit &lt;b&gt;test&lt;/b&gt;" in html
    assert "<i>" not in html and "<b>test" not in html


def test_buttons_are_offered_only_while_a_comparison_is_drawn(runs: Path, tmp_path: Path):
    write_run(runs / "other_grid.h5", 3, 1.0, shape=(12, 18, 20))
    ex = ExplorerState(["a.h5"], root=str(runs), link=True)
    prov = ProvenanceState(root=str(runs))
    prov.watch_explorer(ex)
    view = ComparisonView(ex)

    def offered() -> bool:
        states = {w.disabled for w in view.exports.buttons.values()}
        assert len(states) == 1  # all three together
        return not states.pop()

    assert not offered() and not view._layout.visible  # no comparison chosen: not shown at all
    ex.compare = "difference"
    assert ex.comparison is None and not offered()  # one run open
    ex.open("other_grid.h5")
    assert ex.comparison is None and "grids differ" in ex.comparison_error and not offered()
    ex.open("b <i>.h5")
    ex.compare_b = 2
    assert ex.comparison is not None and offered()
    ex.compare_b = 0
    assert ex.comparison is None and not offered()  # A and B the same run
    # a button pressed all the same (a stale page) writes and records nothing
    before = len(prov.events())
    assert all(w.callback() is None for w in view.exports.buttons.values())
    assert [e.kind for e in prov.events()[before:]] == []
    ex.compare_b = 2
    assert offered()
    ex.compare = "none"
    assert not offered() and not view._layout.visible
