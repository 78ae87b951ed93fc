"""Provenance and sharing: what a session did, and a reproducible bundle of it.

No Panel here (the tab's state and view are `hpcdash.provenance.state` / `.view`)::

    from hpcdash.provenance import ProvenanceLog, plan_bundle, write_bundle, verify_bundle

    log = ProvenanceLog()
    log.record("open", "Opened run1.h5", paths=["/data/runs/run1.h5"])
    plan = plan_bundle(log, root="/data")          # the files, inside the root, with sizes
    zip_path = write_bundle(plan, "/data/bundles", log=log, views=[{"file": "runs/run1.h5", "slice": "40"}])
    verify_bundle(zip_path.with_suffix(""))        # every file's sha256 against the RO-Crate's
"""

from .bundle import (
    BundleFile,
    BundlePlan,
    FileCheck,
    default_name,
    plan_bundle,
    unlisted_files,
    verify_bundle,
    write_bundle,
)
from .environment import pinned_requirements, python_runtime
from .record import KINDS, Event, ProvenanceLog, file_sha256

__all__ = [
    "KINDS",
    "BundleFile",
    "BundlePlan",
    "Event",
    "FileCheck",
    "ProvenanceLog",
    "default_name",
    "file_sha256",
    "pinned_requirements",
    "plan_bundle",
    "python_runtime",
    "unlisted_files",
    "verify_bundle",
    "write_bundle",
]
