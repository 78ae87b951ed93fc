"""Geometry of the tensor mesh: padding, centres, nodes, volumes."""

import numpy as np
import pytest

from hpcdash.sim import TensorMesh


def test_padded_mesh_core_is_uniform_and_padding_grows_geometrically():
    mesh = TensorMesh.padded((10, 8, 6), 5.0, n_pad=4, factor=1.5)
    nz, ny, nx = mesh.shape_cells
    assert (nz, ny, nx) == (6 + 4, 8 + 8, 10 + 8)
    assert mesh.n_cells == nx * ny * nz
    # x: padding on both sides, symmetric, ratio 1.5 outward, core uniform
    np.testing.assert_allclose(mesh.hx[4:14], 5.0)
    right = mesh.hx[14:]
    np.testing.assert_allclose(right, 5.0 * 1.5 ** np.arange(1, 5))
    np.testing.assert_allclose(right[1:] / right[:-1], 1.5)
    np.testing.assert_allclose(mesh.hx[:4], right[::-1])
    # z: padding below only, the core touches the surface
    np.testing.assert_allclose(mesh.hz[-6:], 5.0)
    np.testing.assert_allclose(mesh.hz[:4], 5.0 * 1.5 ** np.arange(4, 0, -1))


def test_surface_is_z0_and_core_centred():
    mesh = TensorMesh.padded((10, 8, 6), 5.0, n_pad=4, factor=1.3, center_xy=(100.0, -50.0))
    assert mesh.nodes_z[-1] == 0.0
    assert np.all(mesh.cell_centers_z < 0)
    core_x = mesh.cell_centers_x[mesh.core[2]]
    core_y = mesh.cell_centers_y[mesh.core[1]]
    assert core_x.mean() == pytest.approx(100.0)
    assert core_y.mean() == pytest.approx(-50.0)
    assert mesh.nodes_x[0] == pytest.approx(100.0 - 25.0 - mesh.hx[:4].sum())
    # core slices select exactly the uniform cells
    np.testing.assert_allclose(mesh.hz[mesh.core[0]], 5.0)
    assert mesh.core_mask().sum() == 10 * 8 * 6


def test_centres_nodes_volumes_consistent():
    mesh = TensorMesh([1.0, 2.0, 4.0], [3.0, 3.0], [0.5, 1.5, 1.0, 2.0], origin=(-1.0, 10.0, -5.0))
    np.testing.assert_allclose(mesh.nodes_x, [-1.0, 0.0, 2.0, 6.0])
    np.testing.assert_allclose(mesh.cell_centers_x, [-0.5, 1.0, 4.0])
    np.testing.assert_allclose(mesh.nodes_z, [-5.0, -4.5, -3.0, -2.0, 0.0])
    for axis, h in zip("xyz", mesh.h, strict=True):
        nodes, centres = mesh.nodes(axis), mesh.centers(axis)
        assert nodes.size == h.size + 1 and centres.size == h.size
        np.testing.assert_allclose(np.diff(nodes), h)
        assert np.all((centres > nodes[:-1]) & (centres < nodes[1:]))
    assert mesh.shape_cells == (4, 2, 3)
    vol = mesh.cell_volumes
    assert vol.shape == (4, 2, 3)
    assert vol.sum() == pytest.approx(7.0 * 6.0 * 5.0)
    assert vol[3, 1, 2] == pytest.approx(2.0 * 3.0 * 4.0)
    assert list(mesh.coords) == ["z", "y", "x"]
    np.testing.assert_allclose(mesh.edges["z"], mesh.nodes_z)


@pytest.mark.parametrize("h", [[], [1.0, -1.0], [0.0], [[1.0, 2.0]], [np.nan]])
def test_bad_widths_are_refused(h):
    with pytest.raises(ValueError):
        TensorMesh(h, [1.0], [1.0])


def test_padding_factor_below_one_refused():
    with pytest.raises(ValueError):
        TensorMesh.padded((4, 4, 4), 1.0, 2, factor=0.9)


def test_sim_package_imports_no_ui_libraries():
    """hpcdash.sim runs in batch jobs and Dask workers: no Panel, HoloViews or Bokeh."""
    import subprocess
    import sys

    code = (
        "import sys, hpcdash.sim as s\n"
        "[getattr(s, n) for n in s.__all__]\n"
        "import hpcdash.sim.bench\n"
        "bad = sorted(m for m in ('panel', 'holoviews', 'bokeh', 'datashader') if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
