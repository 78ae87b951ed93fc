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
