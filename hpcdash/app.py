"""The hpcdash app: one page, a tab per concern ("Explorer" first; "Cluster" plugs in here).

`create_app(paths, root)` builds the page for one browser session. A server keeps one `Workspace` per
root for all of its pages: the provenance record and the cluster (kept through reloads, closed when no
page has been open for a while, or with the server). Tabs are listed in `TABS` as
(title, "module:function"): the first tab is built with the page, every other one when it is first
opened (so its heavy imports and periodic work cost nothing until then), and a tab that fails to build
shows its error instead of taking the page down.
"""

from __future__ import annotations

import gc
import html
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

import panel as pn

from hpcdash.access import AccessibleColumn
from hpcdash.memory import set_mmap_threshold
from hpcdash.panes import HTML
from hpcdash.tabs import PageTabs

ASSETS = Path(__file__).resolve().parent / "assets"
_startup_frozen = False

#: BokehJS bundles no hpcdash page uses: MathJax (1.8 MB of the page's 4.4 MB of scripts; our text
#: panes keep math rendering off) and WebGL (plots draw on a 2-D canvas).
UNUSED_BUNDLES = ("bokeh-mathjax", "bokeh-gl")
#: How long a new page waits for the first slices of the files it opens before it is sent; reads
#: still running then are shown when done (the pane says it is reading, with a loading indicator).
FIRST_READ_WAIT_S = 0.5


def freeze_startup_objects() -> bool:
    """Take what is alive now (imported modules, loaded kernels) out of the garbage collector's full
    passes, once per server process; True the first time.

    A full collection visits every tracked object: with Panel, HoloViews, Bokeh, Datashader and Numba
    loaded that is ~390 000 of them, and one pass took 0.45-0.6 s, in the middle of a new session's
    page or of a slider step. Frozen, those objects stay (they live as long as the process anyway) and
    a pass over the sessions' own objects takes ~0.1 s (measured: new pages 0.82 -> 0.59 s median).
    """
    global _startup_frozen
    if _startup_frozen:
        return False
    _startup_frozen = True
    gc.collect()
    gc.freeze()
    return True


def drop_unused_bundles() -> bool:
    """Serve pages without the BokehJS bundles listed in `UNUSED_BUNDLES`; True once in place.

    A Bokeh server lists every bundle in every page, because a session could add any model later;
    Panel then keeps MathJax as soon as the page has an HTML pane. hpcdash's pages never need those
    two, so each page carries ~2 MB less script to load and run (the first visit through a proxy,
    and every new tab, which runs them again). Done by wrapping the function Panel's server uses to
    list a page's resources; if Panel stops providing it, pages simply keep every bundle.
    """
    try:
        from panel.io import server as panel_server

        original = panel_server.bundle_resources
    except (ImportError, AttributeError):
        return False
    if getattr(original, "_hpcdash_lean", False):
        return True

    def bundle_resources(roots, resources, *args, **kwargs):
        if resources is not None and hasattr(resources, "clone") and hasattr(resources, "components"):
            resources = resources.clone(components=[c for c in resources.components if c not in UNUSED_BUNDLES])
        return original(roots, resources, *args, **kwargs)

    bundle_resources._hpcdash_lean = True  # type: ignore[attr-defined]
    panel_server.bundle_resources = bundle_resources
    return True


def prepare_server_process() -> None:
    """Once per server process, after the imports: `freeze_startup_objects`, `set_mmap_threshold`
    and `drop_unused_bundles`."""
    freeze_startup_objects()
    set_mmap_threshold()
    drop_unused_bundles()


@dataclass
class AppContext:
    """What every tab factory receives: the file root, the files named on the command line, the
    sidebar to add widgets to, and a place for tabs to share objects."""

    root: str
    paths: list[str] = field(default_factory=list)
    query: dict[str, str] = field(default_factory=dict)
    sidebar: list = field(default_factory=list)
    shared: dict = field(default_factory=dict)


#: How long a server keeps a running cluster after its last page closed (dask config
#: ``hpcdash.cluster-grace``, e.g. "30 minutes"; a reload or a laptop back from sleep finds it still there).
DEFAULT_CLUSTER_GRACE = "10 minutes"


class Workspace:
    """What one server keeps for all of its pages (one user's browser tabs): the provenance record, and
    the cluster with the lease that closes it once no page has been open for the grace time.

    The ClusterControl is made when a page first opens the Cluster tab (its imports cost the other pages
    nothing); pages hold the lease from the start, so a sweep started from one tab is not cut short
    because that tab closed while another stays open."""

    def __init__(self, root: str):
        import threading

        from hpcdash.provenance.state import ProvenanceState

        self.root = root
        self.provenance = ProvenanceState(root=root, log=self._record(root))
        self._control = None
        self._lease = None
        self._pages: dict[int, int | None] = {}  # page token -> its lease token (None before a cluster)
        self._next_page = 0
        self._lock = threading.RLock()
        self._grace_s = self._configured_grace()
        #: the Dask dashboard's link through the server's own proxy (set by `hpcdash serve`), or ""
        self.dashboard_proxy = ""

    @staticmethod
    def _record(root: str):
        """The record of this root's pages, resumed from its file (a restarted server keeps it), unless
        dask config ``hpcdash.keep-record`` is false (then in memory only)."""
        import dask

        from hpcdash.provenance.record import ProvenanceLog, record_path

        if dask.config.get("hpcdash.keep-record", default=True) in (False, "false", "no", 0):
            return ProvenanceLog()
        return ProvenanceLog.resume(record_path(root))

    def grace_seconds(self) -> float:
        """How long the cluster outlives the last page (read from dask config when the Workspace is made)."""
        return self._grace_s

    @staticmethod
    def _configured_grace() -> float:
        import dask
        from dask.utils import parse_timedelta

        return float(parse_timedelta(dask.config.get("hpcdash.cluster-grace", default=None)
                                     or DEFAULT_CLUSTER_GRACE, default="s"))

    def page_opened(self) -> int:
        """A page of this server opened; returns the token `page_closed` takes."""
        with self._lock:
            self._next_page += 1
            token = self._next_page
            self._pages[token] = self._lease.hold() if self._lease is not None else None
            return token

    def page_closed(self, token: int) -> None:
        with self._lock:
            held = self._pages.pop(token, None)
            if held is not None:
                self._lease.release(held)

    def cluster(self):
        """The server's ClusterControl (made on first use, recorded by the provenance state)."""
        with self._lock:
            if self._control is None:
                from hpcdash.cluster import ClusterControl, ClusterLease, default_backend

                self._control = ClusterControl(backend=default_backend(), dashboard_proxy=self.dashboard_proxy)
                self.provenance.watch_cluster(self._control)
                self._lease = ClusterLease(self._control, grace_s=self.grace_seconds())
                for page in self._pages:  # the pages open now hold it
                    self._pages[page] = self._lease.hold()
            return self._control

    @property
    def lease(self):
        return self._lease

    def dashboard_target(self) -> str | None:
        """Where the cluster's Dask dashboard answers (for the server's proxy); None without a cluster."""
        control = self._control
        return control.dashboard_target() if control is not None and control.running else None

    def close(self, reason: str = "the hpcdash server stopped") -> None:
        """Close the cluster (if one runs): the server is going away."""
        if self._lease is not None:
            self._lease.cancel()
        if self._control is not None and self._control.running:
            self._control.close(reason=reason)


#: root folder -> the Workspace of this server process for it
_WORKSPACES: dict[str, Workspace] = {}


def workspace(root: str) -> Workspace:
    """This server's Workspace for `root` (made on first use)."""
    ws = _WORKSPACES.get(root)
    if ws is None:
        if not _WORKSPACES:
            # `panel serve dashboards/...` too: a normal exit (Ctrl-C) closes the clusters
            import atexit

            atexit.register(close_workspaces)
        ws = _WORKSPACES.setdefault(root, Workspace(root))
    return ws


def close_workspaces(reason: str = "the hpcdash server stopped") -> None:
    """Close every Workspace's cluster (at server exit)."""
    for ws in list(_WORKSPACES.values()):
        try:
            ws.close(reason)
        except Exception:  # noqa: BLE001 - one failure must not keep the others' jobs running
            pass


def query_of(search: str) -> dict[str, str]:
    """A page's URL query as the app reads it: one value per key (the last one), except that a `file`
    given several times (a hand-written ``?file=a.h5&file=b.h5``) opens each, as ``file``, ``file2``, ...
    when the link names no numbered files itself."""
    from urllib.parse import parse_qsl

    items = parse_qsl((search or "").lstrip("?"), keep_blank_values=True)
    query = dict(items)
    files = [v for k, v in items if k == "file"]
    if len(files) > 1 and not any(k[4:].isdigit() for k in query if k.startswith("file")):
        query.update({("file" if i == 0 else f"file{i + 1}"): f for i, f in enumerate(files)})
    return query


def explorer_tab(ctx: AppContext) -> pn.viewable.Viewable:
    """The "Explorer" tab: HDF5 slice explorer (file browser goes to the sidebar)."""
    from hpcdash.explorer.state import ExplorerState
    from hpcdash.explorer.views import ExplorerView

    state = ExplorerState(root=ctx.root)
    view = ExplorerView(state)  # created first: its loader reads concurrently in a served session
    # the page waits a moment for the first slices, so that quick reads arrive with it; a slow file
    # goes on in the background, its pane saying so, rather than holding the whole page back
    deadline = time.monotonic() + FIRST_READ_WAIT_S
    if ctx.query.get("file"):
        state.apply_query(ctx.query, deadline=deadline)
        view.sync_url()  # files refused (outside the root, ...) leave the URL, even when none opened
    else:
        for p in ctx.paths:
            state.open(p, deadline=deadline)
    ctx.sidebar.append(view.sidebar())
    ctx.shared["explorer"] = state
    provenance = ctx.shared.get("provenance")
    if provenance is not None:
        provenance.watch_explorer(state)
    from hpcdash.sessions import at_session_end

    def page_closed() -> None:
        if provenance is not None:
            provenance.unwatch_explorer(state)
        state.close()

    at_session_end(page_closed)
    return view


#: (tab title, "module:function" taking an AppContext). Other tabs append their entry here.
TABS: list[tuple[str, str | Callable[[AppContext], pn.viewable.Viewable]]] = [
    ("Explorer", explorer_tab),
    ("Cluster", "hpcdash.cluster.view:cluster_tab"),
    ("Provenance", "hpcdash.provenance.view:provenance_tab"),
]


def _load(factory: str | Callable) -> Callable:
    if callable(factory):
        return factory
    module, _, name = factory.partition(":")
    return getattr(import_module(module), name)


def _build(name: str, factory: str | Callable, ctx: AppContext) -> pn.viewable.Viewable:
    """One tab's content, or a message saying why it could not be built."""
    try:
        return _load(factory)(ctx)
    except Exception as err:  # noqa: BLE001 - one broken tab must not take the page down
        return HTML(f"The {html.escape(name)} tab could not be built: {html.escape(str(err))}",
                    css_classes=["hpcdash-alert", "hpcdash-alert-danger"])


def create_app(paths: Iterable[str | os.PathLike] = (), root: str | os.PathLike | None = None, *,
               title: str = "hpcdash", template: bool = True,
               tabs: list[tuple[str, str | Callable]] | None = None) -> pn.viewable.Viewable:
    """The hpcdash page for one session: a BootstrapTemplate (no web fonts or CDN requests) (or a plain Row with `template=False`)
    with one tab per entry of `TABS`.

    `paths` open at start (absolute or relative to `root`); `root` (default: the working directory) is
    the only folder the file browser shows and the only place files are read from. A URL query written
    by the explorer (``?file=...&axis=...&slice=...``) takes precedence over `paths`.
    """
    pn.extension(notifications=False)
    root = str(Path(root or os.getcwd()).resolve())
    from hpcdash.sessions import at_session_end, in_session

    query = {}
    if pn.state.location is not None and in_session():
        query = query_of(pn.state.location.search)
    ctx = AppContext(root=root, paths=[str(p) for p in paths], query=query)
    if in_session():
        # a served page: the server's record and cluster, shared with its other pages (tabs), kept
        # through reloads; this page holds the cluster until it closes
        ws = workspace(root)
        ctx.shared["workspace"] = ws
        ctx.shared["provenance"] = ws.provenance
        token = ws.page_opened()
        at_session_end(lambda: ws.page_closed(token))
    else:
        # a notebook cell or a script: a record of its own, which starts with the page
        from hpcdash.provenance.state import ProvenanceState

        ctx.shared["provenance"] = ProvenanceState(root=root)
    entries = tabs or TABS
    # The first tab is built now; the others when first opened (their imports, objects and periodic
    # work cost a session nothing until then).
    built = [(entries[0][0], _build(entries[0][0], entries[0][1], ctx))] if entries else []
    later = {}
    for i, (name, factory) in enumerate(entries[1:], start=1):
        # drawn with the page, it prepares the page for the controls the tab draws once opened
        holder = AccessibleColumn(HTML(f"<p>Opening {html.escape(name)}…</p>"), sizing_mode="stretch_width")
        later[i] = (name, factory, holder)
        built.append((name, holder))
    # Not dynamic: a tab's models stay in the page while another is shown (the tabs not opened yet
    # are one line of text until then). Models out of the page are styled with the CDN's addresses,
    # which Panel writes into stylesheet objects that the whole page shares: runs opened from the
    # Cluster tab, which add panes to the hidden Explorer, sent every component of the page to
    # cdn.holoviz.org for its CSS, out of reach of a compute node without internet.
    main = PageTabs(*built, dynamic=False, sizing_mode="stretch_width", css_classes=["hpcdash-tabs"])
    titles = [name for name, _ in built]
    ctx.shared["show_tab"] = lambda name: setattr(main, "active", titles.index(name))  # e.g. after opening runs

    contents = {0: built[0][1]} if built else {}

    def _open_tab(event) -> None:
        entry = later.pop(event.new, None)
        if entry is not None:
            name, factory, holder = entry
            contents[event.new] = _build(name, factory, ctx)
            holder.objects = [contents[event.new]]
        # a tab may do periodic work only worth doing on screen (set_shown: the Cluster tab's refresh)
        for i, content in contents.items():
            if callable(getattr(content, "set_shown", None)):
                content.set_shown(i == event.new)

    main.param.watch(_open_tab, "active")
    if not template:
        return pn.Row(pn.Column(*ctx.sidebar, width=300), main, sizing_mode="stretch_width")
    return pn.template.BootstrapTemplate(
        title=title, sidebar=ctx.sidebar, main=[main], sidebar_width=300,
        header_background="#1f3b57",
        # no page-wide busy spinner: every event would send it two updates; panes show their own loading
        busy_indicator=None,
        favicon=str(ASSETS / "hpcdash.svg") if (ASSETS / "hpcdash.svg").exists() else None,
    )
