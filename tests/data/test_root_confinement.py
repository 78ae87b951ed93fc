"""Data stored in another file must not let a file inside the root read one outside it."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from hpcdash.data import PathOutsideRootError, find_volumes, open_volume


@pytest.fixture
def layout(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "secret"
    root.mkdir()
    outside.mkdir()
    secret = np.arange(48, dtype="f4").reshape(4, 12)
    with h5py.File(outside / "secret.h5", "w") as f:
        f["data"] = secret
    (outside / "raw.bin").write_bytes(secret.tobytes())
    with h5py.File(root / "inside.h5", "w") as f:
        f["data"] = secret + 100
    return root, outside, secret


def test_external_link_out_of_root_is_refused(layout):
    root, outside, secret = layout
    path = root / "linked.h5"
    with h5py.File(path, "w") as f:
        f["own"] = np.ones((3, 5), "f4")
        f["leak"] = h5py.ExternalLink(str(outside / "secret.h5"), "/data")
        f["ok"] = h5py.ExternalLink("inside.h5", "/data")
    names = [v.name for v in find_volumes(path, root=root)]
    assert "/leak" not in names and {"/own", "/ok"} <= set(names)
    with pytest.raises(PathOutsideRootError, match="outside the allowed folder"):
        open_volume(path, "/leak", root=root)
    with open_volume(path, "/ok", root=root) as vol:
        assert float(vol.slice(0, 0).values.flat[0]) == 100.0
    # without a root (a notebook user's own files) the link is followed as HDF5 does
    with open_volume(path, "/leak") as vol:
        np.testing.assert_array_equal(vol.slice(0, 1).values, secret)


def test_external_storage_out_of_root_is_refused(layout):
    root, outside, secret = layout
    path = root / "ext.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("raw", shape=secret.shape, dtype="f4",
                         external=[(str(outside / "raw.bin"), 0, secret.nbytes)])
    assert find_volumes(path) and not _names(path, root)
    with pytest.raises(PathOutsideRootError):
        open_volume(path, "/raw", root=root)


def test_virtual_dataset_out_of_root_is_refused(layout):
    root, outside, secret = layout
    path = root / "vds.h5"
    layout_ = h5py.VirtualLayout(shape=secret.shape, dtype="f4")
    layout_[:] = h5py.VirtualSource(str(outside / "secret.h5"), "data", shape=secret.shape)
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("virt", layout_)
    with pytest.raises(PathOutsideRootError):
        open_volume(path, "/virt", root=root)
    with open_volume(path, "/virt") as vol:
        np.testing.assert_array_equal(vol.slice(0, 0).values, secret)


def _names(path, root):
    try:
        return [v.name for v in find_volumes(path, root=root)]
    except Exception:
        return []


@pytest.mark.parametrize("kind", ["external", "virtual"])
def test_relative_names_found_through_hdf5_prefix_variables_are_refused(layout, monkeypatch, kind):
    """HDF5 looks for relative external-storage and virtual-source names below the folders of
    HDF5_EXTFILE_PREFIX / HDF5_VDS_PREFIX first: a folder outside the root there must not leak."""
    root, outside, secret = layout
    path = root / f"{kind}_relative.h5"
    with h5py.File(path, "w") as f:
        if kind == "external":  # "raw.bin" exists only outside the root
            f.create_dataset("v", shape=secret.shape, dtype="f4", external=[("raw.bin", 0, secret.nbytes)])
        else:
            vl = h5py.VirtualLayout(shape=secret.shape, dtype="f4")
            vl[:] = h5py.VirtualSource("secret.h5", "data", shape=secret.shape)
            f.create_virtual_dataset("v", vl)
    variable = "HDF5_EXTFILE_PREFIX" if kind == "external" else "HDF5_VDS_PREFIX"
    monkeypatch.setenv(variable, str(outside))
    # no root: HDF5 really reads the outside file through HDF5_VDS_PREFIX (it did not follow an
    # HDF5_EXTFILE_PREFIX set after start in this build; the check refuses both either way)
    if kind == "virtual":
        with open_volume(path, "/v") as vol:
            np.testing.assert_array_equal(vol.slice(0, 1).values, secret)
    with pytest.raises(PathOutsideRootError):
        open_volume(path, "/v", root=root)
    assert "/v" not in _names(path, root)
    monkeypatch.delenv(variable)
    open_volume(path, "/v", root=root).close()  # the name resolves inside the root: allowed


def test_external_link_out_of_root_is_not_even_opened(layout):
    """An external link that can only lead outside the root is refused before HDF5 opens its file.
    The target here is a named pipe: opening it for reading would block, so a run that opened it
    would not finish in time."""
    import os
    import subprocess
    import sys

    root, outside, _ = layout
    os.mkfifo(outside / "pipe.h5")
    path = root / "pipe_link.h5"
    with h5py.File(path, "w") as f:
        f["own"] = np.ones((3, 5), "f4")
        f["leak"] = h5py.ExternalLink(str(outside / "pipe.h5"), "/data")
        f["via"] = h5py.ExternalLink("../secret/pipe.h5", "/")
        # a NeXus default chain whose signal is such a link
        f.attrs["default"] = "nx"
        nx = f.create_group("nx")
        nx.attrs.update({"NX_class": "NXdata", "signal": "sig"})
        nx["sig"] = h5py.ExternalLink(str(outside / "pipe.h5"), "/data")
    code = ("import sys\n"
            "from hpcdash.data import PathOutsideRootError, find_volumes, open_volume\n"
            "path, root = sys.argv[1:]\n"
            "print(sorted(v.name for v in find_volumes(path, root=root)))\n"
            "for name in ('/leak', '/via/data'):\n"
            "    try:\n"
            "        open_volume(path, name, root=root)\n"
            "    except PathOutsideRootError as e:\n"
            "        print('refused', name, 'outside the allowed folder' in str(e))\n"
            "try:\n"
            "    open_volume(path, '/nx', root=root)\n"
            "except PathOutsideRootError as e:\n"
            "    print('refused /nx', \"'/nx/sig'\" in str(e))\n")
    run = subprocess.run([sys.executable, "-c", code, str(path), str(root)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["['/own']", "refused /leak True", "refused /via/data True", "refused /nx True"]
