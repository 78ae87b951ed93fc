"""hpcdash.cluster.scheduler against the real local SLURM (no mocks)."""

from __future__ import annotations

import subprocess

import pytest

from hpcdash.cluster import scheduler as sched
from tests.cluster.cluster_helpers import wait_until

pytestmark = pytest.mark.slurm

GOOD = "#!/bin/bash\n#SBATCH -p debug\n#SBATCH -t 00:05:00\n#SBATCH --mem=500M\nhostname\n"


def test_check_submission_accepts_good_script(slurm):
    chk = sched.check_submission(GOOD)
    assert chk.ok, chk.message
    assert chk.expected_start is not None
    assert chk.partition == "debug"
    # sbatch --test-only names a job id that is never queued: the message does not
    assert chk.message.startswith("SLURM would run it on ") and "in partition debug" in chk.message
    assert "Job " not in chk.message and "nothing was queued" in chk.message


@pytest.mark.parametrize(
    ("directive", "words", "field"),
    [
        ("-p nosuch", "Invalid partition name specified", "queue"),
        ("-t 02:00:00", "Requested time limit is invalid", "walltime"),
        ("--mem=100G", "Requested node configuration is not available", "memory"),
    ],
)
def test_check_submission_returns_slurm_words(slurm, directive, words, field):
    script = GOOD.replace("hostname", "") + f"#SBATCH {directive}\nhostname\n"
    chk = sched.check_submission(script)
    assert chk.ok is False
    assert words in chk.message
    assert sched.guess_field(chk.message) == field


def test_query_jobs_states_and_cancel(slurm, filler_jobs):
    run = subprocess.run(["sbatch", "--parsable", "-t", "00:05:00", "--wrap", "sleep 120"],
                         capture_output=True, text=True, check=True).stdout.strip()
    fail = subprocess.run(["sbatch", "--parsable", "-t", "00:05:00", "--wrap", "exit 3"],
                          capture_output=True, text=True, check=True).stdout.strip()
    filler_jobs += [run, fail]
    jobs = wait_until(lambda: (j := sched.query_jobs([run, fail])) and j.get(run) and j[run].state == "running"
                      and j.get(fail) and j[fail].state == "failed" and j, 120, what="running + failed job")
    assert jobs[run].node and jobs[run].time_limit == 300
    assert jobs[run].time_left is not None and 0 < jobs[run].time_left <= 300
    sched.cancel_jobs([run])
    wait_until(lambda: sched.query_jobs([run])[run].state == "ended", 60, what="cancelled job ended")
    assert sched.query_jobs(["999999999"]) == {}


def test_partitions_from_sinfo(slurm):
    parts = {p.name: p for p in sched.list_partitions()}
    assert parts["debug"].default and parts["debug"].time_limit == 3600
    assert parts["interactive"].time_limit == 8 * 3600


def test_parse_duration():
    assert sched.parse_duration("1-02:03:04") == 86400 + 7384
    assert sched.parse_duration("10:00") == 600
    assert sched.parse_duration("UNLIMITED") is None


def test_tail_file(tmp_path):
    p = tmp_path / "x.err"
    p.write_text("\n".join(f"line {i}" for i in range(100)))
    assert sched.tail_file(p, lines=3) == "line 97\nline 98\nline 99"
    assert sched.tail_file(tmp_path / "missing") is None


@pytest.mark.parametrize("daemon", ["slurmstepd", "slurmstepd-n042"])  # recent SLURM adds the node's name
def test_tail_file_keeps_the_batch_systems_words_above_a_long_traceback(tmp_path, daemon):
    p = tmp_path / "y.err"
    lines = ["worker starting", "slurmstepd_helper: not the batch system", "srun-like: nor this",
             f"{daemon}: error: *** JOB 13 ON n1 CANCELLED AT 2026-12-01T10:00:00 ***"]
    lines += [f"  File \"x.py\", line {i}" for i in range(40)] + ["RuntimeError: Nanny failed to start."]
    p.write_text("\n".join(lines))
    tail = sched.tail_file(p, lines=5)
    assert tail.splitlines()[0].startswith(f"{daemon}: error: *** JOB 13")
    assert tail.splitlines()[1] == "..."
    assert tail.endswith("RuntimeError: Nanny failed to start.")
    assert "worker starting" not in tail and "helper" not in tail and "like" not in tail
    assert len(tail.splitlines()) == 7
