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

from .kernels import warm_up
from .state import ExplorerState, SliceState
from .views import ExplorerView, SliceView

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

    `paths`: one path or a list (absolute or relative to `root`); `root`: the folder the file browser
    shows and every opened file must be inside (default: the working directory, or the common parent of
    absolute `paths` when they lie outside it).
    """

    state = param.ClassSelector(class_=ExplorerState)

    def __init__(self, paths: str | os.PathLike | Iterable[str | os.PathLike] = (), root: str | None = None,
                 *, link: bool = True, layout: str = "grid", browser: bool = True, **params):
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        paths = [str(p) for p in paths]
        root = root or _default_root(paths)
        state = ExplorerState(root=root, link=link, layout=layout)
        super().__init__(state=state, **params)
        for p in paths:
            state.open(p)
        self.view = ExplorerView(state)
        self._browser = browser

    def __panel__(self):
        if self._browser:
            return pn.Row(pn.Column(self.view.sidebar(), width=280), self.view, sizing_mode="stretch_width")
        return self.view


def _default_root(paths: list[str]) -> str:
    cwd = os.getcwd()
    absolute = [os.path.realpath(p) for p in paths if os.path.isabs(p)]
    if not absolute or all(os.path.commonpath([cwd, a]) == cwd for a in absolute):
        return cwd
    return os.path.commonpath([os.path.dirname(a) for a in absolute])
