"""Every bad input raises a VolumeError subclass with a clear sentence, never a crash."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from hpcdash.data import (
    BrokenLinkError,
    CorruptFileError,
    FileChangedError,
    FilterMissingError,
    MissingFileError,
    NotHDF5Error,
    NoVolumeError,
    SliceIndexError,
    UnsupportedDataError,
    VolumeError,
    find_volumes,
    open_volume,
    slab_cache,
    write_volume,
)


def _cube(path, data=None, name="/m/v", **kw):
    data = np.arange(4 * 5 * 6, dtype="f4").reshape(4, 5, 6) if data is None else data
    write_volume(path, name, data, {f"d{i}": None for i in range(data.ndim)}, **kw)
    return data


def test_not_hdf5(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello, this is text\n" * 100)
    for call in (find_volumes, open_volume):
        with pytest.raises(NotHDF5Error, match=r"^'notes.txt' is not an HDF5 file\.$"):
            call(p)


def test_empty_folder_and_missing(tmp_path):
    (tmp_path / "empty.h5").write_bytes(b"")
    with pytest.raises(NotHDF5Error, match="empty"):
        open_volume(tmp_path / "empty.h5")
    with pytest.raises(NotHDF5Error, match="folder"):
        find_volumes(tmp_path)
    with pytest.raises(MissingFileError, match=r"'nope.h5' does not exist\."):
        open_volume(tmp_path / "nope.h5")


@pytest.mark.parametrize("fraction", [0.9, 0.3, 0.01])
def test_truncated_file(tmp_path, fraction):
    src = tmp_path / "full.h5"
    _cube(src, np.random.default_rng(0).random((40, 40, 40)), compression="gzip")
    data = src.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(CorruptFileError, match="truncated or damaged"):
        find_volumes(cut)
    with pytest.raises(CorruptFileError):
        with open_volume(cut) as vol:
            vol.slice(0, 39)


def test_damaged_chunk_bytes(tmp_path):
    path = tmp_path / "damaged.h5"
    _cube(path, np.random.default_rng(0).random((16, 16, 16)), chunks=(16, 16, 16), compression="gzip")
    with h5py.File(path, "r") as f:
        offset = f["m/v"].id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as fh:  # overwrite the start of the deflate stream
        fh.seek(offset)
        fh.write(b"\xff" * 64)
    with open_volume(path) as vol, pytest.raises(CorruptFileError, match="'/m/v'.*damaged"):
        vol.slice(0, 3)


def test_fewer_than_two_dims_string_and_compound(tmp_path):
    path = tmp_path / "odd.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("vector", data=np.arange(10.0))
        f.create_dataset("scalar", data=3.0)
        f.create_dataset("text", data=np.array([["a", "b"], ["c", "d"]], dtype=h5py.string_dtype()))
        f.create_dataset("fixed_text", data=np.array([[b"a", b"b"], [b"c", b"d"]]))
        f.create_dataset("table", data=np.zeros((3, 3), dtype=[("a", "f4"), ("b", "i4")]))
        f.create_dataset("vlen", (3, 3), dtype=h5py.vlen_dtype(np.float32))
        f.create_dataset("empty", shape=(0, 3), dtype="f4")
        f.create_group("group")
    with pytest.raises(NoVolumeError, match=r"'odd.h5' contains no numeric dataset with 2 or more dimensions: ") \
            as err:
        find_volumes(path)
    # why each dataset of 2 or more dimensions cannot be shown (three named, the others counted)
    assert "'/table' holds compound (table-like) data" in str(err.value) and "(and 2 more)" in str(err.value)
    assert "'/empty' holds no values (shape 0 x 3)" in str(err.value)
    with pytest.raises(NoVolumeError):
        open_volume(path)
    cases = {"vector": "has 1 dimension; an image needs at least 2",
             "scalar": "has 0 dimensions",
             "text": "text", "fixed_text": "text", "table": "compound",
             "vlen": "variable-length", "empty": "empty"}
    for name, words in cases.items():
        with pytest.raises(UnsupportedDataError, match=words):
            open_volume(path, name)
    with pytest.raises(NoVolumeError, match="is a group, not a dataset"):
        open_volume(path, "group")
    with pytest.raises(NoVolumeError, match=r"There is no dataset '/missing' in 'odd.h5'\."):
        open_volume(path, "missing")


def test_all_nan_and_constant(tmp_path):
    path = tmp_path / "flat.h5"
    data = np.full((4, 5, 6), np.nan, dtype="f4")
    data[2] = 7.0
    _cube(path, data)
    write_volume(path, "/nan/v", np.full((3, 4, 5), np.nan), {"a": None, "b": None, "c": None})
    write_volume(path, "/zero/v", np.zeros((3, 4, 5), dtype="i2"), {"a": None, "b": None, "c": None})
    with open_volume(path, "/m/v") as vol:
        assert np.isnan(vol.slice(0, 0).values).all()
        assert (vol.slice(0, 2).values == 7.0).all()
        lo, hi = vol.value_range()
        assert lo < 7.0 < hi and np.isfinite([lo, hi]).all()
        assert vol.value_range("exact") == (lo, hi)
    with open_volume(path, "/nan/v") as vol:
        assert vol.value_range() == (0.0, 1.0)
        assert vol.value_range("exact") == (0.0, 1.0)
    with open_volume(path, "/zero/v") as vol:
        assert vol.value_range() == (-0.5, 0.5)


def test_missing_compression_filter(tmp_path):
    path = tmp_path / "unknown_filter.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("v", shape=(4, 4, 4), dtype="f4", chunks=(4, 4, 4), compression=32999,
                              allow_unknown_filter=True)
        ds.id.write_direct_chunk((0, 0, 0), b"\x00" * 64)
    info = find_volumes(path)[0]  # still listed, so the UI can explain why it will not open
    assert info.compression == "filter 32999"
    with pytest.raises(FilterMissingError, match=r"HDF5 filter id 32999.*cannot decode.*hdf5plugin"):
        open_volume(path)


def test_broken_external_and_soft_links(tmp_path):
    good = tmp_path / "good.h5"
    _cube(good)
    other = tmp_path / "other.h5"
    _cube(other, name="/data")
    path = tmp_path / "links.h5"
    with h5py.File(path, "w") as f:
        f["ok_ext"] = h5py.ExternalLink("other.h5", "/data")
        f["bad_ext"] = h5py.ExternalLink("gone.h5", "/data")
        f["bad_path"] = h5py.ExternalLink("other.h5", "/nothing")
        f["bad_soft"] = h5py.SoftLink("/nowhere")
        f.create_dataset("local", data=np.zeros((2, 3)))
    infos = find_volumes(path)
    assert {i.name for i in infos} == {"/ok_ext", "/local"}
    with open_volume(path, "ok_ext") as vol:
        np.testing.assert_array_equal(vol.slice(0, 1).values, np.arange(120, dtype="f4").reshape(4, 5, 6)[1])
    with pytest.raises(BrokenLinkError, match=r"'/bad_ext' in 'links.h5' is an external link to '/data' in 'gone.h5'"):
        open_volume(path, "bad_ext")
    with pytest.raises(BrokenLinkError, match="external link"):
        open_volume(path, "bad_path")
    with pytest.raises(BrokenLinkError, match=r"link to '/nowhere', which does not exist"):
        open_volume(path, "bad_soft")


def test_file_deleted_while_open(tmp_path):
    path = tmp_path / "gone.h5"
    _cube(path)
    vol = open_volume(path)
    vol.slice(0, 0)
    assert not vol.changed_on_disk()
    os.remove(path)
    assert vol.changed_on_disk()
    assert slab_cache().stats().entries == 1
    with pytest.raises(FileChangedError, match=r"'gone.h5' was deleted after it was opened\.$"):
        vol.slice(0, 1)
    assert slab_cache().stats().entries == 0  # the deleted file's slabs are dropped
    vol.close()


def test_file_replaced_while_open(tmp_path):
    path = tmp_path / "swap.h5"
    data = _cube(path)
    vol = open_volume(path)
    np.testing.assert_array_equal(vol.slice(0, 0).values, data[0])
    tmp = tmp_path / "new.h5"
    _cube(tmp, data + 100)
    os.replace(tmp, path)  # atomic replace, as simulation codes do
    with pytest.raises(FileChangedError, match="changed on disk"):
        vol.slice(0, 0)
    vol.close()
    with open_volume(path) as fresh:  # reopening sees the new contents, never stale cache
        np.testing.assert_array_equal(fresh.slice(0, 0).values, data[0] + 100)


def test_a_job_can_write_to_a_file_while_it_is_viewed(tmp_path):
    """A viewer takes no lock: a job in another process appends its next result to the open file
    (HDF5's default read lock would make the job's open fail); the viewer then says the file changed,
    and opening it again shows the new dataset."""
    import subprocess
    import sys

    path = tmp_path / "running.h5"
    data = _cube(path)
    vol = open_volume(path)
    np.testing.assert_array_equal(vol.slice(0, 1).values, data[1])
    job = ("import h5py, numpy as np, sys\n"
           "with h5py.File(sys.argv[1], 'a') as f:\n"  # h5py's defaults, locking included
           "    f.create_dataset('m/next', data=np.ones((4, 5, 6), 'f4'))\n")
    done = subprocess.run([sys.executable, "-c", job, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert vol.changed_on_disk()
    with pytest.raises(FileChangedError, match="changed on disk after it was opened"):
        vol.slice(0, 2)
    vol.close()
    assert {"/m/v", "/m/next"} <= {i.name for i in find_volumes(path)}
    with open_volume(path, "/m/next") as fresh:
        assert float(fresh.slice(0, 0).values.mean()) == 1.0


def test_a_file_this_process_opened_with_default_locking_still_opens(tmp_path):
    """HDF5 refuses a file opened twice in one process with different locking flags: a notebook's own
    h5py.File (default locking) must not stop the viewer from opening the same file."""
    path = tmp_path / "both.h5"
    data = _cube(path)
    with h5py.File(path, "r") as mine:
        with open_volume(path) as vol:
            np.testing.assert_array_equal(vol.slice(0, 3).values, data[3])
        assert mine["m/v"].shape == data.shape


def test_index_and_axis_errors(tmp_path):
    path = tmp_path / "i.h5"
    _cube(path)
    with open_volume(path) as vol:
        with pytest.raises(SliceIndexError, match=r"Index 4 is out of range for 'd0' \(0 to 3\)"):
            vol.slice(0, 4)
        with pytest.raises(IndexError):
            vol.slice(2, -7)
        with pytest.raises(SliceIndexError, match="'q' is not a dimension"):
            vol.slice("q", 0)
        with pytest.raises(SliceIndexError, match="Axis 3 is out of range"):
            vol.slice(3, 0)
        with pytest.raises(SliceIndexError, match="slicing axis"):
            vol.slice("d0", 0, d0=1)
        with pytest.raises(SliceIndexError, match="two dimensions must remain"):
            vol.slice("d0", 0, d1=1)
    with pytest.raises(VolumeError, match="closed"):
        vol.slice(0, 0)


def test_messages_are_single_sentences(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("x")
    try:
        open_volume(p)
    except VolumeError as err:
        text = str(err)
        assert text.endswith(".") and "\n" not in text and "Traceback" not in text


def test_link_cycles_do_not_hang_the_listing(tmp_path):
    path = tmp_path / "loop.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("g")
        g["v"] = np.zeros((3, 3))
        g["loop"] = h5py.SoftLink("/g")
        g["hard_loop"] = g  # a second hard link to the same group
    assert [i.name for i in find_volumes(path)] == ["/g/v"]


def test_a_file_that_changes_while_it_is_opened_is_opened_again(tmp_path, monkeypatch):
    """A job writing every moment: the identity check at the end of opening finds the file changed;
    `open_volume` opens it again (up to three times in all) before saying so."""
    from hpcdash.data import volume as volume_mod

    data = _cube(tmp_path / "busy.h5")
    real_init = volume_mod.Volume.__init__
    calls = {"n": 0}

    def changing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= fails:
            raise FileChangedError("'busy.h5' changed on disk while it was being opened; open it again.")
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(volume_mod.Volume, "__init__", changing)
    fails = 2
    with open_volume(tmp_path / "busy.h5") as vol:
        np.testing.assert_array_equal(vol.slice(0, 1).values, data[1])
    assert calls["n"] == 3
    calls["n"], fails = 0, 3
    with pytest.raises(FileChangedError, match="while it was being opened"):
        open_volume(tmp_path / "busy.h5")
    assert calls["n"] == 3
