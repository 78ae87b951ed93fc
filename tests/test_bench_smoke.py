"""Smoke test of the benchmark harness (`hpcdash bench --quick`): tiny volumes, one run of every
measurement, and every row of the table carries a number. No figure is checked: speed lives in the
benchmark, not in tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

EXPECTED = [
    "adjacent step, axis 0", "adjacent step, axis 1", "adjacent step, axis 2",
    "random step, axis 0", "random step, axis 1", "random step, axis 2",
    "bytes per update, bokeh.client session",
    "peak RSS of the server",
    "open to first image, served",
    "open to first image, fresh process",
    "four linked panes vs one, random slice",
    "four linked panes vs one, adjacent steps",
    "key press to new image",
]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_bench_quick_prints_every_row_with_numbers(tmp_path: Path) -> None:
    browser = Path(CHROMIUM).exists()
    out_json = tmp_path / "bench.json"
    argv = [sys.executable, "-m", "hpcdash.bench", "--quick", "--out", str(tmp_path / "data"),
            "--json", str(out_json)]
    if not browser:
        argv.append("--skip-browser")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=880, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    table = proc.stdout
    assert "machine:" in table and "versions:" in table, table

    rows = json.loads(out_json.read_text())["rows"]
    measures = [r["measure"] for r in rows]
    for prefix in EXPECTED:
        assert any(m.startswith(prefix) for m in measures), (prefix, measures)
    if browser:  # opening the page in chromium: the first page and new pages of the same browser
        assert sum(m.startswith("open to first image in chromium") for m in measures) == 2, measures
    # both volumes (plain and gzip) have their per-axis rows
    assert sum("plain" in m and "step, axis" in m for m in measures) == 6
    assert sum("gzip" in m and "step, axis" in m for m in measures) == 6

    for r in rows:
        # the canvas size (bytes bound) and the key-press figure come from the browser
        if r["measure"].startswith(("key press", "bytes per update")) and not browser:
            continue
        cell = r["hpcdash"]
        assert cell is not None and re.search(r"\d", str(cell)), (r, proc.stderr[-3000:])
        # every row with a target says whether it was met; rows without one are figures only
        assert r["met"] in ((True, False) if r["target"] else (None,)), r
        # the table line of this row shows the same number
        assert str(cell) in table
    # the linked-panes rows (random slices, then adjacent steps) alternate sessions of one and four
    # panes and show each round's ratio
    for linked in (r for r in rows if r["measure"].startswith("four linked panes vs one")):
        assert re.search(r"ratio per round \d+\.\d\dx", linked["note"]), linked
    # a saved run renders again (Markdown for the README) without measuring
    md = subprocess.run([sys.executable, "-m", "hpcdash.bench", "--render", str(out_json), "--markdown"],
                        capture_output=True, text=True, timeout=120)
    assert md.returncode == 0, md.stderr[-3000:]
    assert md.stdout.count("\n| ") >= len(rows), md.stdout

    # the baselines were measured in the same run
    steps = [r for r in rows if "step, axis" in r["measure"]]
    for r in steps:
        for col in ("raw h5py", "h5grove", "naive Panel"):
            assert r[col] is not None and re.search(r"\d", str(r[col])), (col, r)
