"""Path safety: nothing outside the root, through '..' or symlinks."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from hpcdash.data import (
    FolderWatch,
    MissingFileError,
    PathOutsideRootError,
    VolumeError,
    default_root,
    kept_path,
    list_dir,
    named_path,
    relative_below,
    safe_path,
    write_volume,
)
from hpcdash.data.paths import HDF5_SUFFIXES


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "root"
    (root / "runs" / "deep").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    write_volume(root / "runs" / "a.h5", "/m/v", np.zeros((2, 3)), {"y": None, "x": None})
    (root / "runs" / "notes.txt").write_text("not hdf5")
    (root / ".hidden").write_text("x")
    with open(root / "runs" / "userblock.h5", "wb") as fh:  # HDF5 with a 512-byte user block
        fh.write(b"\0" * 512 + b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    os.symlink(outside, root / "escape_dir")
    os.symlink(outside / "secret.h5", root / "runs" / "escape.h5")
    os.symlink(root / "runs" / "a.h5", root / "inside_link.h5")
    os.symlink(root / "missing", root / "dangling")
    return root, outside


def test_safe_path_inside(tree):
    root, _ = tree
    assert safe_path(root, "runs/a.h5") == (root / "runs" / "a.h5").resolve()
    assert safe_path(root, "runs/deep/../a.h5") == (root / "runs" / "a.h5").resolve()
    assert safe_path(root, "") == root.resolve()
    assert safe_path(root, "inside_link.h5") == (root / "runs" / "a.h5").resolve()
    assert safe_path(root, str(root / "runs")) == (root / "runs").resolve()
    assert safe_path(root, "runs/not_yet_there.h5").name == "not_yet_there.h5"


@pytest.mark.parametrize("bad", ["..", "../outside/secret.h5", "runs/../../outside", "escape_dir/secret.h5",
                                 "runs/escape.h5", "/etc/passwd", "escape_dir"])
def test_safe_path_refuses_escapes(tree, bad):
    root, _ = tree
    with pytest.raises(PathOutsideRootError, match="is outside the root folder") as err:
        safe_path(root, bad)
    # shown in notebooks too, where no server runs; a browser is not told where the root is
    assert "server" not in str(err.value) and str(root) not in str(err.value)


def test_safe_path_prefix_sibling_is_outside(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data2").mkdir()
    with pytest.raises(PathOutsideRootError):
        safe_path(tmp_path / "data", str(tmp_path / "data2"))


def test_list_dir(tree):
    root, _ = tree
    top = list_dir(root)
    assert [(e.name, e.is_dir) for e in top] == [("runs", True), ("inside_link.h5", False)]
    runs = {e.name: e for e in list_dir(root, "runs")}
    assert set(runs) == {"deep", "a.h5", "notes.txt", "userblock.h5"}
    assert runs["a.h5"].is_hdf5 and runs["userblock.h5"].is_hdf5 and not runs["notes.txt"].is_hdf5
    assert runs["a.h5"].path == "runs/a.h5" and runs["a.h5"].size > 0
    assert runs["deep"].size is None
    assert ".hidden" in {e.name for e in list_dir(root, show_hidden=True)}
    with pytest.raises(PathOutsideRootError):
        list_dir(root, "escape_dir")
    with pytest.raises(PathOutsideRootError):
        list_dir(root, "..")
    with pytest.raises(VolumeError, match="'runs/a.h5' is not a folder"):
        list_dir(root, "runs/a.h5")
    # a root that is not there (a server started with a wrong --root or HPCDASH_ROOT) is named in full
    missing = os.path.join(os.path.realpath(root), "not-there")
    with pytest.raises(VolumeError, match=f"The root folder {re.escape(missing)} does not exist"):
        list_dir(missing)


def test_list_dir_leaves_out_other_files_without_touching_them(tree, monkeypatch):
    """A run folder of many logs and checkpoints: files the suffixes leave out are neither stat'ed nor
    opened, nothing but symlinks is resolved, and without the signature check no file is opened."""
    import hpcdash.data.paths as paths

    root, _ = tree
    for i in range(50):
        (root / "runs" / f"step_{i:03d}.log").write_text("x")
    os.symlink(root / "runs" / "a.h5", root / "runs" / "latest.h5")
    os.symlink(root / "missing.h5", root / "runs" / "gone.h5")
    touched: dict[str, list] = {"stat": [], "open": [], "resolved": []}
    real_stat, real_looks, real_safe = os.stat, paths.looks_like_hdf5, paths.safe_path
    monkeypatch.setattr(paths.os, "stat", lambda p, *a, **k: touched["stat"].append(str(p)) or real_stat(p, *a, **k))
    monkeypatch.setattr(paths, "looks_like_hdf5", lambda p: touched["open"].append(str(p)) or real_looks(p))
    monkeypatch.setattr(paths, "safe_path", lambda r, p: touched["resolved"].append(str(p)) or real_safe(r, p))

    got = {e.name: e for e in list_dir(root, "runs", suffixes=(".H5",), check_signature=False)}
    # the escaping link and the dangling one are left out as before; folders are always listed
    assert set(got) == {"deep", "a.h5", "userblock.h5", "latest.h5"}
    assert got["latest.h5"].size == got["a.h5"].size > 0 and got["latest.h5"].path == "runs/latest.h5"
    assert all(e.is_hdf5 is None for e in got.values()) and touched["open"] == []
    assert not any(".log" in p or "notes" in p for p in touched["stat"] + touched["resolved"])
    resolved = {Path(p).name for p in touched["resolved"]}
    assert resolved - {"runs"} == {"latest.h5", "escape.h5", "gone.h5"}  # the links alone

    checked = {e.name: e.is_hdf5 for e in list_dir(root, "runs", suffixes=HDF5_SUFFIXES)}
    assert checked == {"deep": False, "a.h5": True, "userblock.h5": True, "latest.h5": True}


def test_folder_watch_sees_a_file_made_in_the_same_tick_as_the_listing(tree):
    """On a file system with a coarse clock a file created in the same second as the last listing
    leaves the folder's mtime as it was; the watch keeps asking for listings until one was taken
    after the folder's last change had settled."""
    root, _ = tree
    runs = root / "runs"
    watch = FolderWatch(root, "runs")
    tick = time.time_ns() // 10**9 * 10**9  # a whole second, as a coarse clock stamps it
    os.utime(runs, ns=(tick, tick))
    watch.listed()
    assert [e.name for e in list_dir(root, "runs")].count("b.h5") == 0
    (runs / "b.h5").write_bytes(b"")
    os.utime(runs, ns=(tick, tick))  # the same tick: the stamp did not move
    assert watch.changed() == tick
    assert "b.h5" in [e.name for e in list_dir(root, "runs")]
    # a listing long after the last change is settled: nothing to do until the folder changes
    old = tick - 10 * 10**9
    os.utime(runs, ns=(old, old))
    watch.listed()
    assert watch.changed() is None
    (runs / "c.h5").write_bytes(b"")
    assert watch.changed() not in (None, old)
    # a folder that went away is not a change to list (the listing says what happened)
    gone = FolderWatch(root, "runs/deep")
    gone.listed()
    (runs / "deep").rmdir()
    assert gone.changed() is None


def test_named_path_is_taken_from_the_working_directory_else_below_the_root(tree, tmp_path):
    """The rule of `hpcdash serve`, `hpcdash bundle` and `SliceExplorer` for paths a user typed."""
    root, outside = tree
    real = (root / "runs" / "a.h5").resolve()
    assert named_path(root, "runs/a.h5", cwd=tmp_path) == real  # not in the cwd: below the root
    assert named_path(root, "root/runs/a.h5", cwd=tmp_path) == real  # in the cwd
    assert named_path(root, "a.h5", cwd=root / "runs") == real
    assert named_path(root, str(real), cwd=tmp_path) == real
    assert named_path(root, "inside_link.h5", cwd=tmp_path) == real  # a symlink that stays inside


def test_kept_path_keeps_a_link_inside_the_root_and_refuses_what_leads_out(tree, tmp_path):
    """A link is kept by its own name ('.' and '..' taken out), so that opening it again follows it; a
    '..' after a link to a folder means the real path's parent, so the real path is kept there; links
    leading out of the root are refused as by safe_path."""
    root, _ = tree
    real_root = root.resolve()
    assert kept_path(root, "inside_link.h5") == real_root / "inside_link.h5"
    assert kept_path(root, "runs/../inside_link.h5") == real_root / "inside_link.h5"
    assert kept_path(root, str(real_root / "./inside_link.h5")) == real_root / "inside_link.h5"
    assert kept_path(root, "runs/a.h5") == real_root / "runs" / "a.h5"
    os.symlink(root / "runs" / "deep", root / "deep_link")
    (root / "runs" / "b.h5").write_bytes(b"")
    # lexically root/b.h5, which is not what the file system means: the real path
    assert kept_path(root, "deep_link/../b.h5") == real_root / "runs" / "b.h5"
    # the root through another name of it: the link's name, in the root's real folder
    os.symlink(root, tmp_path / "root_link")
    assert kept_path(root, str(tmp_path / "root_link" / "inside_link.h5")) == real_root / "inside_link.h5"
    for bad in ("runs/escape.h5", "escape_dir/secret.h5", "../outside/secret.h5"):
        with pytest.raises(PathOutsideRootError):
            kept_path(root, bad)
    assert named_path(root, "inside_link.h5", cwd=tmp_path, keep_links=True) == real_root / "inside_link.h5"
    assert named_path(root, "inside_link.h5", cwd=tmp_path) == real_root / "runs" / "a.h5"
    with pytest.raises(PathOutsideRootError):
        named_path(root, "runs/escape.h5", cwd=tmp_path, keep_links=True)


def test_named_path_names_every_path_tried_when_it_exists_nowhere(tree, tmp_path):
    root, _ = tree
    real_root = os.path.realpath(root)
    with pytest.raises(MissingFileError) as err:
        named_path(root, "runs/nosuch.h5", cwd=tmp_path)
    assert str(err.value) == (f"{tmp_path}/runs/nosuch.h5 does not exist, nor does {real_root}/runs/nosuch.h5: a "
                              f"relative path is taken from the working directory, else from the root folder "
                              f"{real_root}.")
    with pytest.raises(MissingFileError, match=f"^{re.escape(real_root)}/nosuch.h5 does not exist; paths are "
                                               f"relative to the working directory, which is the root folder"):
        named_path(root, "nosuch.h5", cwd=root)
    with pytest.raises(MissingFileError, match="^/nowhere/x.h5 does not exist.$"):
        named_path("/", "/nowhere/x.h5", cwd=tmp_path)
    # missing and outside the root: it could never be opened, which is what is said
    with pytest.raises(PathOutsideRootError, match=f"^/nowhere/x.h5 does not exist, and it is outside the root "
                                                   f"folder {re.escape(real_root)}.$"):
        named_path(root, "/nowhere/x.h5", cwd=tmp_path)
    with pytest.raises(MissingFileError):
        named_path(root, "dangling", cwd=root)  # a symlink to nothing exists nowhere either


def test_named_path_outside_the_root_is_refused_with_the_path_and_the_root(tree, tmp_path):
    root, outside = tree
    real_root = os.path.realpath(root)
    with pytest.raises(PathOutsideRootError, match=f"^{re.escape(str(outside))}/secret.h5 is outside the root "
                                                   f"folder {re.escape(real_root)}.$"):
        named_path(root, "outside/secret.h5", cwd=tmp_path)
    with pytest.raises(PathOutsideRootError, match=f"runs/escape.h5 is outside the root folder .*\\(it leads "
                                                   f"to {re.escape(str(outside))}/secret.h5\\)"):
        named_path(root, "runs/escape.h5", cwd=tmp_path)
    # the working directory comes first, also when that leads outside: no silent switch to another file
    (outside / "a.h5").write_bytes(b"")
    (root / "a.h5").write_bytes(b"")
    with pytest.raises(PathOutsideRootError):
        named_path(root, "a.h5", cwd=outside)
    with pytest.raises(PathOutsideRootError, match="NUL"):
        named_path(root, "a\x00.h5", cwd=root)


def test_default_root_holds_the_named_files(tree, tmp_path):
    """A notebook naming files without a root: the working directory when they are in it, else the
    deepest folder holding them all (symlinks resolved, so that they are inside it)."""
    root, outside = tree
    real_root, real_out = root.resolve(), outside.resolve()
    assert default_root(["runs/a.h5"], cwd=root) == real_root
    assert default_root([], cwd=root) == real_root
    assert default_root(["runs/nosuch.h5", "../../elsewhere.h5"], cwd=root) == real_root  # missing: ignored
    assert default_root(["../outside/secret.h5"], cwd=root) == real_out  # a relative path outside the cwd
    assert default_root(["runs/escape.h5"], cwd=root) == real_out  # a symlink to data elsewhere
    assert default_root(["escape_dir/secret.h5", "runs/a.h5"], cwd=root) == tmp_path.resolve()
    assert default_root([str(real_out / "secret.h5")], cwd=root) == real_out
    for paths in (["runs/escape.h5"], ["../outside/secret.h5", "runs/a.h5"]):
        top = default_root(paths, cwd=root)
        assert all(named_path(top, p, cwd=root) for p in paths)  # every named file opens


def test_filename_part_makes_untrusted_names_safe_in_file_names():
    """Names from files and users become parts of export and bundle names: no path separators, no
    markup, no hidden files, no '..'; nothing usable left gives an empty string the caller replaces."""
    from hpcdash.data import filename_part

    assert filename_part("depth (m)") == "depth-m"
    assert filename_part("../../etc/passwd") == "etc-passwd"
    assert filename_part("<img src=x onerror=alert(1)>") == "img-src-x-onerror-alert-1"
    assert filename_part(".hidden") == "hidden"
    assert filename_part("Tiefe_ü.v2") == "Tiefe_ü.v2" and filename_part("λ_1") == "λ_1"
    assert filename_part("ünï 数据") == "ünï-数据"  # names in any script stay readable
    assert filename_part("..") == "" and filename_part("¿?") == "" and filename_part("a\tb\nc") == "a-b-c"


def test_relative_below_names_the_place_under_the_root_or_none(tmp_path):
    root = tmp_path / "root"
    assert relative_below(root, root / "runs" / "a.h5") == os.path.join("runs", "a.h5")
    assert relative_below(root, root) == "."
    assert relative_below(root, root / "..dots" / "a.h5") == os.path.join("..dots", "a.h5")  # a name
    assert relative_below(root, tmp_path / "other" / "a.h5") is None
    assert relative_below(root, root / ".." / "a.h5") is None
    assert relative_below(root, tmp_path) is None
