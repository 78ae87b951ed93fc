#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine and run the whole suite:
# Debian packages (chromium for browser tests, slurm-wlm + munge for a real single-node SLURM),
# a virtual environment with hpcdash and its test extras, a local SLURM cluster, then pytest.
# Usage: bash tests/run.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV="${HPCDASH_VENV:-$REPO/.venv}"
PY="${PYTHON:-python3}"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

step() { printf '\n==> %s (%s)\n' "$*" "$(date +%T)"; }

step "Debian packages"
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v slurmctld >/dev/null || need+=(slurm-wlm)
command -v munged >/dev/null || need+=(munge)
"$PY" -c "import ensurepip, venv" >/dev/null 2>&1 || need+=(python3-venv)  # Debian splits venv out
if ((${#need[@]})); then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

step "Python environment in $VENV"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
"$VENV/bin/python" -m pip install -q -e ".[test]" 2>&1 | grep -v '^WARNING: Location' || true
# editable installs carry no data files: link the prebuilt JupyterLab extension by hand
mkdir -p "$VENV/share/jupyter/labextensions"
ln -sfn "$REPO/hpcdash/labextension" "$VENV/share/jupyter/labextensions/hpcdash"
"$VENV/bin/python" -c "import hpcdash, panel, holoviews, datashader, h5py, dask_jobqueue, playwright"

step "Local SLURM cluster"
export SLURM_PREFIX="${SLURM_PREFIX:-/tmp/hpcdash-test-slurm}"
export SLURM_CTLD_PORT="${SLURM_CTLD_PORT:-6917}" SLURM_SLURMD_PORT="${SLURM_SLURMD_PORT:-6918}"
bash tests/services/stop-slurm.sh --wipe >/dev/null 2>&1 || true
bash tests/services/start-slurm.sh
export SLURM_CONF="$SLURM_PREFIX/etc/slurm.conf"
trap 'bash tests/services/stop-slurm.sh >/dev/null 2>&1 || true' EXIT

step "Tests"
export PATH="$VENV/bin:$PATH"
"$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
