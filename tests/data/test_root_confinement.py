"""Data stored in another file must not let a file inside the root read one outside it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from hpcdash.data import MissingFileError, NoVolumeError, PathOutsideRootError, find_volumes, open_volume

REPO = Path(__file__).resolve().parents[2]


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
    if kind == "virtual":
        open_volume(path, "/v", root=root).close()  # the name resolves inside the root: allowed
    else:  # beside the file (or, h5py started first, below the working directory): never the secret
        with pytest.raises((MissingFileError, PathOutsideRootError)):
            open_volume(path, "/v", root=root)


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
            "from hpcdash.data import MissingFileError, NoVolumeError, PathOutsideRootError, find_volumes, open_volume\n"
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


def test_a_virtual_source_found_only_below_the_working_directory_is_refused(layout, monkeypatch):
    """HDF5 looks for a virtual source missing beside its file below the process's working directory:
    run from a folder outside the root, a file inside named a file there."""
    root, outside, secret = layout
    path = root / "virtual_cwd.h5"
    vl = h5py.VirtualLayout(shape=secret.shape, dtype="f4")
    vl[:] = h5py.VirtualSource("secret.h5", "data", shape=secret.shape)
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("v", vl, fillvalue=-1)
    monkeypatch.chdir(outside)
    with pytest.raises(PathOutsideRootError, match="outside the allowed folder"):
        open_volume(path, "/v", root=root)
    assert "/v" not in _names(path, root)
    with pytest.raises(NoVolumeError, match="'/v' reads its values from a file outside the allowed folder"):
        open_volume(path, root=root)  # the file's only dataset: the message says why there is none
    with open_volume(path, "/v") as vol:  # no root: HDF5's own search, as a notebook user has it
        np.testing.assert_array_equal(vol.slice(0, 1).values, secret)


_READ_EXTERNAL = """
import sys
first = sys.argv[1]
__import__(first)  # which starts HDF5 first: hpcdash (as its server and notebooks do) or h5py
import numpy as np
from hpcdash.data import PathOutsideRootError, open_volume
try:
    with open_volume(sys.argv[2], "/v", root=sys.argv[3]) as vol:
        print(float(np.asarray(vol.slice(0, 1).values).sum()))
except PathOutsideRootError as err:
    print("refused", err)
except Exception as err:
    print(type(err).__name__, err)
"""


def test_external_raw_files_are_read_beside_their_hdf5_file_from_any_working_directory(layout, tmp_path):
    """h5py writes raw external file names as given (relative). HDF5 takes them below the working
    directory: run from a folder outside the root, a file inside read a file there (here "raw.bin",
    the secret). With hpcdash imported first they are read beside the HDF5 file wherever it runs;
    imported after h5py, such a file is refused when the working directory is outside the root."""
    root, outside, secret = layout
    path = root / "external_cwd.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("v", shape=secret.shape, dtype="f4", external=[("raw.bin", 0, secret.nbytes)])
    (root / "raw.bin").write_bytes((secret + 1000).tobytes())
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HDF5_EXTFILE_PREFIX", None)

    def run(first: str) -> str:
        out = subprocess.run([sys.executable, "-c", _READ_EXTERNAL, first, str(path), str(root)], cwd=outside,
                             env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert run("hpcdash") == str(float((secret + 1000).sum()))  # beside the file, not the secret
    assert run("h5py").startswith("refused")
    (root / "raw.bin").unlink()
    assert "keeps its values in the raw file 'raw.bin', which is not there" in run("hpcdash")


def test_a_virtual_dataset_says_which_sources_are_missing(tmp_path):
    """Two of four tiles of a virtual dataset point at a file that is not there: HDF5 reads the fill
    value in their place; the volume says which files are missing, and the pane shows it."""
    from hpcdash.explorer.state import SliceState

    tiles = np.arange(4 * 5 * 6, dtype="f4").reshape(4, 5, 6)
    vl = h5py.VirtualLayout(shape=(5, 24), dtype="f4")
    for i in range(4):
        name = f"tile{i}.h5" if i < 2 else f"gone<{i}>.h5"
        if i < 2:
            with h5py.File(tmp_path / name, "w") as f:
                f["t"] = tiles[i]
        vl[:, 6 * i:6 * (i + 1)] = h5py.VirtualSource(name, "t", shape=(5, 6))
    with h5py.File(tmp_path / "stitched.h5", "w") as f:
        f.create_virtual_dataset("v", vl, fillvalue=np.nan)
    with open_volume(tmp_path / "stitched.h5", root=tmp_path) as vol:
        assert vol.notes == ["2 source files of this virtual dataset are missing ('gone<2>.h5', 'gone<3>.h5'): "
                             "their parts show the fill value."]
    s = SliceState(str(tmp_path / "stitched.h5"), root=str(tmp_path))
    assert s.error == "" and s.notice.startswith("2 source files of this virtual dataset are missing")
    np.testing.assert_array_equal(s.data.values[:, :12], np.hstack([tiles[0], tiles[1]]))
    with open_volume(tmp_path / "tile0.h5", root=tmp_path) as vol:
        assert vol.notes == []


@pytest.mark.parametrize("inner", ["virtual", "external", "link"])
def test_a_virtual_source_inside_the_root_that_reads_outside_it_is_refused(layout, inner):
    """The virtual dataset's source file is inside the root, but its source dataset reads from outside:
    it is virtual itself, keeps raw external data there, or is an external link there. Refused however
    deep; a chain that stays inside opens."""
    root, outside, secret = layout
    middle = root / f"middle_{inner}.h5"
    with h5py.File(middle, "w") as f:
        if inner == "virtual":
            vl = h5py.VirtualLayout(shape=secret.shape, dtype="f4")
            vl[:] = h5py.VirtualSource(str(outside / "secret.h5"), "data", shape=secret.shape)
            f.create_virtual_dataset("data", vl)
        elif inner == "external":
            f.create_dataset("data", shape=secret.shape, dtype="f4",
                             external=[(str(outside / "raw.bin"), 0, secret.nbytes)])
        else:
            f["data"] = h5py.ExternalLink(str(outside / "secret.h5"), "/data")
    top = root / f"top_{inner}.h5"
    vl = h5py.VirtualLayout(shape=secret.shape, dtype="f4")
    vl[:] = h5py.VirtualSource(middle.name, "data", shape=secret.shape)
    with h5py.File(top, "w") as f:
        f.create_virtual_dataset("v", vl, fillvalue=-1)
    with pytest.raises(PathOutsideRootError, match="outside the allowed folder"):
        open_volume(top, "/v", root=root)
    assert "/v" not in _names(top, root)
    # a chain inside the root: top -> middle -> inside.h5
    with h5py.File(root / "middle_ok.h5", "w") as f:
        vl = h5py.VirtualLayout(shape=secret.shape, dtype="f4")
        vl[:] = h5py.VirtualSource("inside.h5", "data", shape=secret.shape)
        f.create_virtual_dataset("data", vl)
    vl = h5py.VirtualLayout(shape=secret.shape, dtype="f4")
    vl[:] = h5py.VirtualSource("middle_ok.h5", "data", shape=secret.shape)
    with h5py.File(root / "top_ok.h5", "w") as f:
        f.create_virtual_dataset("v", vl, fillvalue=-1)
    with open_volume(root / "top_ok.h5", "/v", root=root) as vol:
        np.testing.assert_array_equal(vol.slice(0, 1).values, secret + 100)


def test_a_volume_opened_through_a_symlink_reads_its_target_and_sees_it_re_pointed(tmp_path):
    """latest.h5 -> run_1.h5, which a job re-points to run_2.h5: the volume keeps the link's path and
    reads the file it led to when opened; the link re-pointed is a changed file (the next read says so),
    and opening the link again reads the new target. A link leading out of the root is never opened."""
    from hpcdash.data import FileChangedError

    root = tmp_path / "root"
    root.mkdir()
    for k in (1, 2):
        with h5py.File(root / f"run_{k}.h5", "w") as f:
            f["data"] = np.full((3, 4, 5), float(k))
    link = root / "latest.h5"
    link.symlink_to("run_1.h5")
    with open_volume(link, root=root) as vol:
        assert vol.path == link and vol.real_path == (root / "run_1.h5").resolve()
        assert float(vol.read_raw(0, 0).mean()) == 1.0 and not vol.changed_on_disk()
        (root / "next.h5").symlink_to("run_2.h5")
        os.replace(root / "next.h5", link)  # atomically, as a job re-points it
        assert vol.changed_on_disk()
        with pytest.raises(FileChangedError, match="'latest.h5' changed on disk"):
            vol.read_raw(0, 1)
    with open_volume(link, root=root) as vol:
        assert vol.real_path == (root / "run_2.h5").resolve() and float(vol.read_raw(0, 0).mean()) == 2.0
    (root / "out.h5").symlink_to(tmp_path / "elsewhere.h5")
    with h5py.File(tmp_path / "elsewhere.h5", "w") as f:
        f["data"] = np.zeros((3, 4, 5))
    for call in (find_volumes, open_volume):
        with pytest.raises(PathOutsideRootError, match="'out.h5' is outside the root folder"):
            call(root / "out.h5", root=root)
