"""`hpcdash.SliceExplorer(paths)` in a notebook: paths as in a shell (the working directory first, else
below the root), a default root that holds the files named, and messages that name the path tried."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.ui.hdf5_files import write_run


@pytest.fixture
def notebook_dir(tmp_path: Path, monkeypatch) -> Path:
    """nb/ (the working directory) next to demo/ (one run), and nb/demo_link -> scratch/ (one run):
    a data folder linked from elsewhere, as $SCRATCH often is."""
    for folder, name in (("demo", "run.h5"), ("scratch", "x.h5")):
        (tmp_path / folder).mkdir()
        write_run(tmp_path / folder / name, 1, 10.0)
    nb = tmp_path / "nb"
    nb.mkdir()
    os.symlink(tmp_path / "scratch", nb / "demo_link")
    monkeypatch.chdir(nb)
    return nb


def _explorer(*args, **kwargs):
    import hpcdash

    ex = hpcdash.SliceExplorer(*args, **kwargs)
    return ex, [Path(p.file).name for p in ex.state.panes if not p.error], ex.state.message


def test_a_relative_path_outside_the_working_directory_opens(notebook_dir: Path):
    ex, shown, message = _explorer("../demo/run.h5")
    assert (shown, message) == (["run.h5"], "")
    assert ex.state.root == str((notebook_dir.parent / "demo").resolve())


def test_a_file_in_a_symlinked_data_folder_opens(notebook_dir: Path):
    ex, shown, message = _explorer("demo_link/x.h5")
    assert (shown, message) == (["x.h5"], "")
    assert ex.state.root == str((notebook_dir.parent / "scratch").resolve())
    _, shown, message = _explorer(["demo_link/x.h5", "../demo/run.h5"])
    assert (shown, message) == (["x.h5", "run.h5"], "")


def test_a_symlink_named_in_a_notebook_is_kept(notebook_dir: Path):
    """scratch/latest.h5 -> x.h5, named through the linked folder: the pane keeps the link (a job may
    re-point it) in the root's real folder, and reads its target."""
    scratch = (notebook_dir.parent / "scratch").resolve()
    (scratch / "latest.h5").symlink_to("x.h5")
    ex, shown, message = _explorer("demo_link/latest.h5")
    assert (shown, message) == (["latest.h5"], "")
    pane = ex.state.panes[0]
    assert (pane.file, pane.target) == (str(scratch / "latest.h5"), str(scratch / "x.h5"))
    assert pane.title.startswith("latest.h5 → x.h5 · ")


def test_a_path_from_the_working_directory_with_a_root_opens(notebook_dir: Path):
    """root='demo_link' and 'demo_link/x.h5': the path is the shell's, not demo_link/demo_link/x.h5."""
    _, shown, message = _explorer("demo_link/x.h5", root="demo_link")
    assert (shown, message) == (["x.h5"], "")
    _, shown, message = _explorer("x.h5", root="demo_link")  # not in the cwd: below the root
    assert (shown, message) == (["x.h5"], "")


def test_messages_name_the_paths_tried_and_the_root(notebook_dir: Path):
    scratch = (notebook_dir.parent / "scratch").resolve()
    _, shown, message = _explorer("demo_link/nosuch.h5", root="demo_link")
    assert shown == []
    assert message == (f"{notebook_dir}/demo_link/nosuch.h5 does not exist, nor does {scratch}/demo_link/nosuch.h5: "
                       f"a relative path is taken from the working directory, else from the root folder {scratch}.")
    _, shown, message = _explorer(["../demo/run.h5", "demo_link/x.h5"], root=".")
    assert shown == []
    assert message.startswith(f"{notebook_dir.parent / 'demo' / 'run.h5'} is outside the root folder {notebook_dir}.")
    assert f"{notebook_dir}/demo_link/x.h5 is outside the root folder {notebook_dir} (it leads to {scratch}/x.h5)" \
        in message
    assert "root= chooses another folder" in message and "server" not in message
    # what opens, opens; what does not is said
    _, shown, message = _explorer(["nosuch.h5", "demo_link/x.h5"])
    assert shown == ["x.h5"] and message.startswith(f"{notebook_dir}/nosuch.h5 does not exist")


def test_the_file_browser_in_a_notebook_says_root_folder_not_server(notebook_dir: Path):
    ex, _, _ = _explorer("../demo/run.h5")
    ex.state.open("../nb/demo_link/x.h5")  # what the browser's path field does: below the root only
    assert ex.state.message == "'../nb/demo_link/x.h5' is outside the root folder."


def test_without_the_file_browser_the_message_is_shown_above_the_panes(notebook_dir: Path):
    import panel as pn

    ex, _, message = _explorer(["nosuch.h5", "demo_link/x.h5"], browser=False)
    root = pn.panel(ex).get_root()
    shown = [m.text for m in root.select({"type": pn.models.HTML})
             if "hpcdash-alert-warning" in m.css_classes and m.visible]
    assert len(shown) == 1 and "nosuch.h5 does not exist" in shown[0]
    assert message.startswith(f"{notebook_dir}/nosuch.h5 does not exist")
