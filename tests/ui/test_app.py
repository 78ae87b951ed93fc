"""The app's tabs: the first is built with the page, the others when first opened, broken ones say why."""

from __future__ import annotations

import os
import time

import panel as pn
import pytest

from hpcdash.app import create_app


def test_later_tabs_are_built_when_first_opened(tmp_path):
    calls: list[str] = []

    def first(ctx):
        calls.append("first")
        return pn.pane.HTML("one")

    def second(ctx):
        calls.append("second")
        return pn.pane.HTML("two")

    def broken(ctx):
        raise RuntimeError("<b>no scheduler</b>")

    app = create_app(root=tmp_path, template=False, tabs=[("A", first), ("B", second), ("C", broken)])
    tabs = app.objects[1]
    assert isinstance(tabs, pn.Tabs) and tabs._names == ["A", "B", "C"]
    assert calls == ["first"]
    tabs.active = 1
    assert calls == ["first", "second"]
    assert tabs[1].objects[0].object == "two"
    tabs.active = 0
    tabs.active = 1
    assert calls == ["first", "second"]  # built once
    tabs.active = 2
    message = tabs[2].objects[0].object
    assert "could not be built" in message and "&lt;b&gt;no scheduler" in message and "<b>no" not in message


def test_slice_slider_follows_its_pane_and_the_axis_length(data_root):
    """The "Slice" slider and the pane's index move together, also across a change of normal axis
    (its end follows the axis length) and when a linked pane moves it."""
    from hpcdash.explorer.state import ExplorerState
    from hpcdash.explorer.views import ExplorerView
    from tests.ui.hdf5_files import NX, NZ

    ex = ExplorerState(["a.h5", "b.h5"], root=str(data_root), link=True)
    view = ExplorerView(ex, sync_url=False)
    a, b = ex.panes
    wa, wb = view.view_for(a).slice_w, view.view_for(b).slice_w
    # the slider's value is the slice number shown, 1 to n (index + 1), as the readout and the URL
    assert (wa.start, wa.end, wa.value) == (1, NZ, a.index + 1)
    a.axis = "x"
    assert (wa.end, wa.value) == (NX, a.index + 1) and (wb.end, wb.value) == (NX, b.index + 1)
    wa.value = 4
    assert a.index == 3 and a.readout.endswith(f"(slice 4 of {NX})")
    assert b.index == 3 and wb.value == 4  # the linked pane and its slider follow
    b.index = 5
    assert wb.value == 6 and a.index == 5 and wa.value == 6
    wa.value = 10 * NX  # past the end (a slider at a stale position): the last slice
    assert a.index == NX - 1 and wa.value == NX


def test_file_browser_lists_new_files_and_keeps_the_selection(tmp_path):
    """A job's new file shows up in the browser's folder: by the periodic check (one stat of the
    folder, a listing only when it changed) or by Refresh; the user's selection stays."""
    import hpcdash
    from hpcdash.explorer.state import ExplorerState
    from hpcdash.explorer.views import FileBrowser
    from tests.ui.hdf5_files import grid, model

    hpcdash.write_volume(tmp_path / "run_01.h5", "/m", model(1), grid(), mode="w")
    past = time.time_ns() - 10 * 10**9  # the folder's last change long settled (see FolderWatch)
    os.utime(tmp_path, ns=(past, past))
    fb = FileBrowser(ExplorerState(root=str(tmp_path)))
    assert list(fb.listing.options) == ["run_01.h5"]
    fb.listing.value = [("run_01.h5", False)]
    assert not fb.check_for_new_files()  # nothing new: no listing
    hpcdash.write_volume(tmp_path / "run_02.h5", "/m", model(2), grid(), mode="w")
    assert fb.check_for_new_files()
    assert list(fb.listing.options) == ["run_01.h5", "run_02.h5"]
    assert fb.listing.value == [("run_01.h5", False)]
    (tmp_path / "run_01.h5").rename(tmp_path / "run_01_old.h5")
    fb.refresh_btn.clicks += 1  # the Refresh button
    assert list(fb.listing.options) == ["run_01_old.h5", "run_02.h5"] and fb.listing.value == []


def test_file_browser_shows_where_it_is_as_a_breadcrumb(tmp_path):
    """The folder shown: the root by its name and the path below it (the full path on hover), as text."""
    from hpcdash.explorer.state import ExplorerState
    from hpcdash.explorer.views import FileBrowser

    root = tmp_path / "inversions"
    (root / 'run <b>"2"&').mkdir(parents=True)
    fb = FileBrowser(ExplorerState(root=str(root)))
    assert ">inversions/</code>" in fb.where.object and f'title="{root}/"' in fb.where.object
    fb.listing.value = [('run <b>"2"&', True)]
    fb.enter_btn.clicks += 1
    assert "inversions/run &lt;b&gt;&quot;2&quot;&amp;/</code>" in fb.where.object
    assert "<b>" not in fb.where.object
    fb.up_btn.clicks += 1
    assert ">inversions/</code>" in fb.where.object


def test_comparison_axes_are_labelled_like_the_panes(data_root):
    """The difference view's axes read "x (m)" as the panes' do, not its internal dimension names."""
    import holoviews as hv

    from hpcdash.explorer.state import ExplorerState
    from hpcdash.explorer.views import ExplorerView

    ex = ExplorerState(["a.h5", "b.h5"], root=str(data_root), link=True)
    view = ExplorerView(ex, sync_url=False)
    ex.compare = "difference"
    plot = hv.render(view.comparison.plot_pane.object, backend="bokeh")
    assert plot.xaxis[0].axis_label == "x (m)" and plot.yaxis[0].axis_label == "y (m)"
    ex.panes[0].axis = "y"
    plot = hv.render(view.comparison.plot_pane.object, backend="bokeh")
    assert plot.xaxis[0].axis_label == "x (m)" and plot.yaxis[0].axis_label == "z (m)"


def test_open_path_opens_files_lists_folders_and_names_what_it_cannot_open(tmp_path):
    """The Path field: a file opens in a pane, a folder is listed in the browser, and a missing, empty
    or outside path gets a message by the field and no pane."""
    import hpcdash
    from hpcdash.explorer.state import ExplorerState
    from hpcdash.explorer.views import FileBrowser
    from tests.ui.hdf5_files import grid, model

    (tmp_path / "runs").mkdir()
    hpcdash.write_volume(tmp_path / "runs" / "run_01.h5", "/m", model(1), grid(), mode="w")
    ex = ExplorerState(root=str(tmp_path))
    fb = FileBrowser(ex)

    def open_path(text):
        fb.path_in.value = text
        fb.path_btn.clicks += 1
        return fb.message.object if fb.message.visible else ""

    assert open_path("runs/missing.h5") == "runs/missing.h5 does not exist in the root folder."
    assert open_path("  ").startswith("Type a path relative to the root folder")
    assert "outside" in open_path("../elsewhere.h5")
    assert ex.panes == []
    assert open_path("runs") == "" and fb.cwd == "runs" and list(fb.listing.options) == ["run_01.h5"]
    assert open_path("runs/run_01.h5") == ""
    assert [p.file for p in ex.panes] == [str(tmp_path / "runs" / "run_01.h5")] and not ex.panes[0].error


def test_the_browser_shows_the_folder_of_the_first_file_opened_until_the_user_moves(tmp_path):
    """Files opened by the page's link, a double-click in JupyterLab or the Cluster tab: the browser
    lists the first one's folder (its neighbours are a click away), until the user has gone through
    folders; a later file opened elsewhere does not pull the list away."""
    import hpcdash
    from hpcdash.explorer.state import ExplorerState
    from hpcdash.explorer.views import FileBrowser
    from tests.ui.hdf5_files import grid, model

    for folder in ("runs/a", "runs/b", "..dots"):
        (tmp_path / folder).mkdir(parents=True)
        hpcdash.write_volume(tmp_path / folder / "run.h5", "/m", model(1), grid(), mode="w")
    assert FileBrowser(ExplorerState(["runs/a/run.h5", "runs/b/run.h5"], root=str(tmp_path))).cwd == "runs/a"
    assert FileBrowser(ExplorerState(["..dots/run.h5"], root=str(tmp_path))).cwd == "..dots"  # a name, not ..
    ex = ExplorerState(root=str(tmp_path))
    fb = FileBrowser(ex)
    assert fb.cwd == "" and list(fb.listing.options) == ["runs/"]  # (..dots is hidden: a dot name)
    ex.open("runs/b/run.h5")
    assert fb.cwd == "runs/b" and list(fb.listing.options) == ["run.h5"]
    assert fb.where.object.endswith(">" + tmp_path.name + "/runs/b/</code>")
    ex.open("runs/a/run.h5")
    assert fb.cwd == "runs/b"
    for p in list(ex.panes):
        ex.close_pane(p)
    ex.open("elsewhere/missing.h5")  # in no folder: the list stays
    assert fb.cwd == "runs/b"
    ex.close_pane(ex.panes[0])
    fb.up_btn.clicks += 1
    ex.open("runs/a/run.h5")
    assert fb.cwd == "runs"  # where the user went


def test_tabs_show_the_file_just_opened_and_the_url_follows_link_and_compare(data_root, monkeypatch):
    import panel as pn

    from hpcdash.explorer.state import ExplorerState
    from hpcdash.explorer.views import ExplorerView

    ex = ExplorerState(["a.h5", "b.h5"], root=str(data_root), link=True, layout="tabs")
    view = ExplorerView(ex, sync_url=False)
    written = []
    view._sync_url_enabled = True  # as in a served session; the URL written is recorded
    monkeypatch.setattr(view, "_write_url", lambda: written.append(ex.to_query()))
    (tabs,) = view.main.objects
    assert isinstance(tabs, pn.Tabs) and tabs.active == 0  # the page starts with the first
    ex.open("c.h5")
    (tabs,) = view.main.objects
    assert tabs.active == 2
    tabs.active = 1
    ex.close_pane(ex.panes[2])
    assert view.main.objects[0].active == 1  # the user's choice stays when a pane closes
    ex.compare = "difference"
    assert written[-1].get("compare") == "difference"
    ex.link = False
    assert written[-1].get("link") == "0"


def test_a_plane_has_no_slice_controls_and_a_lost_file_no_exports(tmp_path):
    """A 2-D dataset is one plane: no normal axis or slider; exports are offered only while a slice
    is on screen (not once the file is gone and the pane says so)."""
    import h5py
    import numpy as np

    import hpcdash
    from hpcdash.explorer.state import SliceState
    from hpcdash.explorer.views import SliceView
    from tests.ui.hdf5_files import grid, model

    with h5py.File(tmp_path / "plane.h5", "w") as f:
        f["map"] = np.arange(50 * 60, dtype=np.float32).reshape(50, 60)
    plane = SliceView(SliceState(str(tmp_path / "plane.h5"), root=str(tmp_path)))
    assert plane.state.data is not None and not plane.state.error
    assert not plane.axis_w.visible and not plane.slice_w.visible
    assert not plane.exports.buttons["png"].disabled

    hpcdash.write_volume(tmp_path / "run.h5", "/m", model(1), grid(), mode="w")
    view = SliceView(SliceState(str(tmp_path / "run.h5"), root=str(tmp_path)))
    assert view.axis_w.visible and view.slice_w.visible
    assert not any(w.disabled for w in view.exports.buttons.values())
    (tmp_path / "run.h5").unlink()
    view.state.index += 1
    assert view.state.error
    assert all(w.disabled for w in view.exports.buttons.values())


def test_a_step_after_the_file_changed_reads_it_again(tmp_path):
    """A job wrote to the file shown; a step then (read at once, as in a notebook) opens the file
    again and shows the slice asked for from what it holds now, and says so; nothing loops."""
    import subprocess
    import sys
    from pathlib import Path

    import numpy as np

    import hpcdash
    from hpcdash.explorer.state import SliceState
    from hpcdash.explorer.views import SliceView
    from tests.ui.hdf5_files import grid, model

    path = tmp_path / "run.h5"
    hpcdash.write_volume(path, "/m", model(1), grid(), mode="w")
    view = SliceView(SliceState(str(path), root=str(tmp_path)))
    shown, at = view.state.data, view.state.index
    job = ("import sys, hpcdash\nfrom tests.ui.hdf5_files import grid, model\n"
           "hpcdash.write_volume(sys.argv[1], '/m2', model(2), grid(), mode='a')\n")
    subprocess.run([sys.executable, "-c", job, str(path)], check=True, timeout=120,
                   cwd=Path(__file__).resolve().parents[2])
    view.state.index = at + 1
    assert view.state.index == at + 1 and view.slice_w.index == at + 1 and view.state.data is not shown
    np.testing.assert_array_equal(view.state.data.values, model(1)[at + 1])
    assert view.state.error == "" and "changed on disk: opened again" in view.state.notice
    assert view.state.param.dataset.objects == ["/m", "/m2"] and not view.state.changed
    view.state.index = at + 2  # the next step: no note
    assert "changed on disk" not in view.state.notice


def test_comparison_is_drawn_true_to_shape(data_root):
    """The difference view stretches across its width like a pane's plot, and its frame is kept at the
    slice's aspect (to the cell edges) when its axes share their units: the browser test checks the
    frame drawn at two window widths."""
    import holoviews as hv
    import numpy as np

    from hpcdash.explorer.state import ExplorerState
    from hpcdash.explorer.views import PLOT_MIN_HEIGHT, ExplorerView

    ex = ExplorerState(["a.h5", "b.h5"], root=str(data_root), link=True)
    view = ExplorerView(ex, sync_url=False)
    ex.compare = "difference"
    plot = hv.render(view.comparison.plot_pane.object, backend="bokeh")
    dx, dy = (r.end - r.start for r in (plot.x_range, plot.y_range))
    x, y = (np.asarray(ex.comparison[d].values) for d in ex.comparison.dims[::-1])
    assert np.ptp(x) < dx and np.ptp(y) < dy  # the ranges drawn are the slice's, to the cell edges
    assert (plot.sizing_mode, plot.min_height) == ("stretch_width", PLOT_MIN_HEIGHT) and plot.aspect_ratio
    (fit,) = [cb for cb in plot.js_property_callbacks["change:inner_width"] if cb.name == "hpcdash-equal-aspect"]
    assert fit.args["ratio"] == pytest.approx(dy / dx, rel=0.02)


def test_comparison_plots_pass_bokeh_validation_and_end_without_warnings(data_root):
    """The comparison's figure raises no Bokeh validation warning (W-1005 was logged with every new
    comparison drawn in a fixed frame), and turning the comparison off makes HoloViews warn of nothing."""
    import warnings

    from bokeh.core.validation import check_integrity
    from bokeh.document import Document

    from hpcdash.explorer.state import ExplorerState
    from hpcdash.explorer.views import ExplorerView

    ex = ExplorerState(["a.h5", "b.h5"], root=str(data_root), link=True)
    view = ExplorerView(ex, sync_url=False)
    doc = Document()
    root = pn.panel(view).get_root(doc)
    for mode in ("difference", "ratio"):
        ex.compare = mode
        issues = check_integrity(list(root.references()))
        # (Panel silences the empty-layout warning of its hidden rows; Bokeh's check still lists it)
        assert [i for i in issues.warning if i.name != "EMPTY_LAYOUT"] == [] and issues.error == [], issues
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        ex.compare = "none"
    assert [str(w.message) for w in seen if issubclass(w.category, RuntimeWarning)] == []


def test_link_shares_zoom_only_between_panes_showing_the_same_place(data_root):
    """Runs on one mesh share zoom and pan under Link; a run on another mesh keeps its own (a shared
    range drew it as a small box inside the first run's), and is joined again when it matches."""
    from hpcdash.explorer.state import ExplorerState
    from hpcdash.explorer.views import ExplorerView

    ex = ExplorerState(["a.h5", "b.h5", "c.h5"], root=str(data_root), link=True)  # c.h5: another grid
    view = ExplorerView(ex, sync_url=False)
    a, b, c = (view.view_for(p) for p in ex.panes)
    assert (a.linked, b.linked, c.linked) == (True, True, False)
    ex.link = False
    assert not any(v.linked for v in (a, b, c))
    ex.link = True
    ex.close_pane(ex.panes[0])
    ex.close_pane(ex.panes[0])  # c.h5 is the first pane now: it leads
    assert view.view_for(ex.panes[0]).linked


def test_link_gives_panes_the_first_panes_zoom_and_a_zoom_off_the_slice_is_dropped(data_root):
    """Turning Link on (or a link with Link on) gives the panes that share the first one's zoom its
    view (a pane kept its own zoom's pixels inside the shared axes); a zoom that misses the slice is
    dropped, one that reaches past it is cut to it."""
    from hpcdash.explorer.state import ExplorerState
    from hpcdash.explorer.views import ExplorerView

    ex = ExplorerState(["a.h5", "b.h5"], root=str(data_root), link=False)
    a, b = ex.panes
    a.zoom, b.zoom = (0.0, 50.0, 10.0, 60.0), (20.0, 40.0, 30.0, 50.0)
    view = ExplorerView(ex, sync_url=False)
    assert b.zoom == (20.0, 40.0, 30.0, 50.0)  # unlinked: its own
    ex.link = True
    assert b.zoom == a.zoom == (0.0, 50.0, 10.0, 60.0)
    assert "zoom2" in ex.to_query() and ex.to_query()["zoom2"] == ex.to_query()["zoom"]
    # opened from a link with Link on and two zooms: the first pane's
    ex2 = ExplorerState(root=str(data_root))
    ex2.apply_query({"file": "a.h5", "file2": "b.h5", "zoom": "0,50,10,60", "zoom2": "20,40,30,50"})
    ExplorerView(ex2, sync_url=False)
    assert ex2.panes[1].zoom == ex2.panes[0].zoom == (0.0, 50.0, 10.0, 60.0)
    # off the slice: no zoom; past its edge: cut to it
    sv = view.view_for(a)
    whole = sv._whole_extent()
    assert sv._fit_zoom((5000.0, 6000.0, 5000.0, 6000.0)) is None
    assert sv._fit_zoom((whole[0] - 100, whole[1] + 100, whole[2] - 1, whole[3] + 1)) is None
    assert sv._fit_zoom((whole[0] - 100, 50.0, 10.0, whole[3] + 1)) == (whole[0], 50.0, 10.0, whole[3])


def test_a_pane_whose_file_did_not_exist_opens_it_once_it_does(tmp_path):
    """`hpcdash serve run.h5` before the job wrote run.h5: the pages already open show the file at
    their next check of the shown files, not only new pages."""
    from hpcdash.explorer.state import ExplorerState
    from hpcdash.explorer.views import ExplorerView
    from tests.ui.hdf5_files import NZ, write_run

    (tmp_path / "nd").mkdir()
    ex = ExplorerState(root=str(tmp_path))
    pane = ex.open("nd/later.h5")
    assert pane is not None and not pane.appeared()
    assert pane.error == "'nd/later.h5' does not exist (yet): this pane opens it when it appears."
    assert ex.to_query() == {"file": "nd/later.h5"}  # no slice number of a file not read yet
    view = ExplorerView(ex, sync_url=False)
    view._check_files()
    assert pane.error  # still missing: nothing happens
    write_run(tmp_path / "nd" / "later.h5", 1, 1.0)
    assert pane.appeared()
    view._check_files()
    assert pane.error == "" and pane.data is not None and pane.readout.endswith(f"of {NZ})")
    assert not pane.appeared()
    assert ex.to_query()["slice"] == str(NZ // 2 + 1)  # now read: its place is part of the link
    # a file that exists but cannot be read is not "appeared": it is not opened again and again
    (tmp_path / "bad.h5").write_text("not HDF5")
    bad = ex.open("bad.h5")
    assert bad.error and not bad.appeared()
    # with Link on, a file that appears joins the place the other panes show, and does not move them
    write_run(tmp_path / "a.h5", 1, 1.0)
    linked = ExplorerState(["a.h5", "nd/later2.h5"], root=str(tmp_path), link=True)
    linked.panes[0].index = 2
    view = ExplorerView(linked, sync_url=False)
    write_run(tmp_path / "nd" / "later2.h5", 2, 1.0)
    view._check_files()
    assert linked.panes[1].error == "" and linked.panes[1].index == 2 and linked.panes[0].index == 2


def test_a_link_naming_file_several_times_opens_each():
    from hpcdash.app import query_of

    assert query_of("?file=a.h5&file=b%20c.h5&axis=y") == {"file": "a.h5", "file2": "b c.h5", "axis": "y"}
    assert query_of("?file=a.h5&file2=b.h5&file=c.h5") == {"file": "c.h5", "file2": "b.h5"}  # numbered: as given
    assert query_of("") == {} and query_of("?link=0") == {"link": "0"}


def test_the_explorer_tabs_give_a_page_one_hook_however_often_it_lays_out(data_root):
    """Each tabs model the Explorer draws is marked as keyboard tabs ("Open files"), and the page gets
    one hook for all of them (when it is ready), however often the runs are laid out again."""
    from bokeh.document import Document

    from hpcdash.explorer.state import ExplorerState
    from hpcdash.explorer.views import ExplorerView
    from hpcdash.tabs import KeyboardTabs

    ex = ExplorerState(["a.h5", "b.h5"], root=str(data_root))
    view = ExplorerView(ex, sync_url=False)
    doc = Document()
    doc.add_root(pn.panel(view).get_root(doc))

    def ready_hooks() -> int:  # those for keyboard tabs (Panel adds its own)
        hooks = doc.callbacks._js_event_callbacks.get("document_ready", [])
        return sum("__hpcdash_bind" in getattr(h, "code", "") for h in hooks)

    assert ready_hooks() == 1  # drawn in the grid layout: the page is ready for tabs later
    for layout in ["tabs", "grid"] * 3 + ["tabs"]:
        ex.layout = layout
    ex.open("c.h5")
    (tabs,) = view.main.objects
    assert isinstance(tabs, KeyboardTabs) and tabs.label == "Open files"
    ((model, _),) = tabs._models.values()
    assert {"hpcdash_tablist": "Open files"} in model.tags
    assert [t.title for t in model.tabs] == ["1. a.h5", "2. b.h5", "3. c.h5"]
    assert ready_hooks() == 1


def test_the_page_is_prepared_once_for_the_controls_its_tabs_draw_later(data_root):
    """The page gets one hook for its help icons, number fields and cards when it is built, before the
    Cluster and Provenance tabs are drawn (the first time they are opened, after the page is ready);
    drawing them adds none."""
    from bokeh.document import Document

    from hpcdash.access import AccessibleFlexBox
    from hpcdash.tabs import PageTabs

    app = create_app(root=str(data_root), template=False)
    doc = Document()
    doc.add_root(app.get_root(doc))

    def hooks() -> int:
        found = doc.callbacks._js_event_callbacks.get("document_ready", [])
        return sum("__hpcdash_access" in getattr(h, "code", "") for h in found)

    assert hooks() == 1
    (tabs,) = [o for o in app.objects if isinstance(o, PageTabs)]
    for i in (1, 2, 0, 1):
        tabs.active = i
    assert hooks() == 1
    (cluster,) = tabs.objects[1].objects
    assert isinstance(cluster, AccessibleFlexBox) and cluster._models  # the Cluster tab, drawn on this page
