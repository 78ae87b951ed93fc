"""Job-script previews for the batch backends without a scheduler (PBS, SGE, LSF, HTCondor), config
defaults and profiles, estimates, validation messages for backends without a check."""

from __future__ import annotations

import os

import dask
import pytest

from hpcdash.cluster import ClusterControl, RequestError, proxied_dashboard_link


def make(backend: str, **kw) -> ClusterControl:
    request = dict(cores=4, processes=2, memory="8GB", walltime="01:30:00", queue="normal", account="geo42",
                   job_extra_directives=["-l place=scatter"], job_script_prologue=["module load python/3.11"],
                   interface="ib0", log_directory="/scratch/logs", python="/opt/py/bin/python")
    return ClusterControl(backend=backend, **{**request, **kw})


def test_pbs_script(monkeypatch):
    monkeypatch.setenv("HOME", "/home/u")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    s = make("pbs").job_script()
    assert s.startswith("#!/usr/bin/env bash")
    for line in ["#PBS -q normal", "#PBS -A geo42", "#PBS -l select=1:ncpus=4:mem=7630MB", "#PBS -l walltime=01:30:00",
                 "#PBS -l place=scatter", "#PBS -e /scratch/logs/", "module load python/3.11"]:
        assert line in s.splitlines(), line
    # TLS by default: the worker gets the cluster's key files (named when it starts) from the shared folder
    worker = next(line for line in s.splitlines() if "distributed.cli.dask_worker" in line)
    assert worker.startswith("/opt/py/bin/python -m distributed.cli.dask_worker tls://<insert-scheduler-address-here>:8786")
    assert "--nworkers 2" in s and "--nthreads 2" in s and "--interface ib0" in s
    for flag in ("--tls-ca-file", "--tls-cert", "--tls-key"):
        assert f"{flag} /home/u/.cache/hpcdash/tls/.dask-jobqueue.worker." in worker, flag
    assert "--protocol tls://" in worker


def test_worker_files_follow_xdg_cache_home(monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "/scratch/u/cache")
    cc = make("slurm")
    assert cc.tls_directory() == "/scratch/u/cache/hpcdash/tls"
    assert ClusterControl(backend="slurm")._log_dir() == "/scratch/u/cache/hpcdash/worker-logs"
    assert "--tls-key /scratch/u/cache/hpcdash/tls/" in ClusterControl(backend="slurm").job_script()
    assert "--name SLURMCluster-0 " in ClusterControl(backend="slurm").job_script()  # the first job's worker


def test_encryption_off_gives_a_plain_tcp_worker():
    s = make("pbs", encrypt=False).job_script()
    assert "dask_worker tcp://<insert-scheduler-address-here>:8786" in s and "--tls" not in s


def test_the_tls_folder_comes_from_dask_config():
    with dask.config.set({"jobqueue.slurm.shared-temp-directory": "/scratch/me/dask-tls"}):
        c = ClusterControl(backend="slurm")
        assert c.tls_directory() == "/scratch/me/dask-tls"
        assert "--tls-key /scratch/me/dask-tls/.dask-jobqueue.worker.key." in c.job_script()
        assert c.request()["encrypt"] is True


def test_sge_script():
    s = make("sge").job_script()
    for line in ["#$ -q normal", "#$ -P geo42", "#$ -l h_rt=01:30:00", "#$ -l place=scatter", "#$ -cwd",
                 "#$ -l h_vmem=7630M", "module load python/3.11"]:
        assert line in s.splitlines(), line


def test_lsf_script_walltime_in_minutes_and_project():
    s = make("lsf").job_script()
    for line in ["#BSUB -q normal", '#BSUB -P "geo42"', "#BSUB -n 4", "#BSUB -W 01:30", "#BSUB -l place=scatter"]:
        assert line in s.splitlines(), line


@pytest.mark.parametrize(("walltime", "minutes"), [("00:45:30", "00:46"), ("00:00:30", "00:01"),
                                                  ("1-00:00:00", "24:00"), ("2-01:30:00", "49:30")])
def test_lsf_walltime_is_whole_minutes_never_less_than_asked(walltime, minutes):
    """LSF's -W takes [HH:]MM: seconds go up to the next minute (00:45:30 was cut to 00:45, and under a
    minute to 00:00) and days become hours (1-00:00:00 was written as 1-00:00, not LSF syntax)."""
    s = make("lsf", walltime=walltime).job_script()
    assert f"#BSUB -W {minutes}" in s.splitlines(), s


def test_htcondor_script_uses_dict_directives_and_prologue_in_arguments():
    s = make("htcondor", ).job_script()
    assert s.startswith("#!/usr/bin/env condor_submit")
    assert "MY.DaskWorkerCores = 4" in s and "MY.DaskWorkerMemory = 8000000000" in s
    assert "-l place = scatter" in s  # "key = value" directive parsed into HTCondor's dict
    assert "module load python/3.11; /opt/py/bin/python -m distributed.cli.dask_worker" in s
    assert s.rstrip().endswith("Queue")


def test_slurm_script_without_scheduler():
    s = make("slurm").job_script()
    for line in ["#SBATCH -p normal", "#SBATCH -A geo42", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=7630M",
                 "#SBATCH -t 01:30:00", "#SBATCH -l place=scatter", "#SBATCH -e /scratch/logs/dask-worker-%J.err"]:
        assert line in s.splitlines(), line


@pytest.mark.parametrize("backend", ["pbs", "sge", "lsf", "htcondor"])
def test_validation_not_available_says_so(backend, tmp_path, monkeypatch):
    from hpcdash.cluster.control import BACKEND_NAMES, _job_classes

    command = tmp_path / _job_classes(backend)[1].submit_command  # the batch system's command is there
    command.write_text("#!/bin/sh\nexit 1\n")
    command.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    v = make(backend).validate()
    assert v.ok is None
    assert "not available" in v.message and f"for {BACKEND_NAMES[backend]}:" in v.message


@pytest.mark.parametrize(("backend", "command"), [("pbs", "qsub"), ("sge", "qsub"), ("lsf", "bsub"),
                                                  ("htcondor", "condor_submit")])
def test_without_the_batch_systems_commands_nothing_is_started(backend, command, tmp_path, monkeypatch):
    """No qsub on this machine: Validate says so instead of "not available", and Start refuses with the
    same sentence rather than leaving a cluster that can never get a worker."""
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without the batch system
    cc = make(backend)
    v = cc.validate()
    assert v.ok is False and v.message.startswith(f"{command} was not found on this machine")
    with pytest.raises(RequestError) as err:
        cc.start(1)
    assert str(err.value) == v.message and cc.cluster is None and not cc.running and cc.error == v.message


def test_bad_sizes_are_request_errors():
    cc = ClusterControl(backend="slurm", cores=1, processes=2)
    with pytest.raises(RequestError) as info:
        cc.job_script()
    assert info.value.field == "processes"
    cc = ClusterControl(backend="pbs", memory="lots")
    v = cc.validate()
    assert v.ok is False and v.field == "memory" and cc.error_field == "memory"


def test_defaults_from_user_jobqueue_config():
    with dask.config.set({"jobqueue.pbs.queue": "workq", "jobqueue.pbs.cores": 8, "jobqueue.pbs.memory": "32GB",
                          "jobqueue.pbs.job-extra-directives": ["-l place=excl"]}):
        cc = ClusterControl(backend="pbs")
        assert (cc.queue, cc.cores, cc.memory, cc.job_extra_directives) == ("workq", 8, "32GB", ["-l place=excl"])
        assert "#PBS -q workq" in cc.job_script()
        # explicit arguments win over config
        assert ClusterControl(backend="pbs", queue="express").queue == "express"
        # picked later: defaults applied on backend change; shipped dask-jobqueue defaults do not clobber
        cc2 = ClusterControl(walltime="00:05:00")
        cc2.backend = "pbs"
        assert cc2.queue == "workq" and cc2.walltime == "00:05:00"


def test_profiles_from_config_in_one_step():
    profiles = {"debug": {"backend": "slurm", "queue": "debug", "cores": 1, "memory": "1GB", "walltime": "00:10:00"},
                "interactive": {"backend": "slurm", "queue": "interactive", "cores": 2, "memory": "4GB",
                                "walltime": "02:00:00", "job-extra-directives": ["--qos=interactive"]}}
    with dask.config.set({"hpcdash.profiles": profiles}):
        cc = ClusterControl()
        assert cc.profiles() == ["debug", "interactive"]
        assert cc.param.profile.objects == ["", "debug", "interactive"]
        events = []
        cc.param.watch(lambda e: events.append(e.name), ["backend"])
        cc.profile = "interactive"
        assert (cc.backend, cc.queue, cc.cores, cc.memory, cc.walltime) == ("slurm", "interactive", 2, "4GB", "02:00:00")
        assert cc.job_extra_directives == ["--qos=interactive"]
        assert events == ["backend"]
        cc.apply_profile("debug")
        assert (cc.queue, cc.walltime) == ("debug", "00:10:00")
        assert ClusterControl(profile="debug").queue == "debug"
        with pytest.raises(ValueError, match="No profile"):
            cc.apply_profile("nosuch")


def test_estimate_node_hours_and_charge():
    cc = ClusterControl(backend="slurm", cores=4, processes=1, walltime="02:30:00", n_workers=3,
                        charge_per_node_hour=2.0, charge_unit="CU")
    e = cc.estimate()
    assert (e.jobs, e.walltime_hours, e.node_hours, e.core_hours, e.charge) == (3, 2.5, 7.5, 30.0, 15.0)
    cc.cores_per_node = 16
    assert cc.estimate(n_jobs=4).node_hours == pytest.approx(4 * 2.5 * 0.25)
    with dask.config.set({"hpcdash.charge-per-node-hour": 0.5}):
        assert ClusterControl().charge_per_node_hour == 0.5


def test_dashboard_link_behind_jupyter_proxy():
    assert proxied_dashboard_link("http://127.0.0.1:40123/status", "/user/ada/") == "/user/ada/proxy/40123/status"
    assert proxied_dashboard_link("http://127.0.0.1:40123/status", "") == "http://127.0.0.1:40123/status"


def test_import_has_no_panel():
    import subprocess
    import sys

    code = "import sys, hpcdash.cluster; print('panel' in sys.modules, 'holoviews' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_fit_note_counts_jobs_per_node_by_cpus_and_memory():
    """What fits at once on a partition (given here; sinfo's list in the SLURM test of the view)."""
    from hpcdash.cluster.control import slurm_megabytes
    from hpcdash.cluster.scheduler import Partition

    parts = [Partition("small", 3600, 2, 8, 16000, True, default=True), Partition("big", None, 1, 64, 256000, True)]
    cc = ClusterControl(backend="slurm", cores=4, memory="6GB", n_workers=5)
    assert slurm_megabytes("6GB") == 5723 and slurm_megabytes("900MB") == 859
    assert slurm_megabytes("3.5GB") == 3338  # as typed, to the MiB (not rounded up to whole GiB)
    # small (the default): 2 per node by CPUs and by memory, 2 nodes -> 4 at once
    assert cc.fit_note(parts).startswith("Only 4 of the 5 jobs fit on small at a time (2 per node")
    cc.queue = "big"
    assert cc.fit_note(parts) == ""
    cc.param.update(queue="small", memory="12GB")
    note = cc.fit_note(parts)
    assert note.startswith("Only 2 of the 5 jobs") and "limited by memory" in note
    cc.cores = 16
    assert cc.fit_note(parts).startswith("A job of this size does not fit on a node of small")
    cc.queue = "nosuch"
    assert cc.fit_note(parts) == ""  # unknown partition: the scheduler's validation speaks
    assert ClusterControl(backend="local").fit_note(parts) == ""
