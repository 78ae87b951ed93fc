"""dashboards/explorer.ipynb executed headless with nbclient: it must display the explorer (Panel mimebundle)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO

NOTEBOOK = REPO / "dashboards" / "explorer.ipynb"


@pytest.mark.slow
def test_explorer_notebook_displays_the_explorer(data_root: Path, demo_runs: list[str], monkeypatch, tmp_path):
    monkeypatch.setenv("HPCDASH_DEMO_DIR", str(data_root / "demo"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on a cell error
    code = [c for c in nb.cells if c.cell_type == "code"]
    shown = code[1]  # `explorer` on the last line of the cell
    mimes = {k for out in shown.outputs for k in out.get("data", {})}
    assert "application/vnd.holoviews_exec.v0+json" in mimes, mimes
    html = "".join(out.get("data", {}).get("text/html", "") for out in shown.outputs)
    assert "Normal axis" in html and "Colormap" in html and "of 128)" in html
    assert "cdn.bokeh.org" not in html  # inline resources: works without internet
    readout = code[2].outputs[-1]["data"]["text/plain"]
    assert readout.startswith("'y = ") and "(slice 65 of 128)" in readout
    assert not list(tmp_path.glob("*.h5"))  # the demo runs were reused, not rewritten in the cwd
    # the provenance cell: a bundle recording both runs (not copied), and the tab's view displayed
    prov = code[-1]
    printed = "".join(out.get("text", "") for out in prov.outputs if out.get("output_type") == "stream")
    assert printed.startswith("Wrote hpcdash-bundle-") and "2 data files (recorded, not copied)" in printed
    assert len(list((tmp_path / "bundles").glob("*.zip"))) == 1
    shown_html = "".join(out.get("data", {}).get("text/html", "") for out in prov.outputs)
    assert "Export bundle" in shown_html and "Opened " in shown_html


CLUSTER_NOTEBOOK = REPO / "dashboards" / "cluster.ipynb"


def run_cluster_notebook(tmp_path: Path, monkeypatch, backend: str, queue: str = "") -> list:
    """Execute dashboards/cluster.ipynb headless with `backend`; check what every backend must show and
    return its code cells (outputs included)."""
    monkeypatch.setenv("HPCDASH_BACKEND", backend)
    monkeypatch.setenv("HPCDASH_QUEUE", queue)
    monkeypatch.setenv("HPCDASH_SWEEP_DIR", str(tmp_path / "runs"))
    nb = nbformat.read(CLUSTER_NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on a cell error
    code = [c for c in nb.cells if c.cell_type == "code"]

    def text(cell) -> str:
        return "".join(out.get("text", "") for out in cell.outputs if out.get("output_type") == "stream")

    def html(cell) -> str:
        return "".join(out.get("data", {}).get("text/html", "") for out in cell.outputs)

    assert text(code[1]).startswith("True ")  # the request was validated
    view = html(code[2])  # the Cluster tab's form in the notebook
    assert "Cores per job" in view and "Job script" in view and "cdn.bokeh.org" not in view
    assert text(code[3]).startswith("workers connected: 2 workers, 2 cores")
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert runs == ["source_x_-60m.h5", "source_x_0m.h5", "source_x_60m.h5"]  # no temporaries left
    assert text(code[4]).strip().splitlines()[-1].startswith("3/3 ")
    explorer = html(code[5])
    assert "Normal axis" in explorer and "A - B" in explorer and "source_x_-60m.h5" in explorer
    assert "Wrote hpcdash-bundle-" in text(code[6]) and "(recorded, not copied)" in text(code[6])
    assert len(list((tmp_path / "bundles").glob("*.zip"))) == 1
    assert text(code[7]).strip() == "stopped"
    return code


@pytest.mark.slow
def test_cluster_notebook_runs_a_sweep_on_the_local_cluster(tmp_path, monkeypatch):
    """dashboards/cluster.ipynb on the embedded default (a local Dask cluster): request, validate, the
    Cluster tab's form, two workers, a three-run sweep, the runs compared, the record, the workers released."""
    code = run_cluster_notebook(tmp_path, monkeypatch, "local")
    assert "local backend: no batch job" in "".join(o.get("text", "") for o in code[0].outputs)
