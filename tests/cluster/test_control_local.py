"""ClusterControl on the embedded local backend (distributed.LocalCluster)."""

from __future__ import annotations

from urllib.parse import urlparse

import psutil
import pytest
from dask.utils import parse_bytes
from distributed import Client

from tests.cluster.cluster_helpers import wait_until


def test_local_start_scale_compute_close(make_control):
    cc = make_control(backend="local", cores=2, processes=1, memory="1GB", base_url="/user/ada/")
    assert cc.validate().ok is True
    assert cc.job_script().startswith("# local backend")
    assert cc.status().phase == "stopped"
    cc.start(n=2)
    assert cc.running
    cc.client.wait_for_workers(2, timeout=60)
    assert cc.client.submit(lambda x: x * 2, 21).result(timeout=30) == 42
    # TLS by default: other users of this machine cannot hand the scheduler code to run
    assert cc.cluster.scheduler_address.startswith("tls://127.0.0.1:")
    with pytest.raises(OSError):
        Client(cc.cluster.scheduler_address.replace("tls://", "tcp://"), timeout=5)
    # the Dask dashboard (task names, paths, worker logs) listens on loopback only
    port = urlparse(cc.cluster.dashboard_link).port
    bound = {c.laddr.ip for c in psutil.Process().net_connections(kind="inet")
             if c.status == "LISTEN" and c.laddr.port == port}
    assert bound == {"127.0.0.1"}
    assert cc.dashboard_target() == f"http://127.0.0.1:{port}"  # where hpcdash serve's proxy forwards
    st = wait_until(lambda: (s := cc.status()) and s.workers == 2 and s, 30, what="2 workers")
    assert st.cores == 4 and st.jobs == [] and st.phase == "workers connected"
    # each worker's memory and CPU, as the scheduler last heard from it
    assert len(st.loads) == 2 and {w.memory_limit for w in st.loads} == {parse_bytes("1GB")}
    assert all(0 < w.memory < w.memory_limit and w.cpu >= 0 for w in st.loads)
    assert sorted(w.name for w in st.loads) == sorted(str(w["name"]) for w in cc.cluster.scheduler_info["workers"].values())
    assert st.dashboard_link.startswith("/user/ada/proxy/") and st.dashboard_link.endswith("/status")
    # the tasks each worker runs, from its heartbeats: two long ones, one on each worker
    import time

    busy = [cc.client.submit(time.sleep, 4, pure=False, workers=[w]) for w in cc.cluster.scheduler_info["workers"]]
    wait_until(lambda: sorted(w.executing for w in cc.status().loads) == [1, 1], 20, what="one task on each worker")
    for f in busy:
        f.result(timeout=30)
    cc.scale(0)
    wait_until(lambda: cc.status().workers == 0, 30, what="0 workers")
    cc.adapt(0, 1)
    assert cc.status().adapt == (0, 1)
    cc.close()
    assert not cc.running and cc.status().phase == "stopped" and cc.client is None and cc.status().loads == []
    cc.close()  # twice is fine


def test_dashboard_link_and_target_follow_where_the_dashboard_is_served():
    import types

    import dask

    from hpcdash.cluster import ClusterControl

    cc = ClusterControl(backend="slurm", base_url="")
    assert cc.dashboard_url() is None and cc.dashboard_target() is None  # no cluster yet
    cc._cluster = types.SimpleNamespace(dashboard_link="http://10.1.2.3:40123/status")  # the scheduler's host
    assert cc.dashboard_url() == "http://10.1.2.3:40123/status"
    assert cc.dashboard_target() == "http://127.0.0.1:40123"  # the dashboard itself is on loopback
    cc.dashboard_proxy = "dask/status"  # served by hpcdash: through the app's own address and login
    assert cc.dashboard_url() == "dask/status"
    cc.base_url = "/user/ada/"  # inside JupyterLab, jupyter-server-proxy's link as before
    assert cc.dashboard_url() == "/user/ada/proxy/40123/status"
    with dask.config.set({"jobqueue.slurm.scheduler-options": {"dashboard_address": "10.1.2.3:40123"}}):
        assert cc.dashboard_target() == "http://10.1.2.3:40123"
    with dask.config.set({"jobqueue.slurm.scheduler-options": {"dashboard_address": ":40123"}}):
        assert cc.dashboard_target() == "http://127.0.0.1:40123"
    cc._cluster = types.SimpleNamespace(dashboard_link="")  # a cluster without a dashboard
    assert cc.dashboard_url() is None and cc.dashboard_target() is None


def test_configured_scheduler_options_are_kept_and_may_open_the_dashboard():
    import dask

    from hpcdash.cluster import ClusterControl

    assert ClusterControl(backend="slurm")._scheduler_options() == {"dashboard_address": "127.0.0.1:0"}
    with dask.config.set({"jobqueue.slurm.scheduler-options": {"dashboard_address": ":8787", "port": 8786}}):
        assert ClusterControl(backend="slurm")._scheduler_options() == {"dashboard_address": ":8787", "port": 8786}


def test_worker_loads_are_drawn_as_bars_with_names_escaped():
    from hpcdash.cluster import ClusterStatus, WorkerLoad
    from hpcdash.cluster.view import worker_loads_html

    st = ClusterStatus(backend="local", running=True, phase="workers connected", loads=[
        WorkerLoad("<b>w0</b>", memory=900, memory_limit=1000, cpu=50.0, executing=1),
        WorkerLoad("w1", memory=100, memory_limit=0, cpu=0.0)])
    shown = worker_loads_html(st, lambda n: f"{n} B")
    assert shown.count("class='hpc-worker-load'") == 2
    assert "&lt;b&gt;w0&lt;/b&gt;" in shown and "<b>w0" not in shown
    assert "width:90%;background:#c62828" in shown and "900 B of 1000 B" in shown  # 90% of its limit: red
    assert "width:50%" in shown and ">50%<" in shown  # CPU
    assert ">100 B</span>" in shown  # no limit: no bar
    # the label stands beside the bar, not on its coloured fill, where it was hard to read
    assert ("<div class='hpc-bar-track'><div class='hpc-bar-fill' style='width:90%;background:#c62828'></div></div>"
            "<span class='hpc-bar-label'>900 B of 1000 B</span>") in shown
    assert worker_loads_html(ClusterStatus(backend="local", running=False, phase="stopped"), str) == ""
