"""ProvenanceState hears what the explorer and the cluster do, and writes bundles (no browser)."""

from __future__ import annotations

import asyncio
import json
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dask.utils import format_bytes

from hpcdash.cluster import ClusterControl
from hpcdash.explorer.state import ExplorerState
from hpcdash.provenance.record import Event
from hpcdash.provenance.state import ProvenanceState
from hpcdash.provenance.view import ProvenanceView, counts_html, events_table_html
from tests.ui.hdf5_files import NX, NY, NZ, write_run


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "runs").mkdir(parents=True)
    write_run(r / "runs" / "a.h5", 1, 10.0)
    write_run(r / "runs" / "b <i>.h5", 2, 100.0)
    return r


def test_a_file_rewritten_in_place_and_reloaded_is_recorded_again_with_its_new_content(root: Path):
    """A job rewrites the file a pane shows (same path, same inode: another iteration of a running
    inversion); Reload (or Follow) shows the new content, and the record gets an "open" of that version
    (its size and time), while a Reload of an unchanged file adds none."""
    import os
    import shutil

    prov = ProvenanceState(root=str(root))
    ex = ExplorerState(root=str(root))
    prov.watch_explorer(ex)
    pane = ex.open("runs/a.h5")
    a = root / "runs" / "a.h5"
    inode = a.stat().st_ino
    assert pane.reload()
    assert len([e for e in prov.events() if e.kind == "open"]) == 1  # unchanged: nothing new
    write_run(root / "runs" / "bigger.h5", 3, 1000.0, shape=(NZ + 4, NY, NX))
    shutil.copyfile(root / "runs" / "bigger.h5", a)  # rewritten in place
    os.utime(a, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns + 10**9))
    assert a.stat().st_ino == inode
    assert pane.reload()
    opens = [e for e in prov.events() if e.kind == "open"]
    assert len(opens) == 2 and opens[0].paths == opens[1].paths
    assert opens[1].details["size"] == a.stat().st_size != opens[0].details["size"]
    assert opens[1].details["shape"] == list(pane.volume.shape) != opens[0].details["shape"]


def test_opened_files_views_and_exports_are_recorded_and_bundled(root: Path):
    prov = ProvenanceState(root=str(root))
    ex = ExplorerState(root=str(root), link=True)
    ex.open("runs/a.h5")
    prov.watch_explorer(ex)  # panes open before watching are recorded too
    b = ex.open("runs/b <i>.h5")
    ex.panes[0].index = 3
    b.exported("npy", "b_z3.npy", b"\x93NUMPY...")
    kinds = [(e.kind, e.summary) for e in prov.events()]
    assert kinds[:2] == [
        ("open", "Opened a.h5 /model/conductivity"),
        ("open", "Opened b <i>.h5 /model/conductivity"),
    ]
    assert kinds[2] == ("export", "Downloaded b_z3.npy")
    export = prov.events()[2].details
    assert export["bytes"] == 9 and len(export["sha256"]) == 64 and export["index"] == 3
    assert prov.events()[0].details["shape"] == list(ex.panes[0].volume.shape)
    # a changed dataset in a pane is recorded once; the same one again is not
    ex.panes[0].dataset = ex.panes[0].dataset
    assert len([e for e in prov.events() if e.kind == "open"]) == 2
    # untrusted names are escaped in what the tab shows
    table = events_table_html(prov.events())
    assert "b &lt;i&gt;.h5" in table and "<i>" not in table
    # under the root, files are named with their folder (runs of one name in two folders stay apart)
    assert ">runs/b &lt;i&gt;.h5</td>" in events_table_html(prov.events(), prov.root)
    assert "<b>2</b> files · <b>1</b> view to reopen · <b>0</b> runs" in counts_html(prov.events(), 2, 1)
    assert "<b>3</b> views to reopen" in counts_html(prov.events(), 2, 3)

    zip_path = prov.export_bundle(name="s1")
    assert zip_path is not None and prov.progress == 1.0 and not prov.busy and not prov.error
    folder = zip_path.with_suffix("")
    assert sorted(p.name for p in (folder / "data" / "runs").iterdir()) == ["a.h5", "b <i>.h5"]
    nb = json.loads((folder / "reproduce.ipynb").read_text())
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert '"file": "runs/a.h5"' in code and '"file2": "runs/b <i>.h5"' in code and '"slice": "4"' in code  # index 3: slice 4
    assert prov.events()[-1].kind == "bundle" and "s1.zip" in prov.message
    # the same name again is refused in words, nothing overwritten
    assert prov.export_bundle(name="s1") is None and "already exists" in prov.error


def test_a_bundle_reopens_the_views_downloads_were_made_from(root: Path):
    """A comparison downloaded, then the page moved on (Compare off, another slice): the bundle's
    notebook reopens the comparison's view too, not only the one open at export."""
    prov = ProvenanceState(root=str(root))
    ex = ExplorerState(["runs/a.h5", "runs/b <i>.h5"], root=str(root), link=True)
    prov.watch_explorer(ex)
    ex.compare = "difference"
    ex.panes[0].index = 2
    ex.comparison_exported("npy", "a_minus_b_z3.npy", b"\x93NUMPY...")
    (event,) = [e for e in prov.events() if e.kind == "export"]
    assert event.details["query"]["compare"] == "difference" and event.details["query"]["slice"] == "3"
    ex.compare = "none"
    ex.panes[0].index = 5
    folder = prov.export_bundle(name="both").with_suffix("")
    nb = json.loads((folder / "reproduce.ipynb").read_text())
    views = [json.loads(line.split("apply_query(", 1)[1].rsplit(")", 1)[0])
             for c in nb["cells"] if c["cell_type"] == "code" for line in "".join(c["source"]).splitlines()
             if "apply_query(" in line]
    assert [(v.get("compare", "none"), v["slice"]) for v in views] == [("none", "6"), ("difference", "3")]
    assert "<b>2</b> views" in ProvenanceView(prov).counts.object


def test_a_run_opened_through_a_symlink_is_recorded_as_the_file_read(root: Path):
    """runs/latest.h5 -> a.h5, later re-pointed to b <i>.h5 and reloaded: each "open" names the file read
    (what the bundle hashes and copies), with the link it was opened as; downloads likewise; and the
    bundle's notebook reopens the views with the files it holds, not the link (which may lead elsewhere
    by the time the bundle is opened)."""
    import os

    link = root / "runs" / "latest.h5"
    link.symlink_to("a.h5")
    prov = ProvenanceState(root=str(root))
    ex = ExplorerState(root=str(root), link=True)
    prov.watch_explorer(ex)
    pane = ex.open("runs/latest.h5")
    a, b = (str((root / "runs" / n).resolve()) for n in ("a.h5", "b <i>.h5"))
    (opened,) = [e for e in prov.events() if e.kind == "open"]
    assert opened.summary == "Opened latest.h5 → a.h5 /model/conductivity"
    assert opened.paths == (a,) and opened.details["opened_as"] == str(link)
    assert opened.details["size"] == os.path.getsize(a) and opened.details["shape"] == list(pane.volume.shape)
    pane.exported("npy", "latest_z7.npy", b"\x93NUMPY...")
    export = prov.events()[-1]
    assert export.paths == (a,) and export.details["opened_as"] == str(link)
    assert export.details["query"]["file"] == "runs/a.h5"
    assert ex.to_query()["file"] == "runs/latest.h5"  # the page's own URL keeps the link

    (root / "runs" / "next.h5").symlink_to("b <i>.h5")
    os.replace(root / "runs" / "next.h5", link)
    assert pane.reload()
    opens = [e for e in prov.events() if e.kind == "open"]
    assert [e.paths for e in opens] == [(a,), (b,)]
    assert opens[1].summary == "Opened latest.h5 → b <i>.h5 /model/conductivity"
    assert pane.reload() and len([e for e in prov.events() if e.kind == "open"]) == 2  # the same file again

    folder = prov.export_bundle(name="linked").with_suffix("")
    assert sorted(p.name for p in (folder / "data" / "runs").iterdir()) == ["a.h5", "b <i>.h5"]
    nb = json.loads((folder / "reproduce.ipynb").read_text())
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert '"file": "runs/b <i>.h5"' in code and '"file": "runs/a.h5"' in code and "latest.h5" not in code


def test_an_unwritable_bundle_folder_is_reported(root: Path, tmp_path: Path):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    prov = ProvenanceState(root=str(root), bundle_dir=str(blocker / "bundles"))
    assert prov.export_bundle() is None
    assert prov.error.startswith("The bundle could not be written") and not prov.busy


def test_cluster_activity_and_sweeps_are_recorded(root: Path):
    """A real local Dask cluster: start, scale, close are recorded from the threads that did them."""
    prov = ProvenanceState(root=str(root))
    control = ClusterControl(backend="local", cores=1, memory="1GB")
    prov.watch_cluster(control)
    t = threading.Thread(target=control.start, args=(1,))
    t.start()
    t.join(120)
    try:
        control.scale(0)
    finally:
        control.close()
    summaries = [e.summary for e in prov.events() if e.kind == "cluster"]
    assert summaries == [
        "Started a local cluster",
        "Asked for 1 worker",
        "Asked for 0 workers",
        "Closed the cluster",
    ]
    started = prov.events()[0].details
    assert started["backend"] == "local" and started["request"]["memory"] == "1GB"
    prov.record_runs([{"source_x": -100.0, "core_cells": 24}], [root / "runs" / "a.h5"], 1.7e9)
    run = prov.events()[-1]
    assert run.kind == "run" and run.details["parameters"] == {"source_x": -100.0, "core_cells": 24}
    assert run.details["started"].startswith("2023-11-14T22:13:20")
    assert prov.revision == len(prov.events())


def test_the_view_shows_an_empty_state_then_the_events(root: Path, monkeypatch):
    import hpcdash.provenance.view as pv

    prov = ProvenanceState(root=str(root))
    view = ProvenanceView(prov)
    assert "Nothing recorded yet" in view.table.object and not view.picture.visible
    prov.log.record("open", "Opened a.h5", paths=[root / "runs" / "a.h5"])
    view._refresh()
    assert "Opened a.h5" in view.table.object and view.picture.visible
    drawn = view.picture.object
    prov.log.record("open", "Opened c.h5", paths=[root / "runs" / "c.h5"])
    view._refresh()
    # the drawn timeline takes the new event in place: a new figure made the browser scroll to it
    assert view.picture.object is drawn and len(drawn[()]) == 2
    assert "1 file" in view.plan_w.object and "free space" not in view.plan_w.object
    monkeypatch.setattr(pv, "LARGE_BUNDLE_BYTES", 1)  # a large file: the form says what copying costs
    prov.log.record("open", "Opened b.h5", paths=[root / "runs" / "b <i>.h5"])
    view._refresh()
    assert "needs about" in view.plan_w.object and "record their paths and SHA-256 only" in view.plan_w.object


def test_a_zip_too_large_for_the_page_is_not_offered_for_download(root: Path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    import hpcdash.provenance.view as pv

    prov = ProvenanceState(root=str(root))
    prov.log.record("open", "Opened a.h5", paths=[root / "runs" / "a.h5"])
    view = ProvenanceView(prov)
    monkeypatch.setattr(pv, "DOWNLOAD_LIMIT_BYTES", 1000)  # the demo zip is far larger
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, view._on_export()).result(timeout=120)
    assert prov.bundle_zip and not view.download.visible
    assert (
        "too large to send through the page" in view.status.object
        and "scp, rsync or Globus" in view.status.object
    )
    monkeypatch.setattr(pv, "DOWNLOAD_LIMIT_BYTES", 10**12)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, view._on_export()).result(timeout=120)
    assert view.download.visible and view.download.filename == Path(prov.bundle_zip).name
    zips = [e.details["zip"] for e in prov.events() if e.kind == "bundle"]
    assert len(set(zips)) == 2  # two exports within a second get names of their own


def test_a_long_session_shows_its_latest_events_and_bundles_all(root: Path):
    from hpcdash.provenance.view import TABLE_ROWS

    prov = ProvenanceState(root=str(root))
    for i in range(TABLE_ROWS + 5):
        prov.log.record("cluster", f"Asked for {i} workers", workers=i)
    table = events_table_html(prov.events())
    assert table.count("<tr class=") == TABLE_ROWS and f"Asked for {TABLE_ROWS + 4} workers" in table
    assert "Asked for 4 workers<" not in table and "5 earlier events not shown here" in table
    folder = prov.export_bundle(name="long").with_suffix("")
    assert len((folder / "provenance.jsonl").read_text().splitlines()) == TABLE_ROWS + 5


def test_in_a_notebook_the_view_follows_events_of_the_kernels_thread(root: Path):
    prov = ProvenanceState(root=str(root))
    view = ProvenanceView(prov)  # no server session here, as in a notebook
    prov.log.record("open", "Opened a.h5", paths=[root / "runs" / "a.h5"])
    assert "Opened a.h5" in view.table.object  # no poll needed
    t = threading.Thread(target=prov.log.record, args=("cluster", "Asked for 2 workers"))
    t.start()
    t.join()
    assert "Asked for 2 workers" not in view.table.object  # Panel objects are not touched from threads
    prov.log.record("export", "Downloaded a_z1.npy", paths=[root / "runs" / "a.h5"])
    assert "Asked for 2 workers" in view.table.object and "Downloaded a_z1.npy" in view.table.object


def test_a_kept_record_survives_a_restart_and_can_start_afresh(tmp_path: Path):
    from hpcdash.provenance.record import ProvenanceLog, record_path

    path = record_path(tmp_path / "study <x>", state_dir=tmp_path / "state")
    assert path.parent == tmp_path / "state" / "hpcdash" / "records"
    assert path.name.startswith("study__x_-") and path.suffix == ".jsonl"
    assert record_path(tmp_path / "other" / "study <x>", state_dir=tmp_path / "state") != path
    log = ProvenanceLog.resume(path)  # no file yet: an empty record
    assert log.events() == []
    log.record("open", "Opened a.h5", paths=["/x/a.h5"])
    log.record("cluster", "Started a local cluster")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with open(path, "a") as f:
        f.write('{"kind": "run", "summ')  # a write cut short by a crash
    again = ProvenanceLog.resume(path)  # the server restarted
    assert [e.summary for e in again.events()] == ["Opened a.h5", "Started a local cluster"]
    again.record("export", "Downloaded a.npy", paths=["/x/a.h5"])
    assert [e.summary for e in ProvenanceLog.resume(path).events()][-1] == "Downloaded a.npy"

    prov = ProvenanceState(root=str(tmp_path), log=again)
    assert prov.kept_in == str(path)
    revision = prov.revision
    kept = prov.new_record()
    assert prov.events() == [] and prov.revision > revision
    assert kept is not None and kept.parent == path.parent and kept.name.startswith(path.stem + "-")
    assert len(ProvenanceLog.read(kept).events()) == 3 and str(kept) in prov.message
    assert not path.exists()  # the next event starts the new file
    prov.log.record("open", "Opened b.h5")
    assert [e.summary for e in ProvenanceLog.resume(path).events()] == ["Opened b.h5"]


def test_an_unreadable_record_file_leaves_the_record_in_memory(tmp_path: Path):
    from hpcdash.provenance.record import ProvenanceLog

    folder = tmp_path / "is-a-file"
    folder.write_text("")
    log = ProvenanceLog.resume(folder / "record.jsonl")
    log.record("open", "Opened a.h5")
    assert [e.summary for e in log.events()] == ["Opened a.h5"] and log.write_error


def test_timeline_axis_shows_clock_times_over_a_readable_span():
    """Events seconds apart: the axis spans minutes and labels them as clock times (Bokeh's default
    would label milliseconds and add the date under the ticks)."""
    import holoviews as hv

    from hpcdash.provenance.view import timeline

    t0 = datetime(2026, 12, 1, 9, 30, 0, tzinfo=UTC)
    events = [Event(kind="open", summary=f"opened {i}", time=(t0 + timedelta(seconds=i)).isoformat())
              for i in range(3)]
    plot = hv.render(timeline(events), backend="bokeh")
    fmt = plot.xaxis[0].formatter
    assert fmt.context is None and fmt.seconds == "%H:%M:%S" and fmt.minutes == "%H:%M"
    start, end = plot.x_range.start, plot.x_range.end
    span = (end - start).total_seconds() if hasattr(end - start, "total_seconds") else (end - start) / 1e3
    assert span >= 120


def test_a_reloaded_page_records_its_files_again_only_when_they_changed(root: Path, tmp_path: Path):
    """Every page load opens the page's files anew: one "open" per file and content, through reloads,
    a second tab and a restarted server; a file rewritten since is recorded again."""
    import os

    from hpcdash.provenance.record import ProvenanceLog

    record = tmp_path / "record.jsonl"
    prov = ProvenanceState(root=str(root), log=ProvenanceLog.resume(record))

    def page_load(state: ProvenanceState) -> ExplorerState:
        ex = ExplorerState(root=str(root), link=True)
        ex.open("runs/a.h5")
        ex.open("runs/b <i>.h5")
        state.watch_explorer(ex)
        return ex

    for _ in range(3):
        page_load(prov)
    opens = [e for e in prov.events() if e.kind == "open"]
    assert [e.summary for e in opens] == ["Opened a.h5 /model/conductivity", "Opened b <i>.h5 /model/conductivity"]
    a = root / "runs" / "a.h5"
    assert opens[0].details["size"] == a.stat().st_size and opens[0].details["mtime_ns"] == a.stat().st_mtime_ns

    restarted = ProvenanceState(root=str(root), log=ProvenanceLog.resume(record))
    page_load(restarted)
    assert len([e for e in restarted.events() if e.kind == "open"]) == 2

    new = write_run(tmp_path / "a-new.h5", 7, 1000.0)  # a job wrote the run again (atomically)
    os.utime(new, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns + 10**9))
    os.replace(new, a)
    page_load(restarted)
    page_load(restarted)
    opens = [e for e in restarted.events() if e.kind == "open"]
    assert [Path(e.paths[0]).name for e in opens] == ["a.h5", "b <i>.h5", "a.h5"]
    assert opens[-1].details["mtime_ns"] == a.stat().st_mtime_ns
    assert len(restarted.recorded_files().files) == 2  # every file used still goes into the bundle


def test_a_record_flooded_by_page_loads_shows_each_open_once(root: Path):
    """Records kept before one open per content was recorded: the table shows the repeats as one row."""
    a, b = str(root / "runs" / "a.h5"), str(root / "runs" / "b <i>.h5")
    events = []
    for minute in range(10, 35):
        for path in (a, b):
            events.append(Event("open", f"Opened {Path(path).name} /model/conductivity",
                                time=f"2026-12-01T04:{minute}:08+00:00", paths=(path,),
                                details={"dataset": "/model/conductivity"}))
    events.append(Event("cluster", "Started a local cluster", time="2026-12-01T04:40:00+00:00"))
    table = events_table_html(events)
    assert table.count("<tr class=") == 3 and table.count("Opened a.h5") == 1
    assert "(25 times, last at " in table


def test_numbers_are_shown_compactly_and_kept_in_full(root: Path):
    from hpcdash.provenance.view import timeline

    prov = ProvenanceState(root=str(root))
    prov.record_runs([{"source_x": -166.66666666666663, "core_cells": 24, "beta": 1e-7}],
                     [root / "runs" / "a.h5"], 1.7e9)
    run = prov.events()[-1]
    assert run.summary == "Forward model a: source_x = -166.667, core_cells = 24, beta = 1e-07"
    assert run.details["parameters"]["source_x"] == -166.66666666666663
    # a record written before keeps the full values in its summaries: shown compactly all the same
    old = Event("run", "Forward model dc_002: source_x = -166.66666666666663, block_depth = 500.0, core_cells = 24",
                paths=(str(root / "runs" / "a.h5"),), details={"parameters": {"source_x": -166.66666666666663}})
    table = events_table_html([old])
    assert "source_x = -166.667, block_depth = 500, core_cells = 24" in table and "666666" not in table
    assert timeline([old]).data["what"].tolist() == ["Forward model dc_002: source_x = -166.667, "
                                                     "block_depth = 500, core_cells = 24"]


def test_the_files_of_a_bundle_are_chosen_among_those_recorded(root: Path):
    prov = ProvenanceState(root=str(root))
    a, b = root / "runs" / "a.h5", root / "runs" / "b <i>.h5"
    (root / "bad").mkdir()
    junk = root / "bad" / "junk.h5"
    junk.write_bytes(b"\0" * 5000)
    for p in (a, b, junk):
        prov.log.record("open", f"Opened {p.name}", paths=[p])
    for i in (10, 9):  # a sweep's runs, recorded as they ended
        write_run(root / "runs" / f"run_{i}.h5", i, 1.0)
        prov.log.record("run", f"Run {i}", paths=[root / "runs" / f"run_{i}.h5"])
    view = ProvenanceView(prov)
    labels = list(view.files_w.options)  # in path order, numbers by value
    assert [label.split(" (")[0] for label in labels] == ["bad/junk.h5", "runs/a.h5", "runs/b <i>.h5",
                                                           "runs/run_9.h5", "runs/run_10.h5"]
    assert labels[0] == "bad/junk.h5 (4.88 kiB)"
    view.files_w.value = [str(junk), str(a), str(b)]  # the sweep's runs unticked
    assert view.files_w.value == [str(junk), str(a), str(b)] and view.files_box.visible
    assert "Data: 3 of 5 files" in view.plan_w.object

    view.files_w.value = [str(a), str(b)]  # the junk unticked
    assert sorted(prov.excluded) == sorted([str(junk), *(str(root / "runs" / f"run_{i}.h5") for i in (9, 10))])
    size = a.stat().st_size + b.stat().st_size
    assert "Data: 2 of 5 files" in view.plan_w.object and format_bytes(size) in view.plan_w.object
    assert "junk" not in view.plan_w.object
    c = root / "runs" / "c.h5"
    write_run(c, 3, 1.0)
    prov.log.record("open", "Opened c.h5", paths=[c])  # a file recorded later goes in too
    view._refresh()
    assert str(c) in view.files_w.value and "Data: 3 of 6 files" in view.plan_w.object

    folder = prov.export_bundle(name="chosen").with_suffix("")
    assert sorted(p.name for p in (folder / "data" / "runs").iterdir()) == ["a.h5", "b <i>.h5", "c.h5"]
    assert not (folder / "data" / "bad").exists()
    readme = (folder / "README.md").read_text()
    assert f"`{junk.relative_to(root).as_posix()}`: not in the bundle (not chosen)" in readme
    assert str(root) not in readme  # the folders of this machine are not named
    # from Python: the files given, among those recorded
    folder = prov.export_bundle(name="one", files=["runs/b <i>.h5"]).with_suffix("")  # relative to the root
    assert [p.name for p in (folder / "data" / "runs").iterdir()] == ["b <i>.h5"]
    assert prov.export_bundle(name="two", files=[str(root / "runs" / "x.h5")]) is None
    assert "not in the record" in prov.error
    view._choose_all(False)
    assert "No data files chosen" in view.plan_w.object


def test_the_form_names_an_unticked_file_that_an_open_view_shows(root: Path):
    """The bundle's notebook reopens the open views: a file left out of the bundle that one shows is named."""
    prov = ProvenanceState(root=str(root))
    ex = ExplorerState(root=str(root), link=True)
    prov.watch_explorer(ex)
    ex.open("runs/a.h5")
    b = root / "runs" / "b <i>.h5"
    prov.log.record("open", f"Opened {b.name}", paths=[b])  # recorded, not shown now
    view = ProvenanceView(prov)
    assert prov.views_without_files() == [] and "hpc-prov-view-missing" not in view.plan_w.object

    view.files_w.value = [str(root / "runs" / "a.h5")]  # b unticked: no open view shows it
    assert prov.views_without_files() == [] and "hpc-prov-view-missing" not in view.plan_w.object
    view.files_w.value = [str(b)]  # a unticked, and the open view shows it
    assert prov.views_without_files() == [str(root / "runs" / "a.h5")]
    assert ("Not in the bundle but shown in an open view: runs/a.h5. The bundle's notebook would reopen "
            "that view without it") in view.plan_w.object
    view._choose_all(True)
    assert "hpc-prov-view-missing" not in view.plan_w.object


def test_a_view_shown_by_two_pages_is_bundled_once(root: Path):
    """A reloaded page not closed yet (or a second tab) shows the same view as the new one: the bundle
    lists it, and the record holds it, once; an export tried again after a failure records it once too."""
    write_run(root / "runs" / "c.h5", 3, 1.0)
    prov = ProvenanceState(root=str(root))
    pages = [ExplorerState(root=str(root), link=True) for _ in range(2)]
    for ex in pages:
        prov.watch_explorer(ex)
        for name in ("a.h5", "b <i>.h5", "c.h5"):
            ex.open(f"runs/{name}")
    assert len(prov.views()) == 1
    (Path(root) / "bundles" / "taken").mkdir(parents=True)
    assert prov.export_bundle(name="taken") is None and "already exists" in prov.error
    folder = prov.export_bundle(name="once").with_suffix("")
    views = [e for e in prov.events() if e.kind == "view"]
    assert len(views) == 1 and views[0].summary.startswith("View of 3 panes: a.h5")
    assert prov.events()[-1].details["views"] == 1 and "1 view, " in prov.message
    done = (folder / "README.md").read_text().split("## What was done", 1)[1]
    assert done.count("View of 3 panes") == 1 and "2 views" not in done
    nb = json.loads((folder / "reproduce.ipynb").read_text())
    assert [c for c in nb["cells"] if "".join(c["source"]).startswith("## View")] != []
    assert sum("".join(c["source"]).startswith("## View") for c in nb["cells"]) == 1
    # a new export records the view again: it is this bundle's
    prov.export_bundle(name="twice")
    assert len([e for e in prov.events() if e.kind == "view"]) == 2


def test_the_tab_warns_of_bundled_files_hpcdash_cannot_open(root: Path):
    """A sweep's output cut short (a run killed while writing it): the export says which and why, in the
    app's words, and records the warning with the bundle."""
    import html
    from concurrent.futures import ThreadPoolExecutor

    from hpcdash.data import VolumeError, open_volume

    whole = (root / "runs" / "a.h5").read_bytes()
    cut = root / "runs" / "run_7.h5"
    cut.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(VolumeError) as err:
        open_volume(cut)
    said = str(err.value)
    assert said.startswith("'run_7.h5' looks like HDF5 but cannot be opened: it is truncated or damaged")
    prov = ProvenanceState(root=str(root))
    prov.log.record("open", "Opened a.h5", paths=[root / "runs" / "a.h5"])
    prov.record_runs([{"source_x": -100.0}], [cut], 1.7e9)
    view = ProvenanceView(prov)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, view._on_export()).result(timeout=120)
    assert prov.bundle_zip and not prov.error
    expected = f"{said} It is in the bundle as it was, as data/runs/run_7.h5, but hpcdash cannot open it."
    assert prov.warnings == [expected]
    assert f"<span class='hpc-prov-warning'>&#9888; {html.escape(expected)}</span>" in view.status.object
    assert "a.h5" not in expected and prov.events()[-1].details["warnings"] == [expected]
    folder = Path(prov.bundle_zip).with_suffix("")
    assert (folder / "data" / "runs" / "run_7.h5").read_bytes() == cut.read_bytes()
    assert "## Warnings" in (folder / "README.md").read_text()


def test_the_notebook_names_a_views_file_left_out_of_the_bundle(root: Path):
    """A view shows two runs and the bundle holds one: the view's heading in reproduce.ipynb says which
    file is not in the bundle (its pane will say it does not exist); a view with all its files says nothing."""
    prov = ProvenanceState(root=str(root))
    ex = ExplorerState(root=str(root), link=True)
    prov.watch_explorer(ex)
    for name in ("a.h5", "b <i>.h5"):
        ex.open(f"runs/{name}")
    folder = prov.export_bundle(name="part", files=["runs/a.h5"]).with_suffix("")
    nb = json.loads((folder / "reproduce.ipynb").read_text())
    heading = next("".join(c["source"]) for c in nb["cells"] if "".join(c["source"]).startswith("## View"))
    assert "Not in this bundle (left out when it was made)" in heading and "`runs/b <i>.h5`." in heading
    folder = prov.export_bundle(name="whole").with_suffix("")
    nb = json.loads((folder / "reproduce.ipynb").read_text())
    heading = next("".join(c["source"]) for c in nb["cells"] if "".join(c["source"]).startswith("## View"))
    assert "Not in this bundle" not in heading


def test_a_run_row_opens_onto_all_its_parameters_and_its_outputs_hash(root: Path):
    from hpcdash.provenance import file_sha256

    prov = ProvenanceState(root=str(root))
    out = root / "runs" / "a.h5"
    prov.record_run({"source_x": -100.0, "core_cells": 24, "block_depth": 40.0, "note": "<b>x</b>"}, out, 1.7e9,
                    {"source_x": -100.0})
    table = events_table_html(prov.events(), prov.root)
    summary = table.split("<summary>", 1)[1].split("</summary>", 1)[0]
    assert "source_x = -100" in summary and "block_depth" not in summary  # what the sweep set
    assert "block_depth = 40" in table and "core_cells = 24" in table and "note = &lt;b&gt;x&lt;/b&gt;" in table
    assert f"<code>{file_sha256(out)}</code>" in table and "<b>x</b>" not in table
