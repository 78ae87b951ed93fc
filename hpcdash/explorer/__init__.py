"""The HDF5 slice explorer: `SliceExplorer(path)` shows one or many runs side by side.

In a notebook cell::

    import hpcdash
    hpcdash.SliceExplorer("runs/run_01.h5")              # one run
    hpcdash.SliceExplorer(["a.h5", "b.h5"], link=True)    # linked panes, difference view available

The state (what is shown) lives in `SliceExplorer.state` (an `ExplorerState` of `SliceState` panes), so a
notebook can drive it too: ``ex.state.panes[0].index = 10``, and for data of more than 3 dimensions
``ex.state.panes[0].held = {"t": 3}`` (the index of each dimension neither normal nor in the plane).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import panel as pn
import param

from hpcdash.data import PathOutsideRootError, VolumeError, default_root, named_path

from .kernels import warm_up
from .state import ExplorerState, SliceState, escape
from .views import ExplorerView, SliceView, message_pane

# Datashader's kernels are loaded (from Numba's disk cache after the first run on a machine) with the
# rest of the package, like eagerly compiled Numba functions: the first slice a notebook or a server
# session draws then costs what every later slice costs. See hpcdash.explorer.kernels.
try:
    warm_up()
except Exception:  # noqa: BLE001 - an optimisation only; the first slice then compiles them
    pass

__all__ = ["SliceExplorer", "ExplorerState", "SliceState", "ExplorerView", "SliceView"]


class SliceExplorer(pn.viewable.Viewer):
    """Datashaded 2-D slices of HDF5 volumes, many runs side by side, in a notebook or a served app.

    `paths`: one path or a list, absolute or relative as in a shell: below the working directory when
    the file is there, else below `root` (`hpcdash.data.named_path`, the rule of ``hpcdash serve``).
    `root`: the folder the file browser shows and every opened file must be inside; by default the
    working directory, or the deepest folder holding all of `paths` when one lies outside it (a
    ``../data`` path, a symlink to scratch space: `hpcdash.data.default_root`). A path that does not
    exist, or one outside a `root` given, opens no pane; `state.message` says why, naming the full
    path tried and the root.
    """

    state = param.ClassSelector(class_=ExplorerState)

    def __init__(self, paths: str | os.PathLike | Iterable[str | os.PathLike] = (), root: str | None = None,
                 *, link: bool = True, layout: str = "grid", browser: bool = True, **params):
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        paths = [os.fspath(p) for p in paths]
        root = str(root or default_root(paths))
        state = ExplorerState(root=root, link=link, layout=layout)
        super().__init__(state=state, **params)
        refused = []
        for p in paths:
            try:
                named = named_path(state.root, p, keep_links=True)
            except VolumeError as err:
                hint = " root= chooses another folder." if isinstance(err, PathOutsideRootError) else ""
                refused.append(f"{err}{hint}")
                continue
            state.open(named)
        if refused:  # after the opens, which set their own message (or clear it)
            state.message = " ".join(refused + ([state.message] if state.message else []))
        self.view = ExplorerView(state)
        self._browser = browser

    def __panel__(self):
        if self._browser:  # the file browser shows `state.message`
            return pn.Row(pn.Column(self.view.sidebar(), width=280), self.view, sizing_mode="stretch_width")
        # without it, what could not be opened is said above the panes
        message = message_pane("warning")

        def show(text: str) -> None:
            message.param.update(object=escape(text), visible=bool(text))

        show(self.state.message)
        self.state.param.watch(lambda e: show(e.new), "message")
        return pn.Column(message, self.view, sizing_mode="stretch_width")
