"""A self-contained, reproducible bundle of a working session (data layer: no Panel).

`plan_bundle(log, root)` lists the files the session used (only files inside `root`);
`write_bundle(plan, dest, ...)` writes a folder and a zip of it::

    <name>/
      README.md               what is inside; how to open it (Binder, a laptop, an HPC system)
      reproduce.ipynb         checks the files' hashes (standard library only), then reopens the recorded views
      ro-crate-metadata.json  RO-Crate 1.1 / Process Run Crate 0.5: files (data and code) with sha256,
                              the runs as actions
      provenance.jsonl        the event log, one JSON object per line
      requirements.txt        exact versions of every dependency that ran (Binder installs these)
      runtime.txt             python-X.Y (Binder's Python)
      hpcdash/                the hpcdash package that ran (importable from the bundle's folder; a Dataset
                              in the crate, each file with its sha256)
      data/...                the files, under their paths relative to the root (unless left out)
      hpc/                    Apptainer definition, SLURM job script, Shifter / podman-hpc commands

The folder is itself a Binder repository (repo2docker picks its Python build pack from
requirements.txt + runtime.txt). `verify_bundle(folder)` recomputes the hashes of the files inside the
bundle's folder (never a path the crate names outside it); `unlisted_files(folder)` names files under
data/ and hpcdash/ that the crate does not list. A data file hpcdash cannot open as HDF5 is bundled as it
is, with a warning (`write_bundle`'s `warn`, and the README).
"""

from __future__ import annotations

import getpass
import html
import json
import os
import re
import shlex
import shutil
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from hpcdash.data.errors import MissingFileError, VolumeError
from hpcdash.data.paths import HDF5_SUFFIXES, filename_part
from hpcdash.data.volume import open_hdf5

from .environment import describe_platform, pinned_requirements, python_runtime
from .record import ProvenanceLog, file_sha256, now_iso, shown_path

PROCESS_RUN_CRATE = "https://w3id.org/ro/wfrun/process/0.5"
WORKFLOW_RUN_CONTEXT = "https://w3id.org/ro/terms/workflow-run/context"
#: default image name in the recipes (the user's registry and name go there)
IMAGE = "registry.example.org/you/{name}:latest"


@dataclass(frozen=True)
class BundleFile:
    source: str  # absolute path
    dest: str  # path inside the bundle, "data/<path relative to root>"
    size: int


@dataclass
class BundlePlan:
    """What a bundle would hold: files inside the root (with sizes) and files left out, with why."""

    root: str
    files: list[BundleFile] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class FileCheck:
    path: str  # as on disk (decoded from the crate's URI): "data/runs/a+b.h5", or an absolute path
    expected: str
    actual: str | None  # None: the file is not in the bundle, or was not read
    #: the crate names it outside the bundle's folder (an absolute path, '..' leading out, a symbolic
    #: link to elsewhere, a URL): it was not read
    outside: bool = False
    #: data left out of the bundle (a file:// URI, as `write_bundle` records it with include_data=False)
    left_out: bool = False

    @property
    def ok(self) -> bool:
        return not self.outside and self.actual == self.expected

    @property
    def status(self) -> str:
        """OK, CHANGED, MISSING (the file is not where the bundle says) or OUTSIDE (not read)."""
        if self.outside:
            return "OUTSIDE"
        return "OK" if self.ok else ("MISSING" if self.actual is None else "CHANGED")


#: why a recorded file is not in a bundle whose files were chosen
NOT_CHOSEN = "not chosen"


def plan_bundle(
    log: ProvenanceLog, root: str | os.PathLike, files: Iterable[str | os.PathLike] | None = None
) -> BundlePlan:
    """The files named by the log's events that still exist inside `root` (real paths, symlinks
    resolved; a file outside the root is never copied). `files` chooses among them (None: all); the
    others are listed in `left_out` as not chosen. A chosen file the log does not name is refused
    (ValueError): a bundle holds what was used."""
    root_real = os.path.realpath(root)
    plan = BundlePlan(root=root_real)
    recorded = log.files()
    chosen = None if files is None else {os.path.realpath(f) for f in files}
    if chosen is not None:
        unknown = chosen - {os.path.realpath(p) for p in recorded}
        if unknown:
            raise ValueError(f"not in the record: {', '.join(sorted(unknown))}")
    for path in recorded:
        real = os.path.realpath(path)
        if os.path.commonpath([root_real, real]) != root_real:
            plan.left_out.append((path, "outside the root folder"))
        elif not os.path.isfile(real):
            plan.left_out.append((path, "no longer exists"))
        elif chosen is not None and real not in chosen:
            if not any(p == real for p, _ in plan.left_out):
                plan.left_out.append((real, NOT_CHOSEN))
        elif not any(f.source == real for f in plan.files):
            rel = Path(os.path.relpath(real, root_real)).as_posix()
            plan.files.append(BundleFile(real, f"data/{rel}", os.path.getsize(real)))
    return plan


#: room for the bundle's own files (notebook, crate, the hpcdash package) besides the data
BUNDLE_OVERHEAD_BYTES = 16 * 2**20


#: how a bundle with its data writes a path inside the session's root folder in its event log
ROOT_IN_LOG = "<root>"


def portable_paths(root: str | os.PathLike) -> Callable[[Any], Any]:
    """A function that rewrites the paths of this machine in an event's JSON (its strings, nested in
    lists and dicts, wherever they appear in a string) for a bundle that carries its data: the root
    folder becomes ``<root>`` (its files are the bundle's ``data/`` folder), the home folder ``~``. A
    bundle shared with others says which runs were used without naming this machine's folders."""
    swaps = [(os.path.realpath(root), ROOT_IN_LOG)]
    if os.path.abspath(root) != swaps[0][0]:
        swaps.append((os.path.abspath(root), ROOT_IN_LOG))
    home = os.path.expanduser("~")
    if home not in ("/", "~") and home != swaps[0][0]:  # the root is tried first where it is in the home
        swaps.append((home, "~"))
    pattern = re.compile("|".join(f"{re.escape(old)}(?=/|$|[^\\w.-])" for old, _ in swaps))
    to = dict(swaps)

    def rewrite(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(lambda m: to[m.group(0)], value)
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        return value

    return rewrite


def needed_bytes(plan: BundlePlan, include_data: bool = True) -> int:
    """Disk space a bundle takes: the data twice when included (the folder and the zip)."""
    return BUNDLE_OVERHEAD_BYTES * 2 + (2 * plan.total_bytes if include_data else 0)


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def default_name(dest: str | os.PathLike | None = None, now: datetime | None = None) -> str:
    """``hpcdash-bundle-<UTC time>``, with ``-2``, ``-3``... when `dest` already has one of that name."""
    base = "hpcdash-bundle-" + (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    name, n = base, 1
    while dest is not None and any((Path(dest) / f"{name}{ext}").exists() for ext in ("", ".zip")):
        n += 1
        name = f"{base}-{n}"
    return name


Progress = Callable[[float, str], None]


def write_bundle(
    plan: BundlePlan,
    dest: str | os.PathLike,
    *,
    log: ProvenanceLog,
    views: list[dict[str, str]] | None = None,
    include_data: bool = True,
    name: str | None = None,
    title: str = "",
    license: str = "",
    author: str = "",
    orcid: str = "",
    affiliation: str = "",
    progress: Progress | None = None,
    warn: Callable[[str], None] | None = None,
) -> Path:
    """Write the bundle folder `dest/name/` and `dest/name.zip`; returns the zip's path.

    `views`: the explorer's views as URL query dicts (`ExplorerState.to_query()`, file paths relative to
    the root), reopened by the notebook. `license`: an SPDX identifier (e.g. ``CC-BY-4.0``) for the
    bundle's content, or "" (the crate then says none was chosen). `author` (a name) and `orcid` (an
    ORCID iD, ``0000-0002-1825-0097`` or its https://orcid.org/ address) name who made it in the crate
    (default: this machine's login name; an iD that is not one raises ValueError before anything is
    written). `affiliation`: the author's organisation, its name and, if wished, its ROR address
    (``California Digital Library https://ror.org/03yrm5c26``), which is then its identifier; it is the crate's
    publisher too. `include_data=False` records the
    files (path, size, sha256) without copying them. `progress(fraction, text)` is called as the work
    goes (hashing and copying take most of it). A data file hpcdash cannot open as HDF5 (not HDF5,
    empty, truncated...) is bundled all the same (it is what the session used), with a warning naming it
    and why, in the app's words: passed to `warn(text)` as it is found, and written in the README. Written
    under temporary names and renamed at the end: a failed export leaves no half bundle."""
    person = author_entity(author, orcid)
    organisation = affiliation_entity(affiliation)
    name = _safe_name(name or default_name(dest))
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    final, zip_path = dest / name, dest / f"{name}.zip"
    if final.exists() or zip_path.exists():
        raise FileExistsError(f"{final} already exists")
    need = needed_bytes(plan, include_data)
    free = shutil.disk_usage(dest).free
    if need > free:
        raise OSError(
            f"not enough space in {dest}: the bundle needs about {_gb(need)}, {_gb(free)} are free "
            "(leave the data files out to record only their paths and hashes)"
        )
    work = dest / f".{name}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    report = progress or (lambda f, t: None)
    tell = warn or (lambda text: None)
    total = max(1, plan.total_bytes * (2 if include_data else 1))  # zipping reads the copies again
    done = 0

    def advance(n: int, text: str) -> None:
        nonlocal done
        done += n
        report(min(0.99, done / total), text)

    try:
        hashes: dict[str, str] = {}
        warnings: dict[str, str] = {}  # dest -> why hpcdash cannot open it
        for f in plan.files:
            why = hdf5_problem(f.source)
            if why:
                warnings[f.dest] = file_warning(f, why, include_data)
                tell(warnings[f.dest])
            label = f"{'Copying' if include_data else 'Hashing'} {Path(f.source).name}"
            report(done / total, label)
            copy_to = None
            if include_data:
                copy_to = work / f.dest
                copy_to.parent.mkdir(parents=True, exist_ok=True)
            hashes[f.dest] = file_sha256(f.source, lambda n, t=label: advance(n, t), copy_to=copy_to)
        views = distinct_views(views or [])
        meta = {
            "name": name,
            "title": title or "hpcdash session",
            "created": now_iso(),
            "license": license,
            "author": person,
            "affiliation": organisation,
            "included": include_data,
            "platform": describe_platform(),
        }
        shared = portable_paths(plan.root) if include_data else (lambda value: value)
        _write_text(
            work / "provenance.jsonl",
            "".join(json.dumps(shared(e.to_json()), sort_keys=True) + "\n" for e in log.events()),
        )
        _write_text(work / "requirements.txt", "\n".join(pinned_requirements()) + "\n")
        _write_text(work / "runtime.txt", python_runtime() + "\n")
        _copy_package(work / "hpcdash")
        bundled = {f.dest.removeprefix("data/") for f in plan.files} if include_data else set()
        recorded_root = None if include_data else plan.root
        _write_notebook(work / "reproduce.ipynb", meta, views, bundled, recorded_root)
        _write_recipes(work / "hpc", name, recorded_root)
        _write_text(work / "README.md", _readme(meta, plan, include_data, views, log, warnings))
        _write_crate(work, meta, plan, hashes, log, views, include_data, warnings)
        report(done / total, "Writing the zip")
        _zip(work, zip_path, name, lambda n: advance(n, "Writing the zip") if include_data else None)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        zip_path.unlink(missing_ok=True)
        _partial_zip(zip_path).unlink(missing_ok=True)
        raise
    report(1.0, "Done")
    return zip_path


def hdf5_problem(path: str | os.PathLike) -> str | None:
    """Why hpcdash could not open `path` as an HDF5 file, in the sentence the app shows ("'x.h5' is not
    an HDF5 file."); None when it can, or when the file cannot be read at all (then copying it fails and
    says why)."""
    try:
        open_hdf5(path).close()
    except MissingFileError:
        return None
    except VolumeError as err:
        return str(err)
    return None


def file_warning(f: BundleFile, why: str, included: bool = True) -> str:
    """The warning about a data file hpcdash cannot open (`why`, from `hdf5_problem`)."""
    kept = f"it is in the bundle as it was, as {f.dest}" if included else "its path and SHA-256 are recorded"
    return f"{why} {kept[0].upper()}{kept[1:]}, but hpcdash cannot open it."


def distinct_views(views: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """`views` without repeats (the same query shown by two pages: a reloaded one not yet closed, a
    second tab), in their order."""
    out: list[dict[str, str]] = []
    for v in views:
        if v not in out:
            out.append(v)
    return out


def md_text(text: str) -> str:
    """`text` (a title, a file name, an event) as plain text in Markdown: on one line, HTML escaped,
    and the characters that would start emphasis, a link or a code span taken literally."""
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", str(text))
    text = html.escape(text, quote=False)
    text = re.sub(r"([\\`*\[\]])", r"\\\1", text)
    # '_' only where it could start or end emphasis (run_1_final.h5 stays as it is)
    return re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", text)


def md_code(text: str) -> str:
    """`text` (a path) as a Markdown code span that no character of it can end: fenced with one backtick
    more than its longest run, control characters written as escapes."""
    text = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", str(text))
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def verify_bundle(folder: str | os.PathLike, *, recorded_paths: bool = False) -> list[FileCheck]:
    """Recompute the sha256 of every file the bundle's RO-Crate lists with one: the data, the hpcdash
    code in `hpcdash/`, the notebook and the bundle's other files.

    Only files inside `folder` are read. An entry naming a path elsewhere (absolute, with '..' leading
    out, through a symbolic link to elsewhere, or a URL; percent-encoded or not) is never opened: its
    check says OUTSIDE. Data left out of the bundle (its absolute ``file://`` URI) is read at that path
    only with `recorded_paths` (for a bundle you trust: anyone can write any path into a crate)."""
    folder = Path(folder)
    real_folder = os.path.realpath(folder)
    graph = json.loads((folder / "ro-crate-metadata.json").read_text(encoding="utf-8"))["@graph"]
    checks = []
    for ent in graph:
        expected = ent.get("sha256") if isinstance(ent, dict) else None
        if not expected:
            continue
        expected = str(expected)
        ident = ent.get("@id")
        if not isinstance(ident, str):
            checks.append(FileCheck(repr(ident), expected, None, outside=True))
            continue
        uri = urlparse(ident)  # a URI reference: percent-encoded; named as on disk, decoded
        if uri.scheme.lower() == "file" and uri.netloc in ("", "localhost"):
            # data left out of the bundle: its absolute path
            name = unquote(uri.path)
            path = Path(name)
            if not recorded_paths or not path.is_absolute() or "\0" in name:
                checks.append(FileCheck(name, expected, None, outside=True, left_out=True))
                continue
            checks.append(FileCheck(name, expected, file_sha256(path) if path.is_file() else None, left_out=True))
        elif uri.scheme:
            checks.append(FileCheck(unquote(ident), expected, None, outside=True))
        else:
            name = unquote(ident)
            path = _inside(real_folder, name)
            if path is None:
                checks.append(FileCheck(name, expected, None, outside=True))
            else:
                checks.append(FileCheck(name, expected, file_sha256(path) if path.is_file() else None))
    return checks


def _inside(real_folder: str, name: str) -> Path | None:
    """The file `name` (a path relative to the bundle's folder, decoded) names, its symbolic links
    resolved, when it is inside the folder; None when it is elsewhere (absolute, '..' leading out, a link
    to outside) or the folder itself."""
    if not name or "\0" in name or os.path.isabs(name):
        return None
    real = os.path.realpath(os.path.join(real_folder, name))
    if real == real_folder or os.path.commonpath([real_folder, real]) != real_folder:
        return None
    return Path(real)


#: folders of a bundle whose files the crate lists one by one
CHECKED_FOLDERS = ("data", "hpcdash")


def unlisted_files(folder: str | os.PathLike) -> list[str]:
    """Files under the bundle's `data/` and `hpcdash/` that its RO-Crate does not list (added after it
    was written), as paths inside the bundle, compiled Python in `__pycache__` included (the bundle's
    notebook keeps its compiled files elsewhere, `sys.pycache_prefix`, and never reads these). Not
    checked by `verify_bundle`: nothing was recorded of them."""
    folder = Path(folder)
    graph = json.loads((folder / "ro-crate-metadata.json").read_text(encoding="utf-8"))["@graph"]
    listed = {unquote(e["@id"]) for e in graph if isinstance(e, dict) and isinstance(e.get("@id"), str)}
    found = []
    for top in CHECKED_FOLDERS:
        for path in sorted((folder / top).rglob("*")):
            rel = path.relative_to(folder).as_posix()
            if path.is_file() and rel not in listed:
                found.append(rel)
    return found


# ---------------------------------------------------------------------------------------------- parts
def _safe_name(name: str) -> str:
    clean = filename_part(name)
    if not clean:
        raise ValueError(f"{name!r} is not usable as a bundle name")
    return clean


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _copy_package(dst: Path) -> None:
    src = Path(__file__).resolve().parents[1]
    shutil.copytree(
        src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "labextension", "benchmarks")
    )


def _partial_zip(zip_path: Path) -> Path:
    return zip_path.with_name(zip_path.name + ".partial")


def _zip(folder: Path, zip_path: Path, name: str, advance: Callable[[int], None]) -> None:
    """Entries under `name/`, sorted; HDF5 files stored as they are (compressing them again costs
    time and gains little), the rest deflated."""
    tmp = _partial_zip(zip_path)
    with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder).as_posix()
            stored = rel.startswith("data/") or path.suffix.lower() in HDF5_SUFFIXES
            zf.write(
                path, f"{name}/{rel}", compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            )
            if rel.startswith("data/"):
                advance(path.stat().st_size)
    tmp.rename(zip_path)


def _view_files(view: dict[str, str]) -> list[str]:
    return [v for k, v in sorted(view.items()) if re.fullmatch(r"file\d*", k)]


#: The notebook's first cell: the crate's sha256 list checked with the standard library alone (the same
#: list `verify_bundle` reads), so a changed file of the bundled hpcdash code cannot vouch for itself.
_CHECK_CELL = """\
import hashlib
import json
from pathlib import Path
from urllib.parse import unquote, urlparse


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


graph = json.loads(Path("ro-crate-metadata.json").read_text(encoding="utf-8"))["@graph"]
checked, bad, code = 0, 0, 0
for ent in (e for e in graph if e.get("sha256")):
    ident = ent["@id"]  # data left out of the bundle: its absolute file:// URI
    path = Path(unquote(urlparse(ident).path) if ident.startswith("file://") else unquote(ident))
    actual = sha256(path) if path.is_file() else None
    status = "OK" if actual == ent["sha256"] else ("MISSING" if actual is None else "CHANGED")
    in_code = path.as_posix().startswith("hpcdash/")
    checked, bad, code = checked + 1, bad + (status != "OK"), code + in_code
    if status != "OK" or not in_code:
        print(f"{status:8} {path}")
print(f"{checked - bad} of {checked} files match their recorded sha256 ({code} of them the hpcdash code)")
if bad:
    raise RuntimeError(f"{bad} file(s) differ from the record: the views below would not be the ones recorded")
"""


def _write_notebook(path: Path, meta: dict, views: list[dict[str, str]], bundled: set[str] | None = None,
                    recorded_root: str | None = None) -> None:
    """reproduce.ipynb: the hash check, then one cell per view; `bundled`: the data files in the
    bundle (relative to its data/ folder; None: all), so that a view's heading names those it lacks;
    `recorded_root`: for a bundle made without its data, the folder it was recorded in, where the views
    read it unless a data/ folder has been put beside the notebook."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    cells = [
        new_markdown_cell(
            f"# {md_text(meta['title'])}\n\nBundle `{meta['name']}`, recorded {meta['created']} with hpcdash. "
            "Run all cells: the first checks that every file, data and the hpcdash code in `hpcdash/`, is "
            "the one recorded (sha256), with the standard library alone, before that code is imported; "
            "it stops there when one differs. The next reopen the views as they were."
        ),
        new_code_cell(_CHECK_CELL),
        # inline: BokehJS and Panel's JavaScript travel in the notebook, so the views show on a compute
        # node or in an offline container too (by default they come from cdn.bokeh.org)
        new_code_cell(
            "import os\nimport sys\nimport tempfile\nfrom pathlib import Path\n\n"
            "# the hpcdash code checked above, in this folder, before any other copy (PYTHONPATH, site-packages);\n"
            "# compiled code (Python's and Numba's) in a cache of this session only, never one found in the\n"
            "# bundle's __pycache__ folders, which could run instead of the checked source\n"
            "sys.pycache_prefix = tempfile.mkdtemp(prefix='hpcdash-pycache-')\n"
            "os.environ['NUMBA_CACHE_DIR'] = sys.pycache_prefix\n"
            "sys.path.insert(0, str(Path.cwd()))\n\n"
            "import panel as pn\n\nimport hpcdash\n\npn.extension(inline=True)\n\n"
            + ("# the views' files: this bundle's data/ folder\nDATA = 'data'" if recorded_root is None else
               "# made without its data: the views read it where it was recorded (the files checked above),\n"
               "# or from a data/ folder put beside this notebook (the same paths below it)\n"
               f"DATA = 'data' if Path('data').is_dir() else {recorded_root!r}\nprint('data from', DATA)")
        ),
    ]
    for i, view in enumerate(views, start=1):
        files = ", ".join(md_code(f) for f in _view_files(view)) or "no file"
        lacking = [f for f in _view_files(view) if bundled is not None and f not in bundled]
        note = ("\n\nNot in this bundle (left out when it was made), so its pane says it does not exist: "
                + ", ".join(md_code(f) for f in lacking) + ".") if lacking and recorded_root is None else ""
        cells.append(new_markdown_cell(f"## View {i}: {files}{note}"))
        cells.append(
            new_code_cell(
                f"view_{i} = hpcdash.SliceExplorer(root=DATA)\n"
                f"view_{i}.state.apply_query({json.dumps(view, sort_keys=True)})\n"
                f"view_{i}"
            )
        )
    nb = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    nbformat.write(nb, str(path))


def local_commands(python: str | None = None, data: str = "data") -> list[str]:
    """The commands that open a bundle without containers, from its folder (README.md and
    hpc/RECIPES.md both give these); `data`: the folder of the views' files (a bundle made without
    them: where they were recorded). requirements.txt pins what ran hpcdash, which a notebook front end
    was not part of: JupyterLab and a kernel are installed next to it, at their newest versions."""
    python = python or python_runtime().replace("-", "")
    return [
        f"{python} -m venv venv && venv/bin/pip install -r requirements.txt jupyterlab ipykernel",
        "venv/bin/jupyter lab reproduce.ipynb                  # the notebook: checks, then the views",
        f"venv/bin/python -m hpcdash serve --root {shlex.quote(data)}" + " " * max(1, 10 - len(shlex.quote(data)) + 4)
        + "# or the app, on http://127.0.0.1:5006",
    ]


def _write_recipes(folder: Path, name: str, recorded_root: str | None = None) -> None:
    image = IMAGE.format(name=name.lower())
    local = "\n".join(f"    {c}" for c in local_commands(data=recorded_root or "data"))
    data_bind = '"$PWD/data' if recorded_root is None else '"' + recorded_root.replace('"', '\\"')
    no_data = "" if recorded_root is None else (
        f"\n\nThis bundle was made without its data: the commands below read it where it was recorded,\n"
        f"`{recorded_root}`, which a container sees when it is bound to `/srv/repo/data` (Shifter\n"
        f"`--volume={recorded_root}:/srv/repo/data`, podman-hpc `-v {recorded_root}:/srv/repo/data`, Apptainer\n"
        f"`--bind {recorded_root}:/srv/repo/data`, as `hpc/slurm-hpcdash.sh` does), or copied into `data/`.")
    _write_text(
        folder / "apptainer.def",
        f"""Bootstrap: docker
From: {image}

%labels
    org.hpcdash.bundle {name}

%environment
    export PATH=/srv/conda/envs/notebook/bin:/srv/conda/bin:$PATH
    export PYTHONPATH=/srv/repo:$PYTHONPATH

%runscript
    cd /srv/repo && exec python -m hpcdash serve --root /srv/repo/data --address 127.0.0.1 "$@"
""",
    )
    _write_text(
        folder / "slurm-hpcdash.sh",
        f"""#!/bin/bash
#SBATCH --job-name=hpcdash
#SBATCH --time=01:00:00
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
# Serves this bundle's views on a compute node from the Apptainer image (see RECIPES.md).
# Listening on the node's network address, hpcdash asks every browser for a token: a random one,
# printed at start in a http://<node>:5006/login?token=... link in this job's output file. Other
# users may be able to read that file, so keep it in a folder only you can open:
#   mkdir -p -m 700 ~/hpcdash-jobs && sbatch --output="$HOME/hpcdash-jobs/%j.out" hpc/slurm-hpcdash.sh
# (or export HPCDASH_TOKEN before sbatch: a token given is not printed). To reach the app
# from your computer, tunnel to the node (the line below prints its name) through a login node:
#   ssh -L 5006:<node>:5006 <login node>
# then open the token link with 127.0.0.1 in place of the node's name.
set -euo pipefail
echo "hpcdash on $(hostname):5006; from your computer: ssh -L 5006:$(hostname):5006 <login node>"
apptainer exec --bind {data_bind}:/srv/repo/data" {name}.sif \\
    python -m hpcdash serve --root /srv/repo/data --address 0.0.0.0 --port 5006
""",
    )
    _write_text(
        folder / "RECIPES.md",
        f"""# Running this bundle on an HPC system

The bundle folder is a Binder repository: repo2docker builds a Docker image of it, which Shifter,
podman-hpc or Apptainer then run on the HPC system. Replace `{image}` with your registry and name.
Every command below runs from inside the bundle folder (`cd {name}` after unpacking it).{no_data}

## 1. Build the image (a machine with Docker)
    pip install jupyter-repo2docker
    repo2docker --no-run --user-id 1000 --user-name jovyan --target-repo-dir /srv/repo \\
        --image-name {image} .
    docker push {image}

`--target-repo-dir /srv/repo` keeps the bundle outside `$HOME`, which HPC runtimes replace with yours.

## 2a. Shifter (e.g. NERSC)
    shifterimg pull docker:{image}
    shifter --image=docker:{image} bash -c "cd /srv/repo && python -m hpcdash serve --root data"
In a batch job: `#SBATCH --image=docker:{image}` and
`srun shifter bash -c "cd /srv/repo && python -m hpcdash serve --root data --address 0.0.0.0"`
(on a network address hpcdash asks browsers for a token: see `hpc/slurm-hpcdash.sh` on keeping it private).

## 2b. podman-hpc (e.g. Perlmutter)
    podman-hpc pull {image}
    podman-hpc migrate {image}
    podman-hpc run --rm -p 5006:5006 {image} bash -c "cd /srv/repo && python -m hpcdash serve --root data --address 0.0.0.0"

## 2c. Apptainer / Singularity
    apptainer build {name}.sif hpc/apptainer.def     # from the pushed image, with hpcdash as its command
    apptainer run --bind {data_bind}:/srv/repo/data" {name}.sif   # serves the data on 127.0.0.1:5006
    sbatch hpc/slurm-hpcdash.sh                       # the same on a compute node
An image pulled as it is (`apptainer build {name}.sif docker://{image}`) keeps repo2docker's command
(Jupyter on 0.0.0.0:8888); with it, name the command:
`apptainer exec {name}.sif bash -c "cd /srv/repo && python -m hpcdash serve --root data"`.

## Where it writes
Sweeps go to `<root>/runs` and new bundles to `<root>/bundles`: an image is read-only, so the data folder
is bound from outside, as above (`--bind`; Shifter `--volume`, podman-hpc `-v`). The provenance record is
kept in `$XDG_STATE_HOME/hpcdash` (default `~/.local/state/hpcdash`): Shifter and Apptainer see your home
folder; with `podman-hpc run --rm` bind a folder of yours there (`-e XDG_STATE_HOME=/state -v
$HOME/.local/state:/state`), or it goes with the container.

## Without containers
{local}

`requirements.txt` pins the packages that ran hpcdash; JupyterLab and ipykernel are not among them, so
they are installed next to them.
""",
    )


def _cluster_of_runs(log: ProvenanceLog) -> dict[int, str]:
    """For each "run" event (by id), the cluster it ran on, in words: the request of the last cluster
    started before it and the batch jobs submitted since then (the workers that may have run it)."""
    out: dict[int, str] = {}
    request: dict | None = None
    jobs: list[str] = []
    for e in log.events():
        if e.kind == "cluster" and e.summary.startswith("Started"):
            request, jobs = dict(e.details.get("request") or {}), []
        elif e.kind == "cluster" and e.details.get("job_id") and e.summary.startswith("Submitted job"):
            jobs.append(str(e.details["job_id"]))
        elif e.kind == "cluster" and e.summary == "Closed the cluster":
            request = None
        elif e.kind == "run" and request is not None:
            keys = ("backend", "queue", "cores", "memory", "walltime", "account")
            text = ", ".join(f"{k} {request[k]}" for k in keys if request.get(k) not in (None, ""))
            out[id(e)] = text + (f"; batch jobs {', '.join(jobs)}" if jobs else "")
    return out


def _readme(
    meta: dict,
    plan: BundlePlan,
    included: bool,
    views: list[dict[str, str]],
    log: ProvenanceLog,
    warnings: dict[str, str] | None = None,
) -> str:
    """The bundle's README.md. Every name in it (the title, files, events) may be anyone's text: in code
    spans no character can end (`md_code`), or escaped (`md_text`)."""
    warnings = warnings or {}
    lines = [
        # a '#' ending the title would end the heading instead
        "# " + re.sub(r"#+$", lambda m: "\\#" * len(m.group()), md_text(meta["title"])),
        "",
        f"A reproducible bundle of an hpcdash session, written {meta['created']} "
        f"(Python {meta['platform']['python']} on {meta['platform']['system']}).",
        "",
        "## Open it",
        "",
        "- **Binder**: put this folder in a git repository and open it on mybinder.org (or any "
        "BinderHub); open `reproduce.ipynb` and run all cells.",
        "- **A laptop** (or any machine, without containers), from this folder: "
        "`requirements.txt` pins the packages that ran hpcdash, JupyterLab and a kernel are installed "
        "next to them:",
        "",
        *(f"      {c}" for c in local_commands(data="data" if included else plan.root)),
        "",
        "- **An HPC system**: see `hpc/RECIPES.md` (repo2docker image, then Shifter, podman-hpc or "
        "Apptainer; a SLURM job script is in `hpc/`).",
        "",
        "## Files",
        "",
    ]
    for f in plan.files:
        lines.append(
            f"- {md_code(f.dest)} ({f.size:,} bytes)"
            + ("" if included else f": not included; recorded at {md_code(f.source)}")
            + (" (**warning**: hpcdash cannot open it, see below)" if f.dest in warnings else "")
        )
    for path, why in plan.left_out:
        shown = shown_path(os.path.realpath(path), plan.root)
        lines.append(f"- {md_code(shown)}: not in the bundle ({md_text(why)})")
    if not plan.files and not plan.left_out:
        lines.append("- no data files were used")
    lines += [
        "",
        f"Views recorded: {len(views)}. The sha256 of every file, data and the hpcdash code in `hpcdash/`, "
        "is in `ro-crate-metadata.json`; the first cell of `reproduce.ipynb` checks them, and so does "
        "`hpcdash verify <this folder>`"
        + ("." if included else " (with `--recorded-paths`, the data at its recorded paths too)."),
        "",
    ]
    if warnings:
        lines += [
            "## Warnings",
            "",
            "These files were bundled as they were, but hpcdash could not open them as HDF5 when the bundle "
            "was written: the views may not reopen them.",
            "",
            *(f"- {md_code(dest)}: {md_text(text)}" for dest, text in warnings.items()),
            "",
        ]
    events = log.events()
    if events:
        lines += [
            "## What was done",
            "",
            f"All {len(events)} events, in order; a run of files opened, views or downloads shares a line. "
            "`provenance.jsonl` has each with its details (paths, datasets, parameters, hashes)"
            + (f"; its paths inside the session's root folder start with `{ROOT_IN_LOG}/` (the files of "
               "`data/`), those in the home folder with `~/`." if included else "."),
            "",
        ]
        lines += _done_lines(events)
        lines.append("")
    return "\n".join(lines)


#: kinds of event that come many at a time: consecutive ones share a line of the README
_GROUPED = {"open": "Opened", "view": "Views", "export": "Downloaded"}
#: at most this many summaries on a grouped line; the rest are counted
_GROUP_SHOWN = 8


def _done_lines(events: list) -> list[str]:
    """Markdown bullets of every event: one per cluster step, run and bundle, one per run of consecutive
    events of a grouped kind ("Opened a.h5 /x; b.h5 /x")."""
    out: list[str] = []
    i = 0
    while i < len(events):
        e = events[i]
        j = i + 1
        if e.kind in _GROUPED:
            while j < len(events) and events[j].kind == e.kind:
                j += 1
        group = events[i:j]
        if len(group) == 1:
            out.append(f"- {md_text(e.time)}: {md_text(e.summary)}")
        else:
            word = _GROUPED[e.kind]
            names = [
                md_text(g.summary.removeprefix(word).strip() if e.kind != "view" else g.summary) for g in group
            ]
            more = len(names) - _GROUP_SHOWN
            text = "; ".join(names[:_GROUP_SHOWN]) + (f"; and {more} more" if more > 0 else "")
            label = f"{word} ({len(group)})" if e.kind != "view" else f"{len(group)} views"
            when = md_text(group[0].time + (f" to {group[-1].time}" if group[-1].time != group[0].time else ""))
            out.append(f"- {when}: {label}: {text}")
        i = j
    return out


def _write_crate(
    folder: Path,
    meta: dict,
    plan: BundlePlan,
    hashes: dict[str, str],
    log: ProvenanceLog,
    views: list[dict[str, str]],
    included: bool,
    warnings: dict[str, str] | None = None,
) -> None:
    from rocrate.model.contextentity import ContextEntity
    from rocrate.model.person import Person
    from rocrate.rocrate import ROCrate

    import hpcdash

    crate = ROCrate(version="1.1")
    crate.metadata.extra_contexts.append(WORKFLOW_RUN_CONTEXT)
    root = crate.root_dataset
    root["name"] = meta["title"]
    root["description"] = (
        f"Files, views and runs of an hpcdash session, with the software that ran "
        f"({python_runtime()}, requirements.txt) and a notebook that reproduces the views."
    )
    root["conformsTo"] = crate.add(
        ContextEntity(
            crate,
            PROCESS_RUN_CRATE,
            properties={"@type": "CreativeWork", "name": "Process Run Crate", "version": "0.5"},
        )
    )
    root["license"] = crate.add(_license_entity(crate, meta["license"]))
    # the code that ran is in the bundle itself (hpcdash/), so the application has no web address
    app = crate.add(
        ContextEntity(
            crate,
            "#hpcdash",
            properties={
                "@type": "SoftwareApplication",
                "name": "hpcdash",
                "version": hpcdash.__version__,
                "description": "The hpcdash package, included in this bundle's hpcdash/ folder.",
            },
        )
    )
    person = meta.get("author") or author_entity()
    agent = crate.add(Person(crate, person["@id"], properties={k: v for k, v in person.items() if k != "@id"}))
    root["author"] = agent
    organisation = meta.get("affiliation")
    if organisation:
        # the author's organisation publishes what its member made (no organisation given: no publisher)
        org = crate.add(ContextEntity(crate, organisation["@id"],
                                      properties={k: v for k, v in organisation.items() if k != "@id"}))
        agent["affiliation"] = org
        root["publisher"] = org

    by_source: dict[str, Any] = {}
    for f in plan.files:
        props = {
            "name": Path(f.source).name,
            "contentSize": str(f.size),
            "sha256": hashes[f.dest],
            "encodingFormat": "application/x-hdf5"
            if f.source.lower().endswith(HDF5_SUFFIXES)
            else "application/octet-stream",
        }
        if f.dest in (warnings or {}):
            props["description"] = (warnings or {})[f.dest]
        if included:
            ent = crate.add_file(folder / f.dest, dest_path=f.dest, properties=props)
        else:
            # a data entity outside the crate, named by its absolute URI (listed in hasPart like the others)
            ent = crate.add_file(
                Path(f.source).as_uri(),
                fetch_remote=False,
                properties={
                    **props,
                    "description": " ".join(
                        ["Not included in the bundle: recorded at this path.", props.get("description", "")]
                    ).strip(),
                },
            )
        by_source[f.source] = ent
    notebook = crate.add_file(
        folder / "reproduce.ipynb",
        dest_path="reproduce.ipynb",
        properties={
            "@type": ["File", "SoftwareSourceCode"],
            "name": "Reproduce the views",
            "version": "1",
            "encodingFormat": "application/x-ipynb+json",
            "sha256": file_sha256(folder / "reproduce.ipynb"),
        },
    )
    _add_code(crate, folder, app)
    for rel, what, fmt in (
        ("provenance.jsonl", "Event log of the session", "application/jsonl"),
        ("requirements.txt", "Exact versions of the Python packages that ran", "text/plain"),
        ("runtime.txt", "Python version (Binder)", "text/plain"),
        ("README.md", "How to open this bundle", "text/markdown"),
        ("hpc/RECIPES.md", "Container recipes for HPC systems", "text/markdown"),
        ("hpc/apptainer.def", "Apptainer definition", "text/plain"),
        ("hpc/slurm-hpcdash.sh", "SLURM job script", "text/x-shellscript"),
    ):
        crate.add_file(
            folder / rel,
            dest_path=rel,
            properties={"name": what, "encodingFormat": fmt, "sha256": file_sha256(folder / rel)},
        )

    def entities(paths) -> list:
        out = []
        for p in paths:
            ent = by_source.get(os.path.realpath(p))
            if ent is not None and ent not in out:
                out.append(ent)
        return out

    actions = []
    for i, view in enumerate(views, start=1):
        files = [os.path.join(plan.root, v) for v in _view_files(view)]
        objs = entities(files)
        prop = crate.add(
            ContextEntity(
                crate,
                f"#view-{i}-query",
                properties={
                    "@type": "PropertyValue",
                    "name": "view",
                    "value": json.dumps(view, sort_keys=True),
                },
            )
        )
        actions.append(
            _action(
                crate,
                f"View {i} in the slice explorer",
                app,
                agent,
                [*objs, prop],
                [notebook],
                meta["created"],
                meta["created"],
                "Slices of these files as they were shown; reproduce.ipynb opens them again.",
            )
        )
    cluster_of = _cluster_of_runs(log)
    for e in log.events("run"):
        params = [
            crate.add(
                ContextEntity(
                    crate,
                    f"#{uuid.uuid4()}",
                    properties={"@type": "PropertyValue", "name": str(k), "value": str(v)},
                )
            )
            for k, v in sorted((e.details.get("parameters") or {}).items())
        ]
        where = cluster_of.get(id(e))
        if where:
            params.append(
                crate.add(
                    ContextEntity(
                        crate,
                        f"#{uuid.uuid4()}",
                        properties={"@type": "PropertyValue", "name": "cluster", "value": where},
                    )
                )
            )
        results = entities(e.paths)
        actions.append(
            _action(
                crate,
                e.summary,
                app,
                agent,
                params,
                results,
                e.details.get("started", e.time),
                e.time,
                "A forward-model run of a sweep, with its parameters and output file.",
            )
        )
    if actions:
        root["mentions"] = actions if len(actions) > 1 else actions[0]
    crate.write(folder)


def _add_code(crate, folder: Path, app) -> None:
    """The bundled hpcdash code (`hpcdash/`) as a dataset whose files carry their sha256, like the data's,
    so that `verify_bundle` and the notebook check the code that will run too."""
    import mimetypes

    from rocrate.model.dataset import Dataset

    import hpcdash

    code = crate.add(
        Dataset(
            crate,
            dest_path="hpcdash/",
            properties={
                "@type": ["Dataset", "SoftwareSourceCode"],
                "name": "The hpcdash code that ran",
                "version": hpcdash.__version__,
                "description": "The hpcdash package as it was when the bundle was written; "
                "reproduce.ipynb imports it from here.",
            },
        )
    )
    parts = []
    for path in sorted(p for p in (folder / "hpcdash").rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        fmt = "text/x-python" if path.suffix == ".py" else mimetypes.guess_type(path.name)[0]
        parts.append(
            crate.add_file(
                path,
                dest_path=rel,
                properties={
                    "name": rel,
                    "encodingFormat": fmt or "application/octet-stream",
                    "sha256": file_sha256(path),
                },
            )
        )
    code["hasPart"] = parts
    code["targetProduct"] = app  # schema.org: the application this source code is of


#: licenses offered for a bundle's content (SPDX identifier -> name)
LICENSES = {
    "CC-BY-4.0": "Creative Commons Attribution 4.0 International",
    "CC0-1.0": "Creative Commons Zero v1.0 Universal",
    "CC-BY-SA-4.0": "Creative Commons Attribution Share Alike 4.0 International",
}


def _license_entity(crate, spdx: str):
    from rocrate.model.contextentity import ContextEntity

    if spdx:
        return ContextEntity(
            crate,
            f"https://spdx.org/licenses/{spdx}",
            properties={"@type": "CreativeWork", "name": LICENSES.get(spdx, spdx), "identifier": spdx},
        )
    return ContextEntity(
        crate,
        "#license",
        properties={
            "@type": "CreativeWork",
            "name": "No license chosen",
            "description": "Whoever wrote this bundle chose no license: ask them before reusing its content.",
        },
    )


def _action(
    crate, name: str, instrument, agent, objects: list, results: list, start: str, end: str, description: str
):
    from rocrate.model.contextentity import ContextEntity

    props: dict[str, Any] = {
        "@type": "CreateAction",
        "name": name,
        "description": description,
        "startTime": start,
        "endTime": end,
        "actionStatus": "http://schema.org/CompletedActionStatus",
    }
    action = crate.add(ContextEntity(crate, f"#{uuid.uuid4()}", properties=props))
    action["instrument"] = instrument
    action["agent"] = agent
    if objects:
        action["object"] = objects if len(objects) > 1 else objects[0]
    if results:
        action["result"] = results if len(results) > 1 else results[0]
    return action


_ORCID_ADDRESS = re.compile(r"^(?:https?://)?(?:www\.)?orcid\.org/", re.IGNORECASE)


def author_entity(author: str = "", orcid: str = "") -> dict[str, str]:
    """Who made a bundle, as the crate's Person: `author` (default: this machine's login name) and,
    when given, the ORCID iD (its https://orcid.org/ address is then the person's identifier; its
    check digit is verified). Raises ValueError for an iD that is not one."""
    name = " ".join(str(author).split()) or _user()
    given = str(orcid).strip()
    if not given:
        return {"@id": "#author", "@type": "Person", "name": name}
    # as typed or copied: with or without its address, dashes, a lower-case x or a trailing slash
    digits = _ORCID_ADDRESS.sub("", given).rstrip("/").replace("-", "").upper()
    ident = "-".join(digits[i:i + 4] for i in range(0, 16, 4))
    if not re.fullmatch(r"\d{15}[\dX]", digits) or not _orcid_checks(ident):
        raise ValueError(f"{given!r} is not an ORCID iD (16 digits in groups of 4 with its check digit, such as "
                         "0000-0002-1825-0097).")
    return {"@id": f"https://orcid.org/{ident}", "@type": "Person", "name": name}


_ROR = re.compile(r"(?:https?://)?(?:www\.)?ror\.org/([0-9a-z]*)/?", re.IGNORECASE)
#: a ROR identifier: 0, six characters of Crockford's base 32 (no i, l, o, u), two check digits
_ROR_ID = re.compile(r"0[0-9a-hjkmnp-tv-z]{6}[0-9]{2}")
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def _ror_checks(ident: str) -> bool:
    """The ISO 7064 97-10 check digits of a ROR identifier (of its first 7 characters read in base 32)."""
    number = 0
    for c in ident[:7]:
        number = number * 32 + _CROCKFORD.index(c)
    return 98 - (number * 100) % 97 == int(ident[7:])


def affiliation_entity(affiliation: str = "", strict: bool = True) -> dict[str, str] | None:
    """The author's organisation as the crate's Organization, or None when none is given: its name
    and, when the text holds a ROR address (``https://ror.org/03yrm5c26``, with or without https://),
    that address as its identifier (its form and check digits are verified). Raises ValueError for a
    ror.org address that is not one (``strict=False``: the name alone; None without a name)."""
    text = " ".join(str(affiliation).split())
    if not text:
        return None
    found = _ROR.search(text)
    if found is None:
        return {"@id": "#affiliation", "@type": "Organization", "name": text}
    ident = found.group(1).lower()
    name = (text[:found.start()] + " " + text[found.end():]).strip(" ,;()[]<>-")
    if not (_ROR_ID.fullmatch(ident) and _ror_checks(ident)):
        if not strict:
            return {"@id": "#affiliation", "@type": "Organization", "name": " ".join(name.split())} if name else None
        raise ValueError(f"{found.group(0)!r} is not a ROR identifier (https://ror.org/ followed by 9 characters "
                         "with their check digits, such as https://ror.org/03yrm5c26).")
    address = f"https://ror.org/{ident}"
    return {"@id": address, "@type": "Organization", "name": " ".join(name.split()) or address}


def _orcid_checks(ident: str) -> bool:
    """The ISO 7064 11,2 check digit of an ORCID iD."""
    digits = ident.replace("-", "")
    total = 0
    for d in digits[:-1]:
        total = (total + int(d)) * 2
    check = (12 - total % 11) % 11
    return digits[-1] == ("X" if check == 10 else str(check))


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "unknown user"
