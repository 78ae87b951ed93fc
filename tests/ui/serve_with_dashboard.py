"""`hpcdash serve ARGS...` whose Dask dashboard proxy (``<app>/dask/...``) forwards to the dashboard at
$HPCDASH_TEST_DASHBOARD (``http://127.0.0.1:PORT``, a scheduler the test started) instead of the one of
a cluster started from the Cluster tab: the server, its routes and the proxy are otherwise the real ones.

    python -m tests.ui.serve_with_dashboard --root DIR --port PORT ...
"""

import os
import sys

from hpcdash import app
from hpcdash.cli import main

app.Workspace.dashboard_target = lambda self: os.environ["HPCDASH_TEST_DASHBOARD"]

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
