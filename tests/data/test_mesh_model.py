"""A SimPEG model vector on a discretize TensorMesh, written by `write_mesh_model`, opens on the mesh's
cells: dims (z, y, x), cell centres from the mesh, inactive (air) cells missing."""
from __future__ import annotations

import subprocess
import sys
import time

import discretize  # a test dependency: SimPEG's meshes
import numpy as np
import pytest

from hpcdash.data import open_volume, write_mesh_model
from tests.conftest import REPO


def _mesh():
    # a core of 10 m cells with padding growing by 1.3, the surface at z = 0 (SimPEG's usual mesh)
    return discretize.TensorMesh([[(10.0, 3, -1.3), (10.0, 6), (10.0, 3, 1.3)],
                                  [(10.0, 2, -1.3), (10.0, 5), (10.0, 2, 1.3)],
                                  [(10.0, 3, -1.3), (10.0, 4)]], origin="CCN")


def _truth(mesh) -> np.ndarray:
    """A value per cell, a function of its centre, in discretize's order (x fastest)."""
    c = mesh.cell_centers
    return (c[:, 0] + 1000 * c[:, 1] + 1e6 * c[:, 2]).astype(np.float64)


def test_a_model_vector_with_active_cells_opens_on_the_mesh(tmp_path):
    mesh = _mesh()
    truth = _truth(mesh)
    active = mesh.cell_centers[:, 2] < -15  # below a flat topography
    model = truth[active]
    path = tmp_path / "inversion.h5"
    write_mesh_model(path, "/model/conductivity", mesh, model, active_cells=active, units="S/m",
                     long_name="electrical conductivity", attrs={"beta": 10.0})
    with open_volume(path) as vol:
        assert vol.name == "/model/conductivity" and vol.dims == ("z", "y", "x")
        assert vol.shape == (mesh.shape_cells[2], mesh.shape_cells[1], mesh.shape_cells[0])
        for d in "xyz":
            np.testing.assert_allclose(vol.coords[d], getattr(mesh, f"cell_centers_{d}"))
            np.testing.assert_allclose(vol.edges(d), getattr(mesh, f"nodes_{d}"))
            assert vol.coord_units[d] == "m"
        assert vol.units == "S/m" and vol.attrs["beta"] == 10.0
        cube = np.stack([vol.slice("z", k).transpose("y", "x").values for k in range(vol.shape[0])])
    # each cell holds its own value, and the air is missing
    expected = np.where(active, truth, np.nan).reshape(mesh.shape_cells, order="F").transpose(2, 1, 0)
    np.testing.assert_allclose(cube, expected)
    zc = mesh.cell_centers_z
    assert (zc < -15).sum() == 5 and (zc >= -15).sum() == 2  # earth below, air above
    assert np.isnan(cube[zc >= -15]).all() and np.isfinite(cube[zc < -15]).all()
    # the same with the active cells' indices, and with the whole vector
    write_mesh_model(path, "/model/by_index", mesh, model, active_cells=np.flatnonzero(active))
    write_mesh_model(path, "/model/whole", mesh, truth)
    with open_volume(path, "/model/by_index") as a, open_volume(path, "/model/whole") as b:
        np.testing.assert_allclose(a.slice("x", 4).values, expected[:, :, 4])
        np.testing.assert_allclose(b.slice("x", 4).values,
                                   truth.reshape(mesh.shape_cells, order="F").transpose(2, 1, 0)[:, :, 4])


def test_what_does_not_fit_the_mesh_is_refused_with_the_reason(tmp_path):
    mesh = _mesh()
    path = tmp_path / "bad.h5"
    with pytest.raises(ValueError, match=rf"values has shape \(7,\); the mesh takes {mesh.n_cells} values"):
        write_mesh_model(path, "/m", mesh, np.ones(7))
    active = np.zeros(mesh.n_cells, bool)
    active[:10] = True
    with pytest.raises(ValueError, match=r"one value per active cell \(10\)"):
        write_mesh_model(path, "/m", mesh, np.ones(11), active_cells=active)
    with pytest.raises(ValueError, match=rf"a mask of 5 entries; the mesh has {mesh.n_cells} cells"):
        write_mesh_model(path, "/m", mesh, np.ones(5), active_cells=np.ones(5, bool))
    with pytest.raises(ValueError, match="indices outside the mesh"):
        write_mesh_model(path, "/m", mesh, np.ones(1), active_cells=[mesh.n_cells])
    with pytest.raises(ValueError, match="a 3-D tensor mesh is needed"):
        write_mesh_model(path, "/m", discretize.TensorMesh([4, 5]), np.ones(20))
    # a cylindrical mesh has nodes_x too (radii), but not cells on a grid of x, y and z
    cyl = discretize.CylindricalMesh([4, 1, 4])
    with pytest.raises(ValueError, match="the cells of this CylindricalMesh are not the grid"):
        write_mesh_model(path, "/m", cyl, np.ones(cyl.n_cells))
    with pytest.raises(ValueError, match=r"values has shape \(8, 16, 16\); the mesh takes \d+ values in "
                                         r"discretize's cell order$"):
        write_mesh_model(path, "/m", _octree(), np.ones((8, 16, 16)))


def test_a_mesh_of_hpcdash_sim_and_complex_fields_too(tmp_path):
    from hpcdash.sim.mesh import TensorMesh

    mesh = TensorMesh.padded((4, 5, 6), 10.0, n_pad=2)
    nz, ny, nx = mesh.shape_cells
    field = (np.arange(mesh.n_cells) * (1 + 1j)).astype(np.complex64)
    write_mesh_model(tmp_path / "f.h5", "/fields/e_x", mesh, field, units="V/m")
    with open_volume(tmp_path / "f.h5", part="real") as vol:
        assert vol.shape == (nz, ny, nx) and vol.is_complex
        np.testing.assert_allclose(vol.slice("z", 1).values,
                                   np.arange(mesh.n_cells).reshape((nx, ny, nz), order="F").T[1])


def _octree():
    """SimPEG's usual 3-D mesh: an octree of 10 m cells refined around a target, coarse far from it."""
    mesh = discretize.TreeMesh([np.full(16, 10.0), np.full(16, 10.0), np.full(8, 10.0)], origin=[-80, -80, -80],
                               diagonal_balance=False)
    mesh.refine_ball(np.array([[0.0, 0.0, -30.0]]), [25.0], [mesh.max_level])
    return mesh


def test_an_octree_model_is_written_on_its_finest_grid(tmp_path):
    mesh = _octree()
    assert 100 < mesh.n_cells < 16 * 16 * 8  # fine cells near the target, coarse ones elsewhere
    truth = _truth(mesh)
    active = mesh.cell_centers[:, 2] < -20
    write_mesh_model(tmp_path / "tree.h5", "/model/conductivity", mesh, truth[active], active_cells=active,
                     units="S/m")
    # expected: each octree cell's value over the fine cells it covers (from its bounds)
    expected = np.full((8, 16, 16), np.nan)
    for value, on, (x0, x1, y0, y1, z0, z1) in zip(truth, active, mesh.cell_bounds, strict=True):
        k0, k1 = np.searchsorted(mesh.nodes_z, [z0, z1])
        j0, j1 = np.searchsorted(mesh.nodes_y, [y0, y1])
        i0, i1 = np.searchsorted(mesh.nodes_x, [x0, x1])
        expected[k0:k1, j0:j1, i0:i1] = value if on else np.nan
    with open_volume(tmp_path / "tree.h5") as vol:
        assert vol.shape == (8, 16, 16) and vol.dims == ("z", "y", "x")
        np.testing.assert_allclose(vol.coords["z"], (mesh.nodes_z[:-1] + mesh.nodes_z[1:]) / 2)
        cube = np.stack([vol.slice("z", k).values for k in range(8)])
        # written one z level at a time, with the range of all of them (the explorer's cheap volume range)
        assert vol.value_range() == pytest.approx((np.nanmin(expected), np.nanmax(expected)))
    np.testing.assert_allclose(cube, expected)
    assert np.isnan(cube).any() and len(np.unique(cube[np.isfinite(cube)])) == int(active.sum())


def test_an_inversion_appends_each_iteration_and_the_explorer_shows_the_newest(tmp_path):
    import xarray as xr

    from hpcdash.data import append_mesh_model
    from hpcdash.explorer.state import SliceState

    mesh = _mesh()
    truth = _truth(mesh)
    active = mesh.cell_centers[:, 2] < -15
    path = tmp_path / "inversion.h5"

    def model(it: int) -> np.ndarray:
        return truth[active] * (1 + it / 10)

    def cube(it: int) -> np.ndarray:
        return np.where(active, truth * (1 + it / 10), np.nan).reshape(mesh.shape_cells, order="F").transpose(2, 1, 0)

    for it in range(3):
        assert append_mesh_model(path, "/model/conductivity", mesh, model(it), step=it, active_cells=active,
                                 units="S/m", attrs={"beta": 10.0 / (it + 1)}) == it + 1
    with open_volume(path) as vol:
        assert vol.dims == ("iteration", "z", "y", "x") and vol.shape[0] == 3
        np.testing.assert_array_equal(vol.coords["iteration"], [0, 1, 2])
        for it in range(3):
            np.testing.assert_allclose(vol.slice("z", 5, iteration=it).values, cube(it)[5])
        every = np.stack([cube(it) for it in range(3)])  # the range of all steps, kept as they come
        assert vol.value_range() == pytest.approx((np.nanmin(every), np.nanmax(every)))
        assert vol.attrs["beta"] == pytest.approx(10.0 / 3)  # the newest step's attributes
    # what netCDF readers see: the steps along an unlimited dimension with its coordinate
    with xr.open_dataset(path, engine="h5netcdf", group="model") as ds:
        assert ds["conductivity"].dims == ("iteration", "z", "y", "x")
        np.testing.assert_allclose(ds["conductivity"].isel(iteration=2).values, cube(2))

    pane = SliceState(str(path))
    assert pane.axis == "z" and pane.held == {"iteration": 2}  # the newest iteration
    # the inversion goes on in its own process (a batch job) while the pane shows the file
    assert _append_elsewhere(path, 3) == 4
    assert pane.reload()
    assert pane.held == {"iteration": 3}  # Reload: still the newest
    np.testing.assert_allclose(np.sort(pane.data.values[np.isfinite(pane.data.values)]),
                               np.sort(cube(3)[pane.index][np.isfinite(cube(3)[pane.index])]))
    # Follow: the next iteration comes into view by itself once the file is quiet
    pane.follow = True
    assert _append_elsewhere(path, 4) == 5
    assert pane.check_changed()
    deadline = time.monotonic() + 10
    while not pane.follow_changes():
        assert time.monotonic() < deadline, "Follow did not open the file again"
        time.sleep(0.2)
    assert pane.held == {"iteration": 4} and not pane.changed and pane.error == ""
    assert pane.to_query()["follow"] == "1"
    pane.close()

    with pytest.raises(ValueError, match=r"has shape \(5, 7, 9, 12\); a step on this mesh is \(2, 2, 2\)"):
        append_mesh_model(path, "/model/conductivity", discretize.TensorMesh([2, 2, 2]), np.ones(8))


def _append_elsewhere(path, step: int) -> int:
    """Iteration `step` of the test inversion (`_truth` * (1 + step / 10)), appended by another process."""
    code = ("import sys; sys.path.insert(0, sys.argv[2]); from tests.data.test_mesh_model import _mesh, _truth; "
            "from hpcdash.data import append_mesh_model; m = _mesh(); a = m.cell_centers[:, 2] < -15; "
            "print(append_mesh_model(sys.argv[1], '/model/conductivity', m, _truth(m)[a] * (1 + int(sys.argv[3]) / 10), "
            "step=int(sys.argv[3]), active_cells=a))")
    done = subprocess.run([sys.executable, "-c", code, str(path), str(REPO), str(step)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def test_an_inversion_keeps_its_misfit_per_iteration_beside_the_model(tmp_path):
    """`history`: a 1-D dataset per figure along the iteration scale, NaN for a step that did not give it;
    `Volume.series` reads them back, xarray reads them as variables of the run, the pane as its history
    (read again with the file: another process appends while it is shown)."""
    import xarray as xr

    from hpcdash.data import append_mesh_model
    from hpcdash.explorer.state import SliceState

    mesh = _mesh()
    path = tmp_path / "inversion.h5"
    figures = [{"phi_d": 900.0, "beta": 100.0}, {"phi_d": 120.0}, {"phi_d": 30.0, "beta": 25.0}]
    for it, h in enumerate(figures, 1):
        append_mesh_model(path, "/model/conductivity", mesh, _truth(mesh) * it, step=it, history=h)
    with open_volume(path) as vol:
        series = vol.series("iteration")
        assert set(series) == {"phi_d", "beta"} and vol.series("z") == {}
        np.testing.assert_array_equal(series["phi_d"].values, [900.0, 120.0, 30.0])
        np.testing.assert_array_equal(series["beta"].values, [100.0, np.nan, 25.0])
        np.testing.assert_array_equal(series["phi_d"]["iteration"].values, [1, 2, 3])
    with xr.open_dataset(path, engine="h5netcdf", group="model") as ds:
        assert ds["phi_d"].dims == ("iteration",)
        np.testing.assert_array_equal(ds["phi_d"].values, [900.0, 120.0, 30.0])
    pane = SliceState(str(path))
    assert list(pane.history) == ["iteration"]
    np.testing.assert_array_equal(pane.history["iteration"]["phi_d"].values, [900.0, 120.0, 30.0])
    code = ("import sys; sys.path.insert(0, sys.argv[2]); from tests.data.test_mesh_model import _mesh, _truth; "
            "from hpcdash.data import append_mesh_model; m = _mesh(); "
            "append_mesh_model(sys.argv[1], '/model/conductivity', m, _truth(m) * 4, step=4, history={'phi_d': 9.5})")
    done = subprocess.run([sys.executable, "-c", code, str(path), str(REPO)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert pane.reload()
    np.testing.assert_array_equal(pane.history["iteration"]["phi_d"].values, [900.0, 120.0, 30.0, 9.5])
    np.testing.assert_array_equal(pane.history["iteration"]["beta"].values, [100.0, np.nan, 25.0, np.nan])
    pane.close()
    # a figure may not take the model's or a coordinate's name, nor another dataset's; refused before
    # the step is written
    for bad in ("conductivity", "z", "iteration", "a/b", "x_bnds", ""):
        with pytest.raises(ValueError, match="cannot name a history figure"):
            append_mesh_model(path, "/model/conductivity", mesh, _truth(mesh), history={bad: 1.0})
    with open_volume(path) as vol:
        assert vol.shape[0] == 4
