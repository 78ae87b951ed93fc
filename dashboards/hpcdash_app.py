"""The hpcdash app for `panel serve dashboards/hpcdash_app.py` (same page as `hpcdash serve`).

Files and root come from `--args` or from the environment:

    panel serve dashboards/hpcdash_app.py --args --root /scratch/me/runs run_01.h5 run_02.h5
    HPCDASH_ROOT=/scratch/me/runs HPCDASH_PATHS=run_01.h5:run_02.h5 panel serve dashboards/hpcdash_app.py

Pass `--address 127.0.0.1` to `panel serve` (it listens on every interface otherwise), or put it behind an
authenticating proxy: the app shows every HDF5 file under the root. `hpcdash serve` binds to 127.0.0.1
by default.
"""

import argparse
import os
import sys

import hpcdash.explorer  # noqa: F401 - Datashader's kernels, loaded once per server process
from hpcdash.app import create_app, prepare_server_process


def _settings(argv: list[str]) -> tuple[list[str], str]:
    parser = argparse.ArgumentParser(prog="hpcdash_app.py")
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--root", default=None)
    args, _ = parser.parse_known_args(argv)
    env_paths = [p for p in os.environ.get("HPCDASH_PATHS", "").split(os.pathsep) if p]
    root = args.root or os.environ.get("HPCDASH_ROOT") or os.getcwd()
    return (args.paths or env_paths), root


prepare_server_process()  # once per server process (this script runs for every session)
paths, root = _settings(sys.argv[1:])
create_app(paths, root).servable(title="hpcdash")
