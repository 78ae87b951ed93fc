"""`hpcdash serve` stopped the way jupyter-server-proxy and batch systems stop it (SIGTERM) cancels the
SLURM jobs of the cluster its pages shared: no job outlives the server. Real SLURM, chromium."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.cluster.cluster_helpers import wait_until

pytestmark = [pytest.mark.slurm, pytest.mark.ui, pytest.mark.slow]


def _jobs_named(name: str) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i", f"--name={name}"], capture_output=True, text=True)
    return out.stdout.split()


def _tracebacks(output: str) -> list[str]:
    """The log lines that introduce a traceback in a server's output, except distributed's own INFO note
    that a comm closed while its scheduler shut down (it logs that one with the exception, when a
    connection happens to be mid-write at close)."""
    lines = output.splitlines()
    return [lines[i - 1] if i else line for i, line in enumerate(lines)
            if line.startswith("Traceback") and not (i and "Batched Comm Closed" in lines[i - 1])]


def test_sigterm_cancels_the_servers_jobs(slurm, start_server, tmp_path: Path, page):
    name = f"hpcdash-stop-{uuid.uuid4().hex[:8]}"
    profile = {"backend": "slurm", "queue": "debug", "cores": 1, "processes": 1, "memory": "1GB",
               "walltime": "00:10:00", "interface": "lo", "log_directory": str(tmp_path / "logs"),
               "job_extra_directives": [f"--job-name={name}"], "n_workers": 1}
    root = tmp_path / "root"
    root.mkdir()
    # dask reads nested config from the environment as a Python literal
    server = start_server([sys.executable, "-m", "hpcdash", "serve", "--root", str(root), "--port", "{port}"],
                          env={"DASK_HPCDASH__PROFILES": json.dumps({"ci": profile})})
    try:
        page.goto(server.url + "/", timeout=120_000)
        page.locator(".bk-tab", has_text="Cluster").click()
        page.locator(".hpc-profile select").select_option("ci")
        expect(page.locator(".hpc-script-text")).to_contain_text(f"--job-name={name}", timeout=60_000)
        page.locator(".hpc-start button").click()
        expect(page.locator("tr.hpc-job-running")).to_have_count(1, timeout=120_000)
        assert len(_jobs_named(name)) == 1
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=60) is not None
        # cancelled by the server on its way out, not by the workers' death timeout (60 s)
        wait_until(lambda: not _jobs_named(name), 20, what="the server's job cancelled")
        assert _tracebacks(server.output()) == []
    finally:
        subprocess.run(["scancel", f"--name={name}"], capture_output=True)
