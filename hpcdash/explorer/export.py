"""Export of the current slice: PNG with axes and colour bar, .npy and .csv.

The PNG is drawn with Pillow only (no browser, no matplotlib): the slice is resampled onto a pixel grid
in physical coordinates (so non-uniform axes keep their true geometry), coloured with the same palette
and range as the view, and framed with ticks, labels and a colour bar. Works offline on a server.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .state import nice_ticks


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def _hex_to_rgb(palette: Sequence[str]) -> np.ndarray:
    return np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in palette], dtype=np.uint8)


def _edges(centres: np.ndarray) -> np.ndarray:
    c = np.asarray(centres, dtype=float)
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def _tick_text(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        return f"{v:.2g}"
    return f"{v:g}"


def colourise(values: np.ndarray, palette: Sequence[str], clim: tuple[float, float], log: bool = False,
              nan_rgb: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Map `values` to RGB (uint8, shape + (3,)) with `palette` over `clim`; NaN -> `nan_rgb`."""
    lut = _hex_to_rgb(palette)
    v = np.asarray(values, dtype=float)
    lo, hi = clim
    with np.errstate(divide="ignore", invalid="ignore"):
        if log and lo > 0 and hi > 0:
            v, lo, hi = np.log10(np.where(v > 0, v, np.nan)), math.log10(lo), math.log10(hi)
        t = (v - lo) / ((hi - lo) or 1.0)
    idx = np.clip(np.nan_to_num(t, nan=0.0) * (len(lut) - 1), 0, len(lut) - 1).astype(int)
    rgb = lut[idx]
    rgb[~np.isfinite(t)] = nan_rgb
    return rgb


def slice_png(data, palette: Sequence[str], clim: tuple[float, float], *, log: bool = False,
              title: str = "", xlabel: str = "", ylabel: str = "", clabel: str = "",
              size: int = 560, equal_aspect: bool = True, y_down: bool = False) -> bytes:
    """A PNG of a 2-D xarray.DataArray (dims (y, x)) with axes, ticks, labels and a colour bar; with
    `y_down` the y axis increases downwards (a depth), as the view draws it."""
    ydim, xdim = data.dims
    x = np.asarray(data[xdim].values, dtype=float)
    y = np.asarray(data[ydim].values, dtype=float)
    vals = np.asarray(data.values, dtype=float)
    xe, ye = _edges(x), _edges(y)
    x0, x1, y0, y1 = min(xe[0], xe[-1]), max(xe[0], xe[-1]), min(ye[0], ye[-1]), max(ye[0], ye[-1])
    w = h = size
    if equal_aspect and x1 > x0 and y1 > y0:
        ratio = (y1 - y0) / (x1 - x0)
        ratio = min(max(ratio, 0.2), 5.0)
        w, h = (size, int(size * ratio)) if ratio <= 1 else (int(size / ratio), size)
    # nearest cell of every pixel centre, in physical coordinates (true geometry on non-uniform axes)
    px = x0 + (np.arange(w) + 0.5) * (x1 - x0) / w
    py = (y0 + (np.arange(h) + 0.5) * (y1 - y0) / h) if y_down else (y1 - (np.arange(h) + 0.5) * (y1 - y0) / h)
    ix = np.clip(np.searchsorted(xe, px) - 1, 0, x.size - 1) if xe[-1] > xe[0] else \
        np.clip(x.size - np.searchsorted(xe[::-1], px), 0, x.size - 1)
    iy = np.clip(np.searchsorted(ye, py) - 1, 0, y.size - 1) if ye[-1] > ye[0] else \
        np.clip(y.size - np.searchsorted(ye[::-1], py), 0, y.size - 1)
    img = colourise(vals[np.ix_(iy, ix)], palette, clim, log=log)

    font, small = _font(15), _font(12)
    lines = [line for line in title.split("\n") if line.strip()]  # e.g. the run, then where the slice lies
    left, top, right, bottom = 80, 16 + 22 * len(lines) + (2 if lines else 0), 120, 60
    W, H = left + w + right, top + h + bottom
    canvas = Image.new("RGB", (W, H), "white")
    canvas.paste(Image.fromarray(img, "RGB"), (left, top))
    d = ImageDraw.Draw(canvas)
    d.rectangle([left - 1, top - 1, left + w, top + h], outline="black")
    for i, line in enumerate(lines):
        # each line cut to the picture's width, with an ellipsis, rather than running off its edge
        while len(line) > 1 and d.textlength(line, font=font) > W - left - 10:
            line = line[:-2].rstrip() + "…"
        d.text((left, 10 + 22 * i), line, fill="black", font=font)
    for t in nice_ticks(x0, x1, 6):
        px_t = left + (t - x0) / (x1 - x0) * w
        d.line([px_t, top + h, px_t, top + h + 5], fill="black")
        d.text((px_t, top + h + 8), _tick_text(t), fill="black", font=small, anchor="ma")
    for t in nice_ticks(y0, y1, 6):
        py_t = top + ((t - y0) / (y1 - y0) * h if y_down else h - (t - y0) / (y1 - y0) * h)
        d.line([left - 5, py_t, left, py_t], fill="black")
        d.text((left - 8, py_t), _tick_text(t), fill="black", font=small, anchor="rm")
    d.text((left + w / 2, top + h + 30), xlabel, fill="black", font=font, anchor="ma")
    ylab = Image.new("RGBA", (max(h, 10), 22), (255, 255, 255, 0))
    ImageDraw.Draw(ylab).text((ylab.width / 2, 2), ylabel, fill="black", font=font, anchor="ma")
    ylab = ylab.rotate(90, expand=True)
    canvas.paste(ylab, (4, top), ylab)
    # colour bar
    cb_x, cb_w = left + w + 20, 18
    lo, hi = clim
    ramp = np.linspace(hi, lo, h)[:, None].repeat(cb_w, axis=1)
    if log and lo > 0 and hi > 0:
        ramp = np.logspace(math.log10(hi), math.log10(lo), h)[:, None].repeat(cb_w, axis=1)
    canvas.paste(Image.fromarray(colourise(ramp, palette, clim, log=log), "RGB"), (cb_x, top))
    d.rectangle([cb_x - 1, top - 1, cb_x + cb_w, top + h], outline="black")
    if log and lo > 0 and hi > 0:
        ticks = [10.0 ** k for k in range(math.ceil(math.log10(lo)), math.floor(math.log10(hi)) + 1)] or [lo, hi]
        pos = [(math.log10(hi) - math.log10(t)) / ((math.log10(hi) - math.log10(lo)) or 1) for t in ticks]
    else:
        ticks = nice_ticks(lo, hi, 6)
        pos = [(hi - t) / ((hi - lo) or 1) for t in ticks]
    for t, p in zip(ticks, pos, strict=True):
        yy = top + p * h
        d.line([cb_x + cb_w, yy, cb_x + cb_w + 4, yy], fill="black")
        d.text((cb_x + cb_w + 6, yy), _tick_text(t), fill="black", font=small, anchor="lm")
    clab = Image.new("RGBA", (max(h, 10), 20), (255, 255, 255, 0))
    ImageDraw.Draw(clab).text((clab.width / 2, 2), clabel, fill="black", font=small, anchor="ma")
    clab = clab.rotate(270, expand=True)
    canvas.paste(clab, (W - 24, top), clab)
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


def slice_npy(data) -> bytes:
    """The slice values as a .npy file (float array, dims (y, x))."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(data.values))
    return buf.getvalue()


def _csv_cell(text: str) -> str:
    """A header cell from untrusted names: no separators, and no leading character a spreadsheet would
    run as a formula."""
    text = str(text).replace(",", "_").replace("\n", " ").replace("\r", " ")
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def slice_csv(data) -> bytes:
    """The slice (or a profile, 1-D) as long-format CSV: one row per cell with its coordinates and
    the value."""
    grids = np.meshgrid(*(np.asarray(data[d].values, dtype=float) for d in data.dims), indexing="ij")
    name = _csv_cell(data.name or "value")
    table = np.column_stack([g.ravel() for g in grids] + [np.asarray(data.values, dtype=float).ravel()])
    buf = io.StringIO()
    buf.write(",".join([*(_csv_cell(d) for d in data.dims), name]) + "\n")
    np.savetxt(buf, table, delimiter=",", fmt="%.9g")
    return buf.getvalue().encode()
