"""Parameter sweeps: serial and on a real distributed.LocalCluster; atomic files; retries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cloudpickle
import h5py
import numpy as np
import pytest

from hpcdash.data import find_volumes, open_volume
from hpcdash.sim import SweepError, forward_model, iter_sweep, run_sweep, submit_sweep
from hpcdash.sim.sweep import (
    SWEEP_RANGES,
    atomic_path,
    remove_stale_temporaries,
    run_dc,
    source_outside_core,
    sweep_values,
    write_run,
)
from tests.sim import sim_faulty_tasks

cloudpickle.register_pickle_by_value(sim_faulty_tasks)  # workers need not import the tests

SMALL = {"core_cells": 8, "n_pad": 3, "core_width": 10.0}
SETS = [
    {**SMALL, "source_x": -20.0, "block_depth": 10.0},
    {**SMALL, "source_x": 0.0, "block_depth": 20.0},
    {**SMALL, "source_x": 20.0, "block_depth": 30.0},
]


def visible(out_dir: Path) -> list[str]:
    return sorted(p.name for p in out_dir.iterdir() if not p.name.startswith("."))


def check_run_file(path: Path, params: dict, sweep: str, index: int) -> None:
    expected = forward_model(params)
    with h5py.File(path, "r") as f:
        for key, value in params.items():
            assert f.attrs[key] == value
            assert f["/dc/potential"].attrs[key] == value
            assert f["/dc/conductivity"].attrs[key] == value
        assert f.attrs["sweep"] == sweep and f.attrs["run_index"] == index
        assert f.attrs["sigma_background"] == 0.01  # defaults recorded too
        np.testing.assert_allclose(f["/dc/potential"][()], expected["phi"], rtol=1e-5)
        np.testing.assert_array_equal(f["/dc/conductivity"][()], expected["sigma"].astype(np.float32))
    infos = find_volumes(path)
    assert [i.name for i in infos if i.is_default] == ["/dc/potential"]
    with open_volume(path, "/dc/conductivity") as vol:
        assert vol.dims == ("z", "y", "x") and vol.units == "S/m"
        np.testing.assert_allclose(vol.edges("x"), expected["mesh"].nodes_x)
        assert not vol.is_uniform("x")  # padding cells
        assert vol.coord_units["z"] == "m"


# ---- serial ---------------------------------------------------------------------------------
def test_serial_sweep_writes_files_with_params_and_reports_progress(tmp_path):
    calls = []
    paths = run_sweep(SETS, tmp_path, progress=lambda *a: calls.append(a), name="ser")
    assert paths == [tmp_path / f"ser_{i:03d}.h5" for i in range(3)]
    assert calls == [(i + 1, 3, paths[i]) for i in range(3)]
    assert visible(tmp_path) == [p.name for p in paths]
    assert not list(tmp_path.glob(".*"))  # no temporaries left
    for i, (path, params) in enumerate(zip(paths, SETS, strict=True)):
        check_run_file(path, params, "ser", i)


def test_named_runs_and_duplicate_names(tmp_path):
    paths = run_sweep(
        [{**SMALL, "name": "shallow"}, {**SMALL, "name": "deep", "block_depth": 50.0}], tmp_path
    )
    assert [p.name for p in paths] == ["shallow.h5", "deep.h5"]
    with pytest.raises(ValueError, match="same file"):
        run_sweep([{**SMALL, "name": "a"}, {**SMALL, "name": "a"}], tmp_path)


def test_serial_retry_and_failures(tmp_path):
    paths = run_sweep(SETS[:2], tmp_path, task=sim_faulty_tasks.raise_once, name="r")
    assert all(p.exists() for p in paths)
    assert sim_faulty_tasks.attempts(str(paths[0]), "raised") == os.getpid()
    with pytest.raises(SweepError) as err:
        run_sweep(
            [SETS[0], {**SMALL, "block_depth": 500.0}],
            tmp_path / "f",
            task=sim_faulty_tasks.fail_if_deep,
            name="f",
        )
    assert list(err.value.failures) == [1]
    assert "block too deep" in str(err.value)
    assert [p.name for p in err.value.paths] == ["f_000.h5"]
    assert visible(tmp_path / "f") == ["f_000.h5"]
    # without retries a transient error is a failure
    with pytest.raises(SweepError):
        run_sweep(SETS[:1], tmp_path / "n", task=sim_faulty_tasks.raise_once, retries=0, name="n")


def test_bad_sweeps_are_refused_before_running(tmp_path):
    with pytest.raises(ValueError, match="unknown run parameters: sourcex"):
        run_sweep([SMALL, {**SMALL, "sourcex": 1.0}], tmp_path)
    with pytest.raises(ValueError, match="plain file name"):
        run_sweep([{**SMALL, "name": "../escape"}], tmp_path)
    with pytest.raises(ValueError, match="block_depth -500 m would put the blocks above the ground surface"):
        run_sweep([{**SMALL, "block_depth": 10.0}, {**SMALL, "block_depth": -500.0}], tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing ran


def test_sweep_values_ascending_descending_and_at_least_one_run():
    assert sweep_values(-100, 100, 3) == [-100.0, 0.0, 100.0]
    assert sweep_values(500, -500, 3) == [500.0, 0.0, -500.0]  # a descending sweep is a sweep
    assert sweep_values(40, 80, 1) == [40.0]
    for runs in (0, -2):
        with pytest.raises(ValueError, match=f"at least 1 run \\(Runs is {runs}\\)"):
            sweep_values(0, 1, runs)


def test_a_source_outside_the_core_is_said_in_words():
    # 8 core cells of 10 m: the core spans -40 to 40 m in x and y (its edges are inside)
    for inside in ({**SMALL, "source_x": 40.0}, {**SMALL, "source_y": -40.0}, {**SMALL, "block_depth": 500.0}):
        assert source_outside_core(inside) is None
    said = source_outside_core({**SMALL, "source_x": -100.0})
    assert said == ("source_x -100 m is outside the mesh's core, which spans -40 to 40 m (8 core cells of 10 m): "
                    "the source sits in the coarse padding cells, so the potential around it is less accurate.")
    assert "source_y 45.5 m" in source_outside_core({**SMALL, "source_y": 45.5})
    assert source_outside_core({"source_x": 150.0}) is None  # 32 cells of 10 m by default: -160 to 160 m
    assert source_outside_core({"source_x": 170.0}) is not None


def test_each_swept_parameter_has_a_range_the_model_accepts():
    """The form's first ranges: sources inside the form's default core (24 cells), blocks underground."""
    assert set(SWEEP_RANGES) == {"source_x", "source_y", "block_depth"}
    for name, ends in SWEEP_RANGES.items():
        for value in ends:
            assert source_outside_core({name: value, "core_cells": 24}) is None
    assert min(SWEEP_RANGES["block_depth"]) >= 0


def test_failed_run_is_an_event_not_an_exception(tmp_path):
    events = list(
        iter_sweep(
            [{**SMALL, "block_depth": 500.0}, SMALL],
            tmp_path,
            retries=0,
            task=sim_faulty_tasks.fail_if_deep,
            name="ev",
        )
    )
    assert [e.ok for e in events] == [False, True]
    assert "block too deep" in events[0].error and "failed" in events[0].message
    assert events[1].message == "2/2 runs done: ev_001.h5"


def test_relative_out_dir_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = run_sweep([SMALL], "runs", name="rel")
    assert paths == [tmp_path / "runs" / "rel_000.h5"] and paths[0].is_absolute()


# ---- atomic files ------------------------------------------------------------------------
def test_error_mid_write_leaves_no_file(tmp_path, monkeypatch):
    import hpcdash.data

    calls = []
    real = hpcdash.data.write_mesh_model

    def write_then_fail(path, name, *args, **kwargs):
        real(path, name, *args, **kwargs)
        calls.append(Path(path))
        raise OSError("disk full")

    monkeypatch.setattr(hpcdash.data, "write_mesh_model", write_then_fail)
    target = tmp_path / "run.h5"
    with pytest.raises(OSError, match="disk full"):
        write_run(target, forward_model(SMALL))
    assert calls and calls[0].name.startswith(".run.h5.") and calls[0].suffix == ".tmp"
    assert list(tmp_path.iterdir()) == []


def test_killed_writer_never_exposes_a_partial_file(tmp_path):
    """A process killed (SIGKILL) half-way through writing leaves only a hidden temporary."""
    target = tmp_path / "run.h5"
    ready = tmp_path / "ready"
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        import numpy as np
        from hpcdash.data import write_volume
        from hpcdash.sim.sweep import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            write_volume(tmp, "/dc/potential", np.ones((8, 8, 8), np.float32),
                         {{"z": None, "y": None, "x": None}})
            Path({str(ready)!r}).write_text(str(tmp))
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, "writer exited early"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        tmp = Path(ready.read_text())
        assert tmp.exists() and not target.exists()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not target.exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "ready"]
    assert leftovers == [tmp.name] and tmp.name.startswith(".") and tmp.name.endswith(".tmp")
    assert remove_stale_temporaries(tmp_path, older_than=0.0) == [tmp]
    assert not tmp.exists()


def test_atomic_path_replaces_existing_file_in_one_step(tmp_path):
    target = tmp_path / "x.h5"
    target.write_bytes(b"old")
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new contents")
        assert target.read_bytes() == b"old"
    assert target.read_bytes() == b"new contents"
    assert list(tmp_path.iterdir()) == [target]


# ---- on a real Dask cluster ----------------------------------------------------------------
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", host="127.0.0.1"
    )
    client = distributed.Client(cluster)
    client.wait_for_workers(2, timeout=60)
    yield client
    client.close()
    cluster.close()


def test_cluster_sweep_matches_serial(client, tmp_path):
    calls = []
    paths = run_sweep(SETS, tmp_path, client=client, progress=lambda *a: calls.append(a), name="dask")
    assert paths == [tmp_path / f"dask_{i:03d}.h5" for i in range(3)]
    assert [c[0] for c in calls] == [1, 2, 3] and all(c[1] == 3 for c in calls)
    assert sorted(c[2] for c in calls) == paths
    assert visible(tmp_path) == [p.name for p in paths]
    for i, (path, params) in enumerate(zip(paths, SETS, strict=True)):
        check_run_file(path, params, "dask", i)
    worker_pids = set(client.run(os.getpid).values())
    for path in paths:
        with h5py.File(path, "r") as f:
            assert f.attrs["pid"] in worker_pids  # written by a worker, not by this process


def test_cluster_run_survives_its_worker_dying(client, tmp_path):
    sets = [{**SMALL, "source_x": float(x)} for x in (-30, -10, 10, 30)]
    paths = run_sweep(sets, tmp_path, client=client, task=sim_faulty_tasks.die_once, name="die")
    assert all(p.exists() for p in paths)
    for i, (path, params) in enumerate(zip(paths, sets, strict=True)):
        check_run_file(path, params, "die", i)
    # the first attempts of the two runs at x < 0 killed their worker processes (os._exit), the
    # scheduler rescheduled them, and they were redone by other worker processes
    for path, params in zip(paths, sets, strict=True):
        killed = sim_faulty_tasks.attempts(str(path), "died")
        if params["source_x"] > 0:
            assert killed is None
            continue
        assert killed is not None and killed != os.getpid()
        with h5py.File(path, "r") as f:
            assert f.attrs["pid"] != killed
    client.wait_for_workers(2, timeout=60)  # the nannies restarted the killed workers


def test_cluster_retries_a_run_that_raises(client, tmp_path):
    paths = run_sweep(
        SETS[:2], tmp_path, client=client, task=sim_faulty_tasks.raise_once, retries=1, name="rr"
    )
    assert all(p.exists() for p in paths)
    with pytest.raises(SweepError) as err:
        run_sweep(
            SETS[:1], tmp_path / "no", client=client, task=sim_faulty_tasks.raise_once, retries=0, name="x"
        )
    assert "transient" in str(err.value)


def test_cluster_generator_and_futures(client, tmp_path):
    events = list(iter_sweep(SETS, tmp_path / "gen", client=client, name="g"))
    assert sorted(e.index for e in events) == [0, 1, 2]
    assert [e.done for e in events] == [1, 2, 3]
    assert all(e.ok and e.path.exists() and e.total == 3 for e in events)
    assert events[0].params == SETS[events[0].index]
    futures, paths = submit_sweep(SETS[:2], tmp_path / "fut", client, name="f")
    results = client.gather(futures)
    assert [Path(r) for r in results] == paths and all(p.exists() for p in paths)


def test_closing_the_generator_cancels_unfinished_runs(client, tmp_path):
    sets = [{"core_cells": 24, "n_pad": 6, "source_x": float(x)} for x in range(-40, 40, 10)]
    events = iter_sweep(sets, tmp_path, client=client, name="cancel")
    first = next(events)
    assert first.ok and first.total == 8
    events.close()
    deadline = time.monotonic() + 30
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(client.processing().values())
    time.sleep(0.5)
    written = visible(tmp_path)
    assert 1 <= len(written) < 8  # runs already executing may finish; queued ones never start


def _assembly_page_faults() -> int:
    """Page faults of one assembly of a run's operator (the second of two: imports and first-call costs
    are paid by the first): how often its temporary arrays asked the system for fresh memory."""
    import resource

    from hpcdash.sim import dc

    mesh = dc.TensorMesh.padded((24, 24, 12), 10.0, 8, 1.3)
    sigma = np.full(mesh.shape_cells, 0.01)
    dc.assemble_operator(mesh, sigma, (0.0, 0.0, 0.0), bc="mixed")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    dc.assemble_operator(mesh, sigma, (0.0, 0.0, 0.0), bc="mixed")
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ,
                    reason="glibc's mallopt, the threshold not fixed by the environment")
def test_a_run_on_a_worker_keeps_its_temporaries_on_the_heap(tmp_path):
    """Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_ set, which keeps glibc's mmap threshold
    at 128 kB: every temporary array above it was a fresh mapping, faulted in page by page (a run's
    assembly took twice the CPU time). A sweep run sets the server's threshold in its worker: the same
    assembly then faults a third less (as in a process without that setting)."""
    import distributed

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  host="127.0.0.1") as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(1, timeout=60)
        assert list(client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values()) != [None]
        (before,) = client.run(_assembly_page_faults).values()
        client.submit(run_dc, SMALL, str(tmp_path / "heap.h5"), pure=False).result()
        (after,) = client.run(_assembly_page_faults).values()
    assert after < 0.8 * before, (before, after)
