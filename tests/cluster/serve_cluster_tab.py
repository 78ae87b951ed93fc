"""The cluster tab alone, for `panel serve` in the browser tests. Settings come from the environment:
HPCDASH_TEST_BACKEND (local|slurm), HPCDASH_TEST_LOGS, HPCDASH_TEST_JOBNAME, HPCDASH_TEST_RUNS."""

import os

import panel as pn

from hpcdash.cluster import ClusterControl
from hpcdash.cluster.view import ClusterView

pn.extension()

backend = os.environ.get("HPCDASH_TEST_BACKEND", "local")
control = ClusterControl(
    backend=backend, cores=1, processes=1, memory="1GB", walltime="00:10:00", interface="lo",
    queue="debug" if backend == "slurm" else "", log_directory=os.environ.get("HPCDASH_TEST_LOGS", ""),
    job_extra_directives=[f"--job-name={os.environ['HPCDASH_TEST_JOBNAME']}"]
    if os.environ.get("HPCDASH_TEST_JOBNAME") else [],
    n_workers=1,
)
ClusterView(control, refresh_seconds=1.0, sweep_dir=os.environ.get("HPCDASH_TEST_RUNS", "")).servable(
    title="hpcdash cluster")
