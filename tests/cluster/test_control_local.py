"""ClusterControl on the embedded local backend (distributed.LocalCluster)."""

from __future__ import annotations

from urllib.parse import urlparse

import psutil
import pytest
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
    assert st.dashboard_link.startswith("/user/ada/proxy/") and st.dashboard_link.endswith("/status")
    cc.scale(0)
    wait_until(lambda: cc.status().workers == 0, 30, what="0 workers")
    cc.adapt(0, 1)
    assert cc.status().adapt == (0, 1)
    cc.close()
    assert not cc.running and cc.status().phase == "stopped" and cc.client is None
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
