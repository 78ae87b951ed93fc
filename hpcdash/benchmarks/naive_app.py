"""The naive Panel baseline of the benchmark: a DynamicMap that reads the slice with h5py on demand
and rasterizes it, with nothing else (no slab cache, no read-ahead, no stale-work dropping).

    panel serve hpcdash/benchmarks/naive_app.py --args ROOT_DIR      # then open /naive_app?file=REL.h5
    panel serve hpcdash/benchmarks/naive_app.py --args FILE.h5 [DATASET]

It has the same control names as hpcdash ("Normal axis", "Slice") so one benchmark client drives
both. The file stays open with h5py's default chunk cache (1 MiB), as a plain script would do.
"""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import holoviews as hv
import numpy as np
import panel as pn
from holoviews.operation.datashader import rasterize

CANVAS = 600


def _largest_3d(f: h5py.File) -> str:
    found: list[tuple[int, str]] = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.ndim == 3 and obj.dtype.kind in "fiu":
            found.append((obj.size, name))

    f.visititems(visit)
    if not found:
        raise SystemExit("no 3-D numeric dataset in the file")
    return max(found)[1]


def create_app(path: str, dataset: str | None = None) -> pn.viewable.Viewable:
    """Build the naive explorer for one 3-D dataset of `path`."""
    f = h5py.File(path, "r")
    ds = f[dataset or _largest_3d(f)]
    dims = ("z", "y", "x")
    axis = pn.widgets.Select(label="Normal axis", options=list(dims), value=dims[0])
    index = pn.widgets.IntSlider(label="Slice", start=0, end=ds.shape[0] - 1, value=ds.shape[0] // 2)

    def on_axis(event):
        n = ds.shape[dims.index(event.new)]
        index.param.update(end=n - 1, value=n // 2)

    axis.param.watch(on_axis, "value")

    def image(normal: str, i: int) -> hv.Image:
        ax = dims.index(normal)
        sel = [slice(None)] * 3
        sel[ax] = int(i)
        arr = ds[tuple(sel)]
        ny, nx = arr.shape
        # fixed key dimension names: the plot is reused when the normal axis changes
        return hv.Image(np.asarray(arr), bounds=(0, 0, nx, ny), kdims=["u", "v"])

    dmap = hv.DynamicMap(pn.bind(image, axis, index))
    plot = rasterize(dmap).opts(width=CANVAS, height=CANVAS, cmap="viridis", colorbar=True)
    return pn.Row(pn.Column(axis, index), pn.pane.HoloViews(plot))


def _session_file(args: list[str]) -> tuple[str, str | None]:
    """FILE [DATASET] from the command line, or ROOT_DIR plus ?file=REL (&dataset=) from the URL."""
    target = Path(args[0])
    if target.is_file():
        return str(target), args[1] if len(args) > 1 else None
    q = pn.state.session_args or {}
    rel = q.get("file", [b""])[0].decode()
    path = (target / rel).resolve()
    if not rel or target.resolve() not in path.parents:
        raise SystemExit("open /naive_app?file=NAME.h5 (a file inside the root folder)")
    ds = q.get("dataset", [b""])[0].decode() or None
    return str(path), ds


if __name__.startswith("bokeh"):
    pn.extension()
    hv.extension("bokeh")
    create_app(*_session_file(sys.argv[1:])).servable(title="naive slice viewer")
