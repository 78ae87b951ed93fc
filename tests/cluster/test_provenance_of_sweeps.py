"""What a session does on the real SLURM cluster is recorded (jobs with SLURM's ids, the sweep's runs with
their parameters) and goes into a bundle whose RO-Crate names each run's parameters and output file."""

from __future__ import annotations

import asyncio
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote

import pytest

from hpcdash.cluster.view import ClusterView
from hpcdash.provenance import file_sha256
from hpcdash.provenance.state import ProvenanceState

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_a_sweep_on_slurm_is_recorded_and_bundled(slurm, make_control, tmp_path):
    root = tmp_path / "study"
    root.mkdir()
    prov = ProvenanceState(root=str(root))
    control = make_control(backend="slurm", n_workers=1)
    prov.watch_cluster(control)
    view = ClusterView(control, sweep_dir=str(root / "runs"), ran=prov.record_run)
    view.sweep_runs.value, view.sweep_cells.value = 2, 8
    view.sweep_from.value, view.sweep_to.value = -50.0, 50.0
    view.sweep_out.value = str(root / "runs")

    control.start(1)
    control.client.wait_for_workers(1, timeout=120)
    with ThreadPoolExecutor(1) as pool:  # the view's handler on an event loop of its own
        pool.submit(asyncio.run, view._on_sweep()).result(timeout=300)
    assert "2/2 runs done" in view.sweep_msg.object
    control.close()

    cluster = [e for e in prov.events() if e.kind == "cluster"]
    assert (
        cluster[0].summary == "Started a slurm cluster" and cluster[0].details["request"]["queue"] == "debug"
    )
    submitted = [e.details["job_id"] for e in cluster if e.summary.startswith("Submitted job")]
    assert submitted, [e.summary for e in cluster]
    # the ids are SLURM's own: sacct/scontrol know them
    out = subprocess.run(
        ["squeue", "-h", "-j", ",".join(submitted), "-o", "%i", "--states=all"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    known = set(out.stdout.split())
    assert known and known <= set(submitted)
    assert cluster[-1].summary == "Closed the cluster" and cluster[-1].details["jobs"] == submitted
    runs = sorted((e for e in prov.events() if e.kind == "run"), key=lambda e: e.details["parameters"]["source_x"])
    assert [e.details["parameters"]["source_x"] for e in runs] == [-50.0, 50.0]
    assert all(e.paths and (root / "runs").as_posix() in e.paths[0] for e in runs)
    # each run as it ended: its output's hash, and every parameter of the model (the fixed ones too)
    from hpcdash.sim.dc import DEFAULT_PARAMS

    assert all(e.details["sha256"] == file_sha256(e.paths[0]) for e in runs)
    assert all(set(DEFAULT_PARAMS) <= set(e.details["parameters"]) for e in runs)
    assert all("block_depth" not in e.summary for e in runs)  # the summary names what the sweep set

    zip_path = prov.export_bundle(name="sweep")
    assert zip_path is not None, prov.error
    folder = zip_path.with_suffix("")
    graph = {
        unquote(e["@id"]): e for e in json.loads((folder / "ro-crate-metadata.json").read_text())["@graph"]
    }
    actions = [
        e
        for e in graph.values()
        if e.get("@type") == "CreateAction" and e["name"].startswith("Forward model")
    ]
    assert len(actions) == 2
    for action, run in zip(
        sorted(actions, key=lambda a: a["name"]), sorted(runs, key=lambda r: r.summary), strict=True
    ):
        result = unquote(action["result"]["@id"])
        assert graph[result]["sha256"] == file_sha256(run.paths[0]) == file_sha256(folder / result)
        values = {graph[o["@id"]]["name"]: graph[o["@id"]]["value"] for o in action["object"]}
        assert float(values["source_x"]) == run.details["parameters"]["source_x"]
        # where it ran: the cluster request and SLURM's job ids
        assert values["cluster"].startswith("backend slurm, queue debug, cores 1, memory 1GB")
        assert f"batch jobs {', '.join(submitted)}" in values["cluster"]
    readme = (folder / "README.md").read_text()
    assert "Started a slurm cluster" in readme and f"Submitted job {submitted[0]}" in readme
    assert runs[0].summary in readme
