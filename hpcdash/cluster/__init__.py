"""Cluster control: request, validate, start and watch Dask workers on a batch scheduler.

``import hpcdash.cluster`` loads no Panel; the tab lives in :mod:`hpcdash.cluster.view`.
"""

from .control import (
    BACKENDS,
    ClusterControl,
    ClusterLease,
    ClusterStatus,
    Estimate,
    JobRecord,
    RequestError,
    SweepOutcome,
    SweepRunningError,
    Validation,
    WorkerLoad,
    default_backend,
    proxied_dashboard_link,
)
from .scheduler import JobState, SchedulerError, SchedulerUnavailableError

__all__ = [
    "BACKENDS",
    "ClusterControl",
    "ClusterLease",
    "ClusterStatus",
    "Estimate",
    "JobRecord",
    "JobState",
    "RequestError",
    "SchedulerError",
    "SchedulerUnavailableError",
    "SweepOutcome",
    "SweepRunningError",
    "Validation",
    "WorkerLoad",
    "default_backend",
    "proxied_dashboard_link",
]
