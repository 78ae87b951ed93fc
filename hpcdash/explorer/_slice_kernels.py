"""Compiled loops over one slice: the whole-slice mean (:func:`hpcdash.explorer.views.whole_slice_mean`)
and the finite-value summary (:meth:`hpcdash.explorer.state.SliceStats.of`), alone or both in one
pass. Module level, so that Numba's disk cache finds them again in the next process. Each is one call without the GIL: a reading
thread that gives the GIL away waits to get it back while the UI thread runs Python (up to the
interpreter's 5 ms switch interval), so one release beats several.

Measured on 2 cores with four linked 512^3 panes (server time per linked step against one pane) and
not adopted: reading a step's panes one after another in one thread, with or without a second thread
resampling the slices already read (2.0-2.4x, against 1.7-2.1x with a thread per pane); a parallel
version of the mean kernel taken by one pane at a time (no change); a shorter interpreter switch
interval, 0.5-1 ms (one pane faster, four slower); reading without releasing the GIL (no change).
"""

import numba
import numpy as np

EPS = 1e-10  # Datashader's threshold for an empty footprint (datashader.resampling._EPS)


@numba.njit(nogil=True, cache=True)
def footprints(src_n, out_n):  # pragma: no cover - compiled
    """For each output cell: first and last source cell it covers and their weights (the fraction of
    the cell inside the footprint), as Datashader's ``_downsample_2d_mean`` computes them."""
    first = np.empty(out_n, np.int64)
    last = np.empty(out_n, np.int64)
    w_first = np.empty(out_n, np.float64)
    w_last = np.empty(out_n, np.float64)
    scale = src_n / out_n
    for o in range(out_n):
        f0 = scale * o
        f1 = f0 + scale
        i0 = int(f0)
        i1 = int(f1)
        w0 = 1.0 - (f0 - i0)
        w1 = f1 - i1
        if w1 < EPS:
            w1 = 1.0
            if i1 > i0:
                i1 -= 1
        first[o], last[o], w_first[o], w_last[o] = i0, i1, w0, w1
    return first, last, w_first, w_last


@numba.njit(nogil=True, cache=True)
def _row_pass(src, y, x0, x1, wx0, wx1, vs, ws, same_width):  # pragma: no cover - compiled
    """Weighted sums of the finite values of source row ``y`` over each output column's footprint
    (``same_width``: one source column per output column, the sums are the values themselves)."""
    if same_width:
        for o in range(x0.size):
            v = src[y, o]
            if np.isfinite(v):
                vs[o] = v
                ws[o] = 1.0
            else:
                vs[o] = 0.0
                ws[o] = 0.0
        return
    for o in range(x0.size):
        a, b = x0[o], x1[o]
        s = 0.0
        w = 0.0
        v = src[y, a]
        if np.isfinite(v):
            s += wx0[o] * v
            w += wx0[o]
        for x in range(a + 1, b):
            v = src[y, x]
            if np.isfinite(v):
                s += v
                w += 1.0
        if b > a:
            v = src[y, b]
            if np.isfinite(v):
                s += wx1[o] * v
                w += wx1[o]
        vs[o] = s
        ws[o] = w


@numba.njit(nogil=True, cache=True)
def _add_to_summary(values, summary):  # pragma: no cover - compiled
    """Add the 1-D ``values`` to ``summary`` = [count, min, max, smallest positive] of finite values."""
    n = 0
    lo, hi, min_pos = summary[1], summary[2], summary[3]
    for k in range(values.size):
        v = values[k]
        if np.isfinite(v):
            n += 1
            lo = min(lo, v)
            hi = max(hi, v)
            if 0 < v < min_pos:
                min_pos = v
    summary[0] += n
    summary[1], summary[2], summary[3] = lo, hi, min_pos


@numba.njit(nogil=True, cache=True)
def _empty_summary():  # pragma: no cover - compiled
    return np.array([0.0, np.inf, -np.inf, np.inf])


@numba.njit(nogil=True, cache=True)
def downsample_mean_summary(src, out_h, out_w, fill_value, with_summary):  # pragma: no cover - compiled
    """Area-weighted mean of the finite values of ``src`` on an ``out_h x out_w`` grid (each no larger
    than the source's): rows first, then columns, each source row summed once. With ``with_summary``,
    the finite-value summary of the whole source (as :func:`finite_stats`) is taken on the same pass,
    while each row is in cache; returns (pixels, [count, min, max, smallest positive])."""
    x0, x1, wx0, wx1 = footprints(src.shape[1], out_w)
    y0, y1, wy0, wy1 = footprints(src.shape[0], out_h)
    same_width = out_w == src.shape[1]
    out = np.empty((out_h, out_w), np.float32)
    vs = np.empty(out_w, np.float64)
    ws = np.empty(out_w, np.float64)
    acc_v = np.empty(out_w, np.float64)
    acc_w = np.empty(out_w, np.float64)
    summary = _empty_summary()
    have = -1  # the source row whose sums are in vs / ws
    for o in range(out_h):
        a, b = y0[o], y1[o]
        for y in range(a, b + 1):
            if y != have:
                _row_pass(src, y, x0, x1, wx0, wx1, vs, ws, same_width)
                if with_summary:
                    _add_to_summary(src[y], summary)
                have = y
            wy = wy0[o] if y == a else (wy1[o] if y == b else 1.0)
            if y == a:
                for k in range(out_w):
                    acc_v[k] = wy * vs[k]
                    acc_w[k] = wy * ws[k]
            else:
                for k in range(out_w):
                    acc_v[k] += wy * vs[k]
                    acc_w[k] += wy * ws[k]
        for k in range(out_w):
            out[o, k] = fill_value if acc_w[k] < EPS else acc_v[k] / acc_w[k]
    return out, summary


@numba.njit(nogil=True, cache=True)
def finite_stats(values):  # pragma: no cover - compiled
    """Count, min, max and smallest positive value of the finite values of a 1-D array, in one pass
    (inf for the min and smallest positive and -inf for the max when there is none)."""
    summary = _empty_summary()
    _add_to_summary(values, summary)
    return int(summary[0]), summary[1], summary[2], summary[3]
