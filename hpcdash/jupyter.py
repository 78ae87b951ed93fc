"""JupyterLab integration: a jupyter-server-proxy entry point with a launcher tile.

With hpcdash installed next to JupyterLab and jupyter-server-proxy, the Launcher shows an
"hpcdash" tile; it opens the app at ``{base_url}hpcdash/``. The app is started on demand by
jupyter-server-proxy, listening on a Unix socket in a folder of its own (mode 0700; the socket 0600)
rather than a loopback port, which every user of a shared login node could connect to, bypassing
Jupyter's authentication. It sees the Jupyter server's working directory as its file root (override
with the HPCDASH_ROOT environment variable).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

NAME = "hpcdash"
ICON = Path(__file__).parent / "assets" / "hpcdash.svg"


def _jupyter_root() -> str:
    """The Jupyter server's root folder (``--notebook-dir``), so paths from its file browser match."""
    try:
        from jupyter_server.serverapp import ServerApp

        if ServerApp.initialized():
            return str(ServerApp.instance().root_dir)
    except Exception:
        pass
    return os.getcwd()


def setup_hpcdash() -> dict:
    """The server-process description jupyter-server-proxy reads (it fills {unix_socket} and {base_url})."""
    root = os.environ.get("HPCDASH_ROOT") or _jupyter_root()
    config = {
        "command": [
            sys.executable, "-m", "hpcdash", "serve",
            "--root", root,
            "--unix-socket", "{unix_socket}",
            "--prefix", "{base_url}" + NAME,
            # jupyter-server-proxy opens the websocket itself and has already authenticated the user
            "--allow-websocket-origin", "*",
            "--no-show",
        ],
        # the Cluster tab rewrites the Dask dashboard link to {base_url}proxy/{port}/status
        "environment": {"HPCDASH_BASE_URL": "{base_url}"},
        "unix_socket": True,
        "absolute_url": True,
        "timeout": 120,
        "new_browser_tab": False,
        "launcher_entry": {"enabled": True, "title": "hpcdash", "category": "Other"},
    }
    if ICON.exists():
        config["launcher_entry"]["icon_path"] = str(ICON)
    return config
