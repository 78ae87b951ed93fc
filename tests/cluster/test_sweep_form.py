"""The Run sweep card: values it refuses (and says why, by the button), an output folder outside the
server's root, the last sweep's outcome kept on the shared control for every page, and the feedback of
"Open first and last run in the Explorer"."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hpcdash.cluster import ClusterControl, SweepOutcome
from hpcdash.cluster.view import ClusterView, cluster_tab


def run(coro):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class _NoClient:
    """Stands for a running cluster's client: a refused sweep must never reach it."""

    def submit(self, *args, **kwargs):
        raise AssertionError("a refused sweep was submitted")


def _refused(view: ClusterView) -> str:
    view.control._client = _NoClient()
    try:
        run(view._on_sweep())
    finally:
        view.control._client = None
    assert view.control.last_sweep is None
    return view.sweep_msg.object


def test_an_output_folder_outside_the_root_is_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    view = ClusterView(ClusterControl(), root=str(root), sweep_dir=str(root / "runs"))
    for outside in (str(tmp_path / "elsewhere"), "../elsewhere", "link/elsewhere"):
        view.sweep_out.value = outside
        said = _refused(view)
        assert "is outside the root folder" in said and "Choose a folder inside the root" in said
    assert not (tmp_path / "elsewhere").exists()
    # inside the root, relative to it
    view.sweep_out.value = "runs/a"
    assert view.sweep_folder() == root.resolve() / "runs" / "a"


@pytest.mark.parametrize(
    ("form", "words"),
    [({"sweep_runs": 0}, "A sweep needs at least 1 run (Runs is 0)."),
     ({"sweep_param": "block_depth", "sweep_from": 40.0, "sweep_to": -20.0},
      "block_depth -20 m would put the blocks above the ground surface")],
)
def test_values_the_model_cannot_mean_are_refused_in_words(tmp_path, form, words):
    view = ClusterView(ClusterControl(), root=str(tmp_path), sweep_dir=str(tmp_path / "runs"))
    for name, value in form.items():
        getattr(view, name).value = value
    assert words in _refused(view)


def test_without_a_cluster_the_sweep_button_says_what_it_needs():
    from hpcdash.cluster.view import NO_CLUSTER_FOR_SWEEP

    view = ClusterView(ClusterControl())
    assert view.sweep_btn.disabled and view.sweep_msg.object == NO_CLUSTER_FOR_SWEEP
    view._update_buttons(True)  # a cluster came up
    assert not view.sweep_btn.disabled and view.sweep_msg.object == ""


def test_a_descending_sweep_is_kept():
    view = ClusterView(ClusterControl())
    view.sweep_param.value, view.sweep_from.value, view.sweep_to.value = "block_depth", 200.0, 0.0
    view.sweep_runs.value = 3
    assert [p["block_depth"] for p in view.sweep_params()] == [200.0, 100.0, 0.0]


def test_vary_puts_in_each_parameters_own_range_and_keeps_what_was_typed():
    from hpcdash.sim.sweep import SWEEP_RANGES

    view = ClusterView(ClusterControl())
    assert (view.sweep_param.value, view.sweep_from.value, view.sweep_to.value) == ("source_x", -100.0, 100.0)
    view.sweep_param.value = "block_depth"  # not source_x's -100..100, which would put blocks in the air
    assert (view.sweep_from.value, view.sweep_to.value) == SWEEP_RANGES["block_depth"]
    assert all(p["block_depth"] >= 0 for p in view.sweep_params())
    view.sweep_from.value, view.sweep_to.value = 30.0, 50.0  # typed for block_depth
    view.sweep_param.value = "source_y"
    assert (view.sweep_from.value, view.sweep_to.value) == SWEEP_RANGES["source_y"]
    view.sweep_param.value = "block_depth"
    assert (view.sweep_from.value, view.sweep_to.value) == (30.0, 50.0)


def test_a_source_outside_the_core_is_said_by_the_form():
    view = ClusterView(ClusterControl())
    assert view.sweep_warning() == "" and view.sweep_note.object == ""  # -100..100 m in 24 cells of 10 m
    view.sweep_cells.value = 8  # a core of -40 to 40 m
    assert view.sweep_warning().startswith("source_x -100 m is outside the mesh's core, which spans -40 to 40 m")
    assert "Narrow the range or raise Core cells." in view.sweep_note.object
    view.sweep_from.value, view.sweep_to.value = -40.0, 40.0
    assert view.sweep_note.object == ""
    view.sweep_param.value = "block_depth"  # depths say nothing of the source
    view.sweep_cells.value = 4
    assert view.sweep_note.object == ""


def test_the_last_sweep_shows_on_every_page_and_opening_its_runs_says_so(tmp_path):
    """A real two-run sweep on a local cluster from one page; a page built afterwards (a reload, a new
    tab) and a page already open both show its outcome and the Open button, from the shared control."""
    control = ClusterControl(backend="local", memory="1GB", interface="lo", encrypt=False)
    heard: list[str] = []
    control.on_activity(lambda summary, **details: heard.append(summary))
    opened: list[list[Path]] = []
    before = ClusterView(control, root=str(tmp_path), sweep_dir=str(tmp_path / "runs"), open_runs=opened.append)
    try:
        control.start(2)
        control.client.wait_for_workers(2, timeout=60)
        first = ClusterView(control, root=str(tmp_path), sweep_dir=str(tmp_path / "runs"), open_runs=opened.append)
        first.sweep_runs.value, first.sweep_cells.value = 2, 4
        run(first._on_sweep())
        outcome = control.last_sweep
        assert isinstance(outcome, SweepOutcome) and not outcome.running and not outcome.failed
        assert len(outcome.paths) == 2 and all(p.exists() for p in outcome.paths)
        assert any(h.startswith("Sweep of 2 runs done in ") for h in heard), heard  # recorded as a whole too

        later = ClusterView(control, open_runs=opened.append)  # a reload or a new tab
        assert "2/2 runs done in" in later.sweep_msg.object and later.open_btn.visible
        assert later.sweep_bar.visible and later.sweep_bar.value == 2
        assert "2/2 runs done in" not in before.sweep_msg.object
        run(before.refresh())  # a page open all along: its next refresh
        assert "2/2 runs done in" in before.sweep_msg.object and before.open_btn.visible

        later._on_open_runs()
        assert opened == [[outcome.paths[0], outcome.paths[-1]]]
        assert later.open_msg.object == "Opened 2 runs in the Explorer."

        # a sweep refused now: its reason stays, the refreshes do not draw the last outcome over it
        later.sweep_runs.value = 0
        run(later._on_sweep())
        run(later.refresh())
        assert "A sweep needs at least 1 run" in later.sweep_msg.object and not later.open_btn.visible
        assert control.last_sweep is outcome
    finally:
        control.close()


def test_stopping_the_cluster_under_a_sweep_asks_first_and_says_what_became_of_it(tmp_path):
    """Stop while a sweep runs: the first click only warns (and the button says what a second click
    does); the second stops the cluster, and the sweep ends as cancelled, with how many runs were done,
    in words and in the cluster's activity (the provenance record)."""
    control = ClusterControl(backend="local", memory="1GB", interface="lo", encrypt=False)
    heard: list[str] = []
    control.on_activity(lambda summary, **details: heard.append(summary))
    view = ClusterView(control, root=str(tmp_path), sweep_dir=str(tmp_path / "runs"))
    view.sweep_runs.value, view.sweep_cells.value = 12, 64

    async def scenario():
        sweep = asyncio.ensure_future(view._on_sweep())
        for _ in range(600):
            if control.last_sweep is not None and control.last_sweep.running:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        await view._on_stop()
        assert control.client is not None, "the first click stopped the cluster"
        assert view.stop_btn.label == "Stop and cancel the sweep"
        assert "press the button again to stop anyway" in view.error.object and view.error.visible
        await view._on_stop()
        await asyncio.wait_for(sweep, 120)

    try:
        control.start(1)
        control.client.wait_for_workers(1, timeout=60)
        run(scenario())
        outcome = control.last_sweep
        assert outcome.failed and not outcome.running and control.client is None
        assert outcome.message.startswith("The sweep was cancelled after ") and "of 12 runs" in outcome.message
        assert "NoneType" not in outcome.message and len(outcome.paths) < 12
        assert any(h.startswith("Sweep of 12 runs did not complete: The sweep was cancelled") for h in heard), heard
        assert view.stop_btn.label == "Stop"
    finally:
        control.close()


def test_opening_runs_from_the_app_switches_to_the_explorer(tmp_path):
    """In the app, the Cluster tab opens the runs in the page's Explorer and shows that tab."""
    import panel as pn

    from hpcdash.app import create_app

    class Explorer:
        opened: list = []

        def open(self, path, background=False, reveal=False):
            self.opened.append(Path(path))

    seen = {}

    def explorer(ctx):
        ctx.shared["explorer"] = Explorer()
        seen["ctx"] = ctx
        return pn.pane.HTML("explorer")

    def cluster(ctx):
        seen["view"] = view = cluster_tab(ctx)
        return view

    page = create_app(root=str(tmp_path), template=False, tabs=[("Explorer", explorer), ("Cluster", cluster)])
    tabs = page[1]
    tabs.active = 1  # the user opens the Cluster tab
    view = seen["view"]
    try:
        run_files = [tmp_path / "runs" / f"r{i}.h5" for i in range(3)]
        view.control.last_sweep = SweepOutcome(total=3, done=3, message="3/3 runs done", paths=tuple(run_files),
                                               running=False)
        view._on_open_runs()
        assert Explorer.opened == [run_files[0], run_files[-1]]
        assert tabs.active == 0
        assert view.open_msg.object == "Opened 2 runs in the Explorer."
    finally:
        view.stop_refresh()
        view.control.close()
