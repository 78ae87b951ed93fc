"""Demo and benchmark data: recovered conductivity models of one survey, and a large volume.

:func:`write_demo_runs` writes the kind of files a geophysical inversion leaves behind: the
recovered conductivity model of one DC-resistivity survey at several regularisation weights (beta),
on a padded tensor mesh. The "recovery" is emulated (no inversion runs): the true model is blurred
more, and its contrasts damped more, as beta grows and with depth (where DC data resolve less),
then a little correlated noise is added. Each run takes well under a second to make and write.

:func:`write_big_volume` writes a large float32 volume (1024^3 = 4 GiB by default) slab by slab,
from a field made of 1-D profiles broadcast together plus a few separable anomalies, so making it
costs little more than writing it and memory stays at about one slab of chunks.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from scipy import ndimage

from hpcdash.sim.mesh import TensorMesh

SURVEY = "Copper Ridge pole-dipole DC survey (synthetic)"
BACKGROUND_LOG10 = -2.0  # log10(S/m), 100 ohm-m host rock


def demo_mesh(
    shape: Sequence[int] = (128, 128, 128), core_width: float = 10.0, factor: float = 1.25
) -> TensorMesh:
    """A padded tensor mesh of ``shape = (nz, ny, nx)`` cells in total: a uniform core of
    ``core_width`` metres with about 10 % of the cells (at most 12 per side) as geometric padding."""
    nz, ny, nx = (int(n) for n in shape)
    if min(nz, ny, nx) < 8:
        raise ValueError("the demo mesh needs at least 8 cells per axis")
    pad_xy = min(12, max(1, min(nx, ny) // 10))
    pad_z = min(12, max(1, nz // 10))
    npad = (pad_xy, pad_xy, pad_z)
    core = (nx - 2 * pad_xy, ny - 2 * pad_xy, nz - pad_z)
    # x and y may differ in size: build with a common pad count, then the core shape per axis
    return TensorMesh.padded(core, core_width, npad, factor)


def true_model(mesh: TensorMesh) -> np.ndarray:
    """log10 conductivity (log10 S/m), shape (nz, ny, nx): a 100 ohm-m host under a conductive
    weathered layer, a dipping conductive ore body, a resistive intrusion and a thin vertical dyke."""
    z, y, x = mesh.cell_grid()
    shape = mesh.shape_cells
    (x0, x1), (y0, y1) = mesh.bounds()["x"], mesh.bounds()["y"]
    core_x = mesh.centers("x")[mesh.core[2]] if mesh.core else mesh.centers("x")
    core_y = mesh.centers("y")[mesh.core[1]] if mesh.core else mesh.centers("y")
    core_z = mesh.centers("z")[mesh.core[0]] if mesh.core else mesh.centers("z")
    lx = core_x[-1] - core_x[0]
    ly = core_y[-1] - core_y[0]
    depth = -core_z[0]
    m = np.full(shape, BACKGROUND_LOG10, dtype=np.float64)
    # weathered layer, thickness varying gently along x and y
    thickness = 0.04 * depth * (1.0 + 0.5 * np.sin(2 * np.pi * x / lx) * np.cos(np.pi * y / ly))
    m = np.where(z > -thickness, -1.3, m)
    # dipping conductive slab (45 degrees towards +x), 0.3 S/m
    d = (x + 0.1 * lx) + (z + 0.15 * depth)  # distance along the dip-normal, unnormalised
    slab = (np.abs(d) < 0.06 * lx) & (np.abs(y) < 0.2 * ly) & (z < -0.08 * depth) & (z > -0.55 * depth)
    m = np.where(slab, -0.5, m)
    # resistive intrusion: an ellipsoid, 10 000 ohm-m
    ell = (
        ((x - 0.22 * lx) / (0.14 * lx)) ** 2
        + ((y + 0.1 * ly) / (0.18 * ly)) ** 2
        + ((z + 0.35 * depth) / (0.15 * depth)) ** 2
    )
    m = np.where(ell < 1.0, -4.0, m)
    # thin vertical conductive dyke striking along y
    dyke = (np.abs(x - 0.02 * lx) < 0.015 * lx) & (y > -0.05 * ly) & (z < -0.05 * depth) & (z > -0.8 * depth)
    m = np.where(dyke, -1.0, m)
    del x0, x1, y0, y1
    return np.ascontiguousarray(m)


def recovered_model(mesh: TensorMesh, truth: np.ndarray, beta: float, seed: int = 0) -> np.ndarray:
    """An emulated inversion result for regularisation weight ``beta``: the contrast to the host is
    damped and blurred more for larger beta and with depth, plus correlated noise (log10 S/m)."""
    rng = np.random.default_rng(seed)
    contrast = (truth - BACKGROUND_LOG10).astype(np.float32)
    strength = float(np.clip(np.log10(beta), 0.0, 4.0))  # 0 (beta 1) .. 4 (beta 1e4)
    shallow = ndimage.gaussian_filter(contrast, sigma=0.8 + 0.6 * strength, mode="nearest")
    deep = ndimage.gaussian_filter(
        contrast, sigma=(2.0 + 1.2 * strength, 3.0 + 1.5 * strength, 3.0 + 1.5 * strength), mode="nearest"
    )
    z = mesh.centers("z")
    w = np.clip(-z / max(-z[mesh.core[0]][0] if mesh.core else -z[0], 1.0), 0.0, 1.0)
    w = w.astype(np.float32)[:, None, None]
    damp = 1.0 / (1.0 + 0.25 * strength)
    rec = damp * ((1.0 - w) * shallow + w * deep * (1.0 - 0.4 * w))
    noise = ndimage.gaussian_filter(rng.standard_normal(truth.shape, dtype=np.float32), 1.5)
    noise *= 0.05 / max(float(noise.std()), 1e-12) / (1.0 + strength)
    rec += noise
    return (BACKGROUND_LOG10 + rec).astype(np.float32)


def write_demo_runs(
    out_dir: str | os.PathLike,
    n_runs: int = 3,
    shape: Sequence[int] = (128, 128, 128),
    *,
    chunks: Sequence[int] = (32, 32, 32),
    betas: Sequence[float] | None = None,
    include_true: bool = False,
) -> list[Path]:
    """Write ``n_runs`` recovered conductivity models of one survey, one HDF5 file per regularisation
    weight beta (default: log-spaced from 10 to 10^3.5), to ``out_dir``; return their paths.

    Each file ``inversion_beta_<beta>.h5`` holds ``/model/log10_conductivity`` (log10(S/m), the default
    dataset) and ``/model/conductivity`` (S/m) on a padded tensor mesh of ``shape = (nz, ny, nx)``
    cells (dims z, y, x in metres, z up, surface at 0), chunked by ``chunks``, with attributes
    survey, beta, phi_d (data misfit), phi_d_target, iteration, n_data, regularisation.
    ``include_true`` also writes ``true_model.h5`` (appended to the returned list).
    Files are written atomically (hidden temporary file, then rename).
    """
    if n_runs < 1:
        raise ValueError("n_runs must be at least 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mesh = demo_mesh(shape)
    truth = true_model(mesh)
    if betas is None:
        betas = np.logspace(1.0, 3.5, n_runs) if n_runs > 1 else [100.0]
    betas = [float(b) for b in betas]
    n_data = 1240
    paths = []
    for i, beta in enumerate(betas):
        rec = recovered_model(mesh, truth, beta, seed=i)
        strength = np.log10(beta)
        attrs = {
            "survey": SURVEY,
            "beta": beta,
            "phi_d": round(n_data * (0.45 + 0.18 * strength**1.6), 1),
            "phi_d_target": float(n_data),
            "phi_m": round(3.2e4 / (1.0 + strength) ** 2, 1),
            "iteration": int(round(14 - 2.5 * strength)),
            "n_data": n_data,
            "regularisation": "smoothness (alpha_s=1e-4, alpha_x=alpha_y=alpha_z=1), reference 0.01 S/m",
            "model_kind": "recovered",
        }
        # no "+" in the name (3.16e3, not 3.16e+03): in a hand-written link's query "+" reads as a space
        path = out / f"inversion_beta_{beta:.3g}.h5".replace("e+0", "e").replace("e+", "e")
        paths.append(_write_model(path, mesh, rec, attrs, chunks))
    if include_true:
        attrs = {"survey": SURVEY, "model_kind": "true"}
        paths.append(_write_model(out / "true_model.h5", mesh, truth.astype(np.float32), attrs, chunks))
    return paths


def _write_model(path: Path, mesh: TensorMesh, log10_sigma: np.ndarray, attrs: dict, chunks) -> Path:
    import h5py

    from hpcdash.data import write_mesh_model
    from hpcdash.sim.sweep import atomic_path

    chunks = tuple(min(int(c), n) for c, n in zip(chunks, log10_sigma.shape, strict=True))
    with atomic_path(path) as tmp:
        write_mesh_model(tmp, "/model/log10_conductivity", mesh, log10_sigma, attrs=attrs, units="log10(S/m)",
                         long_name="log10 electrical conductivity", chunks=chunks)
        write_mesh_model(tmp, "/model/conductivity", mesh, np.power(10.0, log10_sigma, dtype=np.float32),
                         attrs=attrs, units="S/m", long_name="electrical conductivity", chunks=chunks)
        with h5py.File(tmp, "a") as f:
            f.attrs.update(attrs)
            f.attrs["title"] = f"{attrs['survey']}: {attrs['model_kind']} model"
            f.attrs["creator"] = "hpcdash.sim.demo"
    return path


def big_field_profiles(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1-D profiles (float32) whose broadcast sum is the big volume's background field."""
    t = np.linspace(0.0, 1.0, n, dtype=np.float32)
    fz = -2.0 - 1.5 * t + 0.3 * np.sin(2 * np.pi * 6 * t)  # layered, decreasing with depth index
    fy = 0.25 * np.sin(2 * np.pi * 3 * t) + 0.1 * np.cos(2 * np.pi * 11 * t)
    fx = 0.2 * np.cos(2 * np.pi * 2 * t) + 0.08 * np.sin(2 * np.pi * 17 * t)
    return fz.astype(np.float32), fy.astype(np.float32), fx.astype(np.float32)


# separable Gaussian anomalies: (amplitude, centre (z, y, x) as fraction of n, width as fraction of n)
BIG_ANOMALIES = [
    (1.5, (0.3, 0.35, 0.4), (0.06, 0.1, 0.08)),
    (-1.2, (0.55, 0.7, 0.65), (0.08, 0.07, 0.1)),
    (1.0, (0.75, 0.3, 0.75), (0.05, 0.12, 0.05)),
]


def _shuffle_deflate(chunk: np.ndarray, level: int) -> bytes:
    """A chunk as HDF5's shuffle + deflate filters store it (zlib stream of the byte-transposed data)."""
    raw = np.ascontiguousarray(chunk).view(np.uint8).reshape(-1, chunk.dtype.itemsize)
    return zlib.compress(np.ascontiguousarray(raw.T).tobytes(), level)


def _write_deflated(dset, block: np.ndarray, origin: tuple[int, int, int], chunks, level: int, pool) -> None:
    """Write ``block`` (aligned to whole chunks at ``origin``) chunk by chunk, deflating in ``pool``."""
    cz, cy, cx = chunks
    jobs = []
    for a in range(0, block.shape[0], cz):
        for b in range(0, block.shape[1], cy):
            for c in range(0, block.shape[2], cx):
                part = block[a : a + cz, b : b + cy, c : c + cx]
                if part.shape != (cz, cy, cx):  # edge chunk: HDF5 stores it full size
                    full = np.zeros((cz, cy, cx), dtype=block.dtype)
                    full[: part.shape[0], : part.shape[1], : part.shape[2]] = part
                    part = full
                offset = (origin[0] + a, origin[1] + b, origin[2] + c)
                jobs.append((offset, pool.submit(_shuffle_deflate, part, level)))
    for offset, job in jobs:
        dset.id.write_direct_chunk(offset, job.result(), filter_mask=0)


def write_big_volume(
    path: str | os.PathLike,
    n: int = 1024,
    chunks: Sequence[int] = (64, 64, 64),
    compression: str | None = None,
    *,
    cell_size: float = 10.0,
    block_bytes: int = 64 * 2**20,
) -> Path:
    """Write an ``n^3`` float32 volume (1024^3 = 4 GiB) to ``path`` for benchmarks; return ``path``.

    Dataset ``/volume/log10_conductivity`` (log10(S/m)), dims z, y, x with uniform ``cell_size``
    metre cells below the surface (units m), chunked ``chunks``, ``compression`` as in
    :func:`hpcdash.write_volume` (None, "gzip", "blosc", ...). The file follows write_volume's
    conventions (dimension scales, CF ``units``/``long_name``/``actual_range``, NeXus NXdata as the
    file's default). Data go out in blocks of whole chunks of about ``block_bytes`` (64 MiB), so
    memory stays near one block; the file appears atomically when complete. Measured here (2 shared
    cores, load 3-6): 1024^3 uncompressed 16.6-24.4 s at 244 MB peak RSS; gzip (level 4 + shuffle,
    chunks deflated on up to 4 threads) 96 s, 1.72 GB on disk, 277 MB peak RSS.
    """
    # write_volume takes the whole array at once; a 4 GiB volume is streamed into the empty dataset
    # that create_volume lays out with the same conventions (scales, CF, NXdata, default chain)
    from hpcdash.data.write import compression_kwargs, create_volume
    from hpcdash.sim.sweep import atomic_path

    n = int(n)
    chunks = tuple(max(1, min(int(c), n)) for c in chunks)
    if len(chunks) != 3:
        raise ValueError("chunks must have three entries (z, y, x)")
    cz, cy, _ = chunks
    rows = max(1, block_bytes // (cz * n * 4) // cy) * cy  # y extent of a block, whole chunks
    rows = min(rows, n)
    fz, fy, fx = big_field_profiles(n)
    fyx = fy[:, None] + fx[None, :]  # n x n, 4 MiB for n = 1024
    anomalies = []
    for amp, centre, width in BIG_ANOMALIES:
        lo = [max(0, int((c - 4 * w) * n)) for c, w in zip(centre, width, strict=True)]
        hi = [min(n, int(np.ceil((c + 4 * w) * n))) for c, w in zip(centre, width, strict=True)]
        idx = np.arange(n, dtype=np.float32) / n
        g = [
            np.exp(-0.5 * ((idx - c) / w) ** 2).astype(np.float32) for c, w in zip(centre, width, strict=True)
        ]
        anomalies.append((amp, lo, hi, g))
    centres_z = -(n - np.arange(n) - 0.5) * cell_size  # bottom first, top cell just below z = 0
    centres_xy = (np.arange(n) - n / 2 + 0.5) * cell_size
    coords = {"z": centres_z, "y": centres_xy, "x": centres_xy}
    vmin, vmax = np.inf, -np.inf
    buf = np.empty((cz, rows, n), dtype=np.float32)
    kwargs = compression_kwargs(compression)
    # gzip (+shuffle) chunks are deflated on all cores and written with write_direct_chunk:
    # h5py's own filter pipeline deflates one chunk at a time in one thread
    deflate = None
    if kwargs.get("compression") == "gzip" and kwargs.get("shuffle"):
        deflate = int(kwargs.get("compression_opts", 4))
    pool = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) if deflate else None
    with contextlib.ExitStack() as stack, atomic_path(path) as tmp, create_volume(
        tmp, "/volume/log10_conductivity", (n, n, n), "f4", coords,
        units="log10(S/m)", long_name="log10 electrical conductivity",
        coord_units={"z": "m", "y": "m", "x": "m"}, chunks=chunks, compression=compression, mode="w",
    ) as dset:
        if pool is not None:
            stack.enter_context(pool)
        for z0 in range(0, n, cz):
            z1 = min(n, z0 + cz)
            for y0 in range(0, n, rows):
                y1 = min(n, y0 + rows)
                block = buf[: z1 - z0, : y1 - y0]
                np.add(fz[z0:z1, None, None], fyx[None, y0:y1], out=block)
                for amp, lo, hi, (gz, gy, gx) in anomalies:
                    a0, a1 = max(z0, lo[0]), min(z1, hi[0])
                    b0, b1 = max(y0, lo[1]), min(y1, hi[1])
                    if a0 >= a1 or b0 >= b1:
                        continue
                    sub = block[a0 - z0 : a1 - z0, b0 - y0 : b1 - y0, lo[2] : hi[2]]
                    sub += (amp * gz[a0:a1, None, None]) * (gy[b0:b1, None] * gx[None, lo[2] : hi[2]])
                vmin = min(vmin, float(block.min()))
                vmax = max(vmax, float(block.max()))
                if deflate is None:
                    dset[z0:z1, y0:y1, :] = block
                else:
                    _write_deflated(dset, block, (z0, y0, 0), chunks, deflate, pool)
        dset.attrs["actual_range"] = np.array([vmin, vmax], dtype=np.float64)
        dset.attrs["description"] = (
            "synthetic benchmark volume: layered profiles plus three Gaussian anomalies"
        )
        dset.file.attrs["title"] = f"hpcdash benchmark volume {n}^3 float32"
        dset.file.attrs["creator"] = "hpcdash.sim.demo.write_big_volume"
    return Path(path)
