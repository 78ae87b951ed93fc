"""Which backend a new cluster form starts with: the configured one, else the batch system whose
commands are on the PATH (a login node: workers are not started on it), else a local cluster."""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path

import dask
import pytest

from hpcdash.cluster import ClusterControl, default_backend


@pytest.fixture
def unconfigured(monkeypatch):
    """No ``hpcdash.backend`` in dask config (the test run sets "local" for the other tests)."""
    monkeypatch.delenv("DASK_HPCDASH__BACKEND", raising=False)
    with dask.config.set({"hpcdash.backend": None}):
        yield


def _path_with(tmp_path: Path, *commands: str) -> str:
    """A PATH of one folder holding executables of these names (and nothing else)."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for c in commands:
        f = folder / c
        f.write_text("#!/bin/sh\nexit 0\n")
        f.chmod(f.stat().st_mode | stat.S_IXUSR)
    return str(folder)


@pytest.mark.parametrize(("commands", "expected"), [
    ((), "local"),
    (("sbatch",), "local"),  # sbatch alone is not a SLURM client
    (("qsub", "pbsnodes"), "pbs"),
    (("qsub", "qconf"), "sge"),
    (("bsub", "bjobs"), "lsf"),
    (("condor_submit", "condor_q"), "htcondor"),
    (("qsub", "qconf", "sinfo", "sbatch", "squeue"), "slurm"),  # SLURM first
])
def test_the_batch_system_on_the_path_is_chosen(unconfigured, monkeypatch, tmp_path, commands, expected):
    monkeypatch.setenv("PATH", _path_with(tmp_path, *commands))
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "slurm.conf").write_text("ClusterName=test\n")  # beside the commands' bin/
    assert default_backend() == expected


def test_slurm_commands_without_a_configuration_are_not_a_cluster(unconfigured, monkeypatch, tmp_path):
    """Debian's slurm-client on a workstation: the commands are there, no slurm.conf, no cluster."""
    monkeypatch.setenv("PATH", _path_with(tmp_path, "sinfo", "sbatch", "squeue"))
    monkeypatch.delenv("SLURM_CONF", raising=False)
    if any(Path(p).is_file() for p in ("/etc/slurm/slurm.conf", "/etc/slurm-llnl/slurm.conf",
                                       "/run/slurm/conf/slurm.conf", "/var/spool/slurmd/conf-cache/slurm.conf")):
        pytest.skip("this machine has a system-wide SLURM configuration")
    assert default_backend() == "local"
    conf = tmp_path / "site" / "slurm.conf"
    conf.parent.mkdir()
    conf.write_text("ClusterName=test\n")
    monkeypatch.setenv("SLURM_CONF", str(conf))
    assert default_backend() == "slurm"


def test_configured_backend_wins_and_an_unknown_name_is_said(unconfigured, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("PATH", _path_with(tmp_path, "bsub", "bjobs"))
    with dask.config.set({"hpcdash.backend": "PBS "}):
        assert default_backend() == "pbs"
    with dask.config.set({"hpcdash.backend": "sllurm"}), caplog.at_level(logging.WARNING):
        assert default_backend() == "lsf"
    assert "'sllurm'" in caplog.text and "none of local, slurm" in caplog.text


def test_the_api_default_stays_local(unconfigured):
    """`ClusterControl()` in a notebook is the documented local cluster whatever the machine."""
    assert ClusterControl().backend == "local"


@pytest.mark.skipif(shutil.which("sbatch") is None or not os.environ.get("SLURM_CONF"),
                    reason="needs SLURM's commands and the test cluster's SLURM_CONF (tests/run.sh sets both)")
def test_on_a_slurm_login_node_the_app_form_starts_with_slurm(unconfigured, tmp_path):
    """With SLURM's real commands on the PATH, the served app's form (the server's Workspace) and a
    Cluster tab of its own (a notebook page) start with SLURM and show its job script."""
    from hpcdash.app import Workspace
    from hpcdash.cluster.view import ClusterView

    ws = Workspace(str(tmp_path))
    control = ws.cluster()
    assert control.backend == "slurm" and not control.running
    assert "#SBATCH" in control.job_script()
    assert ClusterView().control.backend == "slurm"
    with dask.config.set({"hpcdash.backend": "local"}):
        assert Workspace(str(tmp_path)).cluster().backend == "local"


def test_the_form_says_where_its_backend_comes_from(unconfigured):
    """The Backend field's help names the rule and the setting that overrides it."""
    from hpcdash.cluster.view import ClusterView

    said = ClusterView(ClusterControl()).backend.description
    assert "batch system found on this machine" in said and "hpcdash.backend" in said
