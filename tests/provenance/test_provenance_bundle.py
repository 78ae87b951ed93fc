"""The provenance log and the reproducible bundle, against the real tools: roc-validator (offline, with
the JSON-LD contexts vendored here), repo2docker's build-pack detection, and nbclient running the
bundle's notebook in a fresh folder."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import hpcdash
from hpcdash.provenance import (
    ProvenanceLog,
    file_sha256,
    plan_bundle,
    unlisted_files,
    verify_bundle,
    write_bundle,
)
from tests.ui.hdf5_files import write_run

CONTEXTS = {
    "https://w3id.org/ro/crate/1.1/context": Path(__file__).parent
    / "rocrate-contexts/ro-crate-1.1-context.jsonld",
    "https://w3id.org/ro/terms/workflow-run/context": Path(__file__).parent
    / "rocrate-contexts/workflow-run-context.json",
}


@pytest.fixture()
def session(tmp_path: Path) -> tuple[Path, ProvenanceLog]:
    """A root with two runs and a log of a session that opened them and ran one of them."""
    root = tmp_path / "root"
    (root / "runs").mkdir(parents=True)
    a, b = write_run(root / "runs" / "a.h5", 1, 10.0), write_run(root / "runs" / "b.h5", 2, 100.0)
    log = ProvenanceLog(root / ".hpcdash" / "provenance.jsonl")
    log.record("open", "Opened a.h5", paths=[a], dataset="/model/conductivity")
    log.record("open", "Opened b.h5", paths=[b], dataset="/model/conductivity")
    log.record(
        "run",
        "Forward model, source_x = -100",
        paths=[b],
        parameters={"source_x": -100.0, "core_cells": 24},
        started="2026-11-30T10:00:00+00:00",
    )
    return root, log


def seeded_validator_cache(folder: Path) -> str:
    """A requests-cache database answering the two JSON-LD context URLs from the vendored files
    (the validator fetches them; this machine may have no internet)."""
    from requests.adapters import BaseAdapter
    from requests.models import Response
    from requests_cache import CachedSession
    from urllib3 import HTTPResponse

    class LocalFiles(BaseAdapter):
        def send(self, request, **kw):
            body = CONTEXTS[request.url].read_bytes()
            raw = HTTPResponse(
                body=io.BytesIO(body),
                status=200,
                preload_content=False,
                headers={"Content-Type": "application/ld+json"},
                request_url=request.url,
            )
            r = Response()
            r.status_code, r.raw, r.url, r.request, r.encoding = 200, raw, request.url, request, "utf-8"
            r.headers.update(raw.headers)
            return r

        def close(self):
            pass

    cache = str(folder / "http_cache")
    s = CachedSession(
        cache_name=cache,
        backend="sqlite",
        allowable_methods=("GET",),
        allowable_codes=(200,),
        expire_after=-1,
    )
    s.mount("https://w3id.org/", LocalFiles())
    for url in CONTEXTS:
        assert s.get(url, headers={"Accept": "application/ld+json, application/json"}).status_code == 200
    return cache


def validate(crate: Path, cache: str) -> list[str]:
    from rocrate_validator import models, services

    settings = models.ValidationSettings(
        rocrate_uri=str(crate),
        profile_identifier="process-run-crate-0.5",
        requirement_severity=models.Severity.REQUIRED,
        offline=True,
        cache_path=cache,
    )
    result = services.validate(settings)
    return [f"{i.check.identifier}: {i.message}" for i in result.get_issues()]


def test_log_is_mirrored_to_a_file_and_read_back(tmp_path: Path):
    log = ProvenanceLog(tmp_path / "log" / "events.jsonl")
    heard = []
    log.on_record(heard.append)
    e = log.record(
        "open", "Opened <b>x</b>.h5", paths=[tmp_path / "x.h5"], shape=np.array([2, 3]), index=np.int64(4)
    )
    assert heard == [e] and e.details == {"shape": [2, 3], "index": 4}
    with pytest.raises(ValueError, match="unknown event kind"):
        log.record("deleted", "nope")
    (tmp_path / "log" / "events.jsonl").open("a").write("not json\n")
    again = ProvenanceLog.read(tmp_path / "log" / "events.jsonl")
    assert again.events() == log.events() and again.files() == [str(tmp_path / "x.h5")]


def test_plan_keeps_only_existing_files_inside_the_root(session, tmp_path: Path):
    root, log = session
    outside = write_run(tmp_path / "secret.h5", 9, 1.0)
    (root / "link.h5").symlink_to(outside)
    log.record("open", "Opened link.h5", paths=[root / "link.h5"])
    log.record("open", "Opened gone.h5", paths=[root / "gone.h5"])
    plan = plan_bundle(log, root)
    assert [f.dest for f in plan.files] == ["data/runs/a.h5", "data/runs/b.h5"]
    assert plan.total_bytes == sum(os.path.getsize(root / "runs" / n) for n in ("a.h5", "b.h5"))
    assert dict(plan.left_out) == {
        str(root / "link.h5"): "outside the root folder",
        str(root / "gone.h5"): "no longer exists",
    }


def test_bundle_is_a_valid_process_run_crate_with_the_files_hashes(session, tmp_path: Path):
    root, log = session
    steps = []
    z = write_bundle(
        plan_bundle(log, root),
        tmp_path / "out",
        log=log,
        name="b1",
        license="CC-BY-4.0",
        views=[{"file": "runs/a.h5", "file2": "runs/b.h5", "axis": "z", "slice": "3"}],
        progress=lambda f, text: steps.append((f, text)),
    )
    folder = z.with_suffix("")
    assert z.name == "b1.zip" and folder.is_dir() and not list((tmp_path / "out").glob(".*partial"))
    assert [f for f, _ in steps] == sorted(f for f, _ in steps) and steps[-1] == (1.0, "Done")
    assert any(t.startswith("Copying a.h5") for _, t in steps)
    # the data files are copied byte for byte, and the crate carries their sha256
    graph = {e["@id"]: e for e in json.loads((folder / "ro-crate-metadata.json").read_text())["@graph"]}
    for name in ("a.h5", "b.h5"):
        assert (
            graph[f"data/runs/{name}"]["sha256"]
            == file_sha256(root / "runs" / name)
            == file_sha256(folder / "data" / "runs" / name)
        )
    run = next(e for e in graph.values() if e.get("name") == "Forward model, source_x = -100")
    assert run["@type"] == "CreateAction" and run["result"] == {"@id": "data/runs/b.h5"}
    params = {graph[o["@id"]]["name"]: graph[o["@id"]]["value"] for o in run["object"]}
    assert params == {"source_x": "-100.0", "core_cells": "24"}
    assert all(c.ok for c in verify_bundle(folder)) and len(verify_bundle(folder)) >= 3
    assert validate(folder, seeded_validator_cache(tmp_path)) == []
    # the zip holds the same folder
    with zipfile.ZipFile(z) as zf:
        names = set(zf.namelist())
    assert {
        "b1/ro-crate-metadata.json",
        "b1/reproduce.ipynb",
        "b1/data/runs/a.h5",
        "b1/hpc/apptainer.def",
        "b1/hpcdash/__init__.py",
        "b1/requirements.txt",
        "b1/runtime.txt",
    } <= names
    # a changed file is reported
    with h5py.File(folder / "data" / "runs" / "a.h5", "r+") as f:
        f["model/conductivity"][0, 0, 0] = 123.0
    bad = [c for c in verify_bundle(folder) if not c.ok]
    assert [c.path for c in bad] == ["data/runs/a.h5"]


def test_a_bundle_without_data_records_where_the_files_are(session, tmp_path: Path):
    root, log = session
    z = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, include_data=False, name="refs")
    folder = z.with_suffix("")
    assert not (folder / "data").exists()
    # data left out is read at its recorded path only when asked (a crate can name any path)
    checks = {c.path: c for c in verify_bundle(folder, recorded_paths=True)}
    assert checks[str(root / "runs" / "a.h5")].ok  # named by its path, not its URI
    unread = {c.path: c for c in verify_bundle(folder)}[str(root / "runs" / "a.h5")]
    assert unread.status == "OUTSIDE" and unread.left_out and unread.actual is None
    assert validate(folder, seeded_validator_cache(tmp_path)) == []


def test_a_bundle_with_its_data_names_no_folder_of_this_machine_in_its_event_log(session, tmp_path: Path,
                                                                                monkeypatch):
    """The event log in a bundle that carries its data writes the root folder as <root> (its files are
    data/) and the home folder as ~; the session's own log and a bundle without data keep the paths."""
    root, log = session
    home = tmp_path / "home" / "jdoe"
    monkeypatch.setenv("HOME", str(home))
    log.record("export", f"Downloaded a.npy to {root / 'runs'}", paths=[root / "runs" / "a.h5"],
               folder=str(root / "runs"), logs=[str(home / ".cache" / "hpcdash" / "w.log")],
               other=f"{root}2/x.h5")
    z = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, include_data=True, name="shared")
    text = (z.with_suffix("") / "provenance.jsonl").read_text()
    events = [json.loads(line) for line in text.splitlines()]
    assert str(tmp_path) not in text.replace(f"{root}2", "")  # a folder beside the root is not the root
    assert events[0]["paths"] == ["<root>/runs/a.h5"]
    last = events[-1]
    assert last["summary"] == "Downloaded a.npy to <root>/runs" and last["details"]["folder"] == "<root>/runs"
    assert last["details"]["logs"] == ["~/.cache/hpcdash/w.log"] and last["details"]["other"] == f"{root}2/x.h5"
    assert "start with `<root>/`" in (z.with_suffix("") / "README.md").read_text()
    assert all(c.ok for c in verify_bundle(z.with_suffix("")))
    assert str(root) in log.path.read_text()  # the session's own record is left as it was
    refs = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, include_data=False, name="refs")
    assert str(root / "runs" / "a.h5") in (refs.with_suffix("") / "provenance.jsonl").read_text()


def test_the_crate_names_its_author_with_an_orcid_id(session, tmp_path: Path):
    """The author and ORCID iD given (the Provenance tab's fields, `hpcdash bundle --author --orcid`)
    name who made the bundle in its crate; an iD whose check digit is wrong is refused before anything
    is written; without them, the login name."""
    from hpcdash.provenance.state import ProvenanceState

    root, log = session
    with pytest.raises(ValueError, match="is not an ORCID iD"):
        write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="bad", orcid="0000-0002-1825-0098")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    z = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="ada", author="  Ada   Lovelace ",
                     orcid="https://orcid.org/0000-0002-1825-0097")
    graph = {e["@id"]: e for e in json.loads((z.with_suffix("") / "ro-crate-metadata.json").read_text())["@graph"]}
    assert graph["./"]["author"] == {"@id": "https://orcid.org/0000-0002-1825-0097"}
    assert graph["https://orcid.org/0000-0002-1825-0097"] == {
        "@id": "https://orcid.org/0000-0002-1825-0097", "@type": "Person", "name": "Ada Lovelace"}
    assert validate(z.with_suffix(""), seeded_validator_cache(tmp_path)) == []
    # from the Provenance tab's state, and its refusal in words
    prov = ProvenanceState(root=str(root), author="Grace Hopper", orcid="0000-0001-5109-3700")
    prov.log.record("open", "Opened a.h5", paths=[root / "runs" / "a.h5"])
    folder = prov.export_bundle(name="grace").with_suffix("")
    people = [e for e in json.loads((folder / "ro-crate-metadata.json").read_text())["@graph"] if e["@type"] == "Person"]
    assert people == [{"@id": "https://orcid.org/0000-0001-5109-3700", "@type": "Person", "name": "Grace Hopper"}]
    from hpcdash.provenance.view import ProvenanceView

    view = ProvenanceView(prov)
    assert not view.orcid_msg.visible
    prov.orcid = "1234"  # said by the field as it is typed, and Export refuses it
    assert view.orcid_msg.visible and "&#x27;1234&#x27; is not an ORCID iD" in view.orcid_msg.object
    assert prov.export_bundle(name="again") is None and "'1234' is not an ORCID iD" in prov.error
    prov.orcid = ""
    assert not view.orcid_msg.visible
    # as typed or copied: its address, no dashes, a lower-case x, a trailing slash
    for typed in ("orcid.org/0000-0002-1694-233x/", "https://www.orcid.org/0000000216942 33X".replace(" ", "")):
        assert write_bundle(plan_bundle(log, root), tmp_path / "typed", log=log, orcid=typed).exists()
    # from the command line at the end of a batch job: a wrong iD is said, and the bundle written without it
    out = subprocess.run([sys.executable, "-m", "hpcdash", "bundle", "runs/a.h5", "--root", str(root), "--orcid",
                          "0000-0002-1825-009X", "--author", "Ada"], cwd=root, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and "is not an ORCID iD" in out.stderr and "without it" in out.stderr
    crate = json.loads((Path(out.stdout.strip().splitlines()[-1]).with_suffix("") / "ro-crate-metadata.json").read_text())
    assert [e for e in crate["@graph"] if e["@type"] == "Person"] == [{"@id": "#author", "@type": "Person", "name": "Ada"}]


def test_the_crate_names_the_authors_organisation_as_publisher(session, tmp_path: Path):
    """An affiliation given (name, perhaps a ROR address) is the author's organisation and the crate's
    publisher; a ror.org address whose check digits are wrong is refused (said by the Provenance tab's
    field, a warning from the command line); without one, no publisher is claimed."""
    from hpcdash.provenance.bundle import affiliation_entity
    from hpcdash.provenance.state import ProvenanceState
    from hpcdash.provenance.view import ProvenanceView

    root, log = session
    assert affiliation_entity("  ") is None
    assert affiliation_entity("Geophysics <b>Lab</b>") == {
        "@id": "#affiliation", "@type": "Organization", "name": "Geophysics <b>Lab</b>"}
    assert affiliation_entity("California Digital Library (ror.org/03YRM5C26/)")["@id"] == "https://ror.org/03yrm5c26"
    with pytest.raises(ValueError, match="is not a ROR identifier"):
        affiliation_entity("Lab https://ror.org/03yrm5c27")  # one check digit off
    z = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="cdl", author="Ada",
                     orcid="0000-0002-1825-0097", affiliation="California Digital Library https://ror.org/03yrm5c26")
    folder = z.with_suffix("")
    graph = {e["@id"]: e for e in json.loads((folder / "ro-crate-metadata.json").read_text())["@graph"]}
    org = {"@id": "https://ror.org/03yrm5c26", "@type": "Organization", "name": "California Digital Library"}
    assert graph["https://ror.org/03yrm5c26"] == org
    assert graph["./"]["publisher"] == {"@id": org["@id"]}
    assert graph["https://orcid.org/0000-0002-1825-0097"]["affiliation"] == {"@id": org["@id"]}
    assert graph["hpcdash/"]["version"] == hpcdash.__version__
    assert validate(folder, seeded_validator_cache(tmp_path)) == []
    plain = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="plain")
    crate = json.loads((plain.with_suffix("") / "ro-crate-metadata.json").read_text())["@graph"]
    assert "publisher" not in next(e for e in crate if e["@id"] == "./")
    assert not [e for e in crate if e["@type"] == "Organization"]
    # the Provenance tab: said as typed, refused by Export, taken when right
    prov = ProvenanceState(root=str(root), affiliation="Lab ror.org/12345")
    prov.log.record("open", "Opened a.h5", paths=[root / "runs" / "a.h5"])
    view = ProvenanceView(prov)
    assert view.orcid_msg.visible and "is not a ROR identifier" in view.orcid_msg.object
    assert prov.export_bundle(name="bad") is None and "is not a ROR identifier" in prov.error
    prov.affiliation = "Geophysics Lab"
    assert not view.orcid_msg.visible
    folder = prov.export_bundle(name="lab").with_suffix("")
    orgs = [e for e in json.loads((folder / "ro-crate-metadata.json").read_text())["@graph"]
            if e["@type"] == "Organization"]
    assert orgs == [{"@id": "#affiliation", "@type": "Organization", "name": "Geophysics Lab"}]
    # the command line at the end of a batch job: the name kept, the wrong address said and left out
    out = subprocess.run([sys.executable, "-m", "hpcdash", "bundle", "runs/a.h5", "--root", str(root),
                          "--affiliation", "Geophysics Lab https://ror.org/0abc"], cwd=root, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0 and "is not a ROR identifier" in out.stderr, out.stderr
    crate = json.loads((Path(out.stdout.strip().splitlines()[-1]).with_suffix("") / "ro-crate-metadata.json").read_text())
    assert [e for e in crate["@graph"] if e["@type"] == "Organization"] == orgs


def test_a_failed_export_leaves_nothing_behind(session, tmp_path: Path):
    root, log = session
    plan = plan_bundle(log, root)
    (root / "runs" / "b.h5").unlink()  # gone between planning and writing
    with pytest.raises(FileNotFoundError):
        write_bundle(plan, tmp_path / "out", log=log, name="broken")
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(ValueError, match="not usable"):
        write_bundle(plan, tmp_path / "out", log=log, name="../..")


def test_the_bundle_is_a_binder_repository_for_this_python(session, tmp_path: Path):
    """repo2docker (the engine behind Binder) picks its Python build pack and this Python's version;
    its Dockerfile installs the bundle's requirements.txt."""
    root, log = session
    folder = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="binder").with_suffix("")
    code = (
        "import json, sys\nfrom repo2docker.app import Repo2Docker\nfrom repo2docker.buildpacks import PythonBuildPack\n"
        "bp = next(B(base_image='docker.io/library/buildpack-deps:24.04') for B in Repo2Docker().buildpacks\n"
        "          if B(base_image='docker.io/library/buildpack-deps:24.04').detect())\n"
        "bp.platform = 'linux/amd64'\n"
        "print(json.dumps({'pack': type(bp).__name__, 'python': bp.python_version,\n"
        "                  'dockerfile': bp.render({'NB_USER': 'jovyan', 'NB_UID': '1000'})}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["pack"] == "PythonBuildPack"
    assert info["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert "requirements.txt" in info["dockerfile"]
    pins = (folder / "requirements.txt").read_text().split()
    assert f"h5py=={h5py.__version__}" in pins and f"numpy=={np.__version__}" in pins
    assert not any(p.lower().startswith(("hpcdash==", "pytest")) for p in pins)


@pytest.mark.slow
def test_the_bundles_notebook_reopens_the_view_in_a_fresh_folder(session, tmp_path: Path):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    root, log = session
    view = {"file": "runs/a.h5", "file2": "runs/b.h5", "axis": "y", "slice": "3", "cmap": "magma"}  # slice 3 of n: index 2
    z = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="nb", views=[view])
    elsewhere = tmp_path / "elsewhere"
    with zipfile.ZipFile(z) as zf:
        zf.extractall(elsewhere)
    folder = elsewhere / "nb"
    nb = nbformat.read(folder / "reproduce.ipynb", as_version=4)
    # the bundle's own copy of hpcdash is imported (run from the bundle's folder), with the data there
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "print('PANES', [(p.file.split('/data/')[-1], p.axis, p.index, p.cmap) for p in view_1.state.panes],"
            " hpcdash.__file__.startswith(str(__import__('pathlib').Path.cwd())))"
        )
    )
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    text = "\n".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "match their recorded sha256" in text and "CHANGED" not in text and "MISSING" not in text
    assert "PANES [('runs/a.h5', 'y', 2, 'magma'), ('runs/b.h5', 'y', 2, 'magma')] True" in text
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    # BokehJS and Panel's JavaScript come with the notebook: a compute node has no CDN to load them from
    shown = json.dumps([o for c in nb.cells for o in c.get("outputs", [])])
    assert "bokeh-" in shown and not re.search(r"<script[^>]*src=[^>]*cdn\.(bokeh|holoviz)\.org", shown)
    assert "cdn.bokeh.org" not in shown
    # running it leaves no compiled code in the bundle, nor would it read any found there
    assert not list((folder / "hpcdash").rglob("__pycache__"))
    # a changed file of the bundled code is reported by the first cell, which stops the run before the
    # code is imported
    (folder / "hpcdash" / "app.py").open("a").write("\nprint('changed')\n")
    nb = nbformat.read(folder / "reproduce.ipynb", as_version=4)
    with pytest.raises(CellExecutionError, match="differ from the record"):
        NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
        ).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert "CHANGED  hpcdash/app.py" in printed and "OK       data/runs/a.h5" in printed
    assert not nb.cells[2].get("outputs") and not nb.cells[2].get("execution_count")


@pytest.mark.slow
def test_a_bundle_without_its_data_reopens_its_views_where_the_data_was_recorded(session, tmp_path: Path):
    """A bundle made without its data: the notebook reads the files where they were recorded (which its
    first cell checked), or from a data/ folder put beside it; README and RECIPES name the folder."""
    import nbformat
    from nbclient import NotebookClient

    root, log = session
    view = {"file": "runs/a.h5", "axis": "y", "slice": "3"}
    z = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="refs", views=[view],
                     include_data=False)
    with zipfile.ZipFile(z) as zf:
        zf.extractall(tmp_path / "elsewhere")
    folder = tmp_path / "elsewhere" / "refs"
    assert f"serve --root {root}" in (folder / "README.md").read_text()
    recipes = (folder / "hpc" / "RECIPES.md").read_text()
    assert "made without its data" in recipes and f"--bind {root}:/srv/repo/data" in recipes
    assert f'--bind "{root}:/srv/repo/data"' in (folder / "hpc" / "slurm-hpcdash.sh").read_text()

    def run() -> str:
        nb = nbformat.read(folder / "reproduce.ipynb", as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(
            "print('PANES', [(p.error, p.axis, p.index, p.file) for p in view_1.state.panes])"))
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
        assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))

    text = run()
    assert f"data from {root}" in text and f"PANES [('', 'y', 2, '{root / 'runs' / 'a.h5'}')]" in text
    (folder / "data" / "runs").mkdir(parents=True)  # the data copied in beside the notebook
    (folder / "data" / "runs" / "a.h5").write_bytes((root / "runs" / "a.h5").read_bytes())
    text = run()
    assert "data from data" in text and f"PANES [('', 'y', 2, '{folder / 'data' / 'runs' / 'a.h5'}')]" in text


def test_the_provenance_data_layer_does_not_import_panel():
    code = (
        "import sys, hpcdash.provenance, hpcdash.provenance.bundle, hpcdash.provenance.record; "
        "print('panel' in sys.modules, 'holoviews' in sys.modules, 'bokeh' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "False", "False"], out.stderr[-2000:]


def test_hpcdash_verify_checks_a_bundle_from_the_command_line(session, tmp_path: Path):
    root, log = session
    z = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="cli")

    def verify(target) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "hpcdash", "verify", str(target)],
            capture_output=True,
            text=True,
            timeout=120,
        )

    for target in (z, z.with_suffix("")):
        out = verify(target)
        assert out.returncode == 0, out.stderr
        assert "OK       data/runs/a.h5" in out.stdout and "files match their recorded SHA-256" in out.stdout
    with h5py.File(z.with_suffix("") / "data" / "runs" / "b.h5", "r+") as f:
        f["model/conductivity"][0, 0, 0] = -1.0
    out = verify(z.with_suffix(""))
    assert out.returncode == 1 and "CHANGED  data/runs/b.h5" in out.stdout
    out = verify(root / "runs")
    assert out.returncode == 2 and "is not a bundle: it has no ro-crate-metadata.json" in out.stderr
    assert "Errno" not in out.stderr  # a sentence, not the error's repr


def test_hpcdash_bundle_writes_a_bundle_from_a_batch_job(session, tmp_path: Path):
    """`hpcdash bundle` at the end of a job script: the files, a notebook opening them side by side, the
    job's id; paths outside the root are refused."""
    root, _ = session
    env = {**os.environ, "SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": "node[01-02]"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "hpcdash",
            "bundle",
            "runs/a.h5",
            "runs/b.h5",
            "--title",
            "beta sweep",
            "--license",
            "CC-BY-4.0",
            "--name",
            "job4242",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    z = Path(out.stdout.strip().splitlines()[-1])
    assert z == root / "bundles" / "job4242.zip" and "100% Done" in out.stderr
    folder = z.with_suffix("")
    events = [json.loads(line) for line in (folder / "provenance.jsonl").read_text().splitlines()]
    assert (
        events[0]["summary"] == "Ran in SLURM job 4242"
        and events[0]["details"]["slurm_job_nodelist"] == "node[01-02]"
    )
    nb = json.loads((folder / "reproduce.ipynb").read_text())
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert '{"file": "runs/a.h5", "file2": "runs/b.h5"}' in code
    graph = {e["@id"]: e for e in json.loads((folder / "ro-crate-metadata.json").read_text())["@graph"]}
    assert graph["./"]["name"] == "beta sweep" and graph["./"]["license"] == {
        "@id": "https://spdx.org/licenses/CC-BY-4.0"
    }
    assert all(c.ok for c in verify_bundle(folder))
    write_run(tmp_path / "secret.h5", 9, 1.0)
    refused = subprocess.run(
        [sys.executable, "-m", "hpcdash", "bundle", str(tmp_path / "secret.h5")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2 and f"is outside the root folder {root.resolve()}" in refused.stderr
    no_root = subprocess.run(
        [sys.executable, "-m", "hpcdash", "bundle", "runs/a.h5", "--root", str(tmp_path / "nowhere")],
        cwd=root, capture_output=True, text=True, timeout=120,
    )
    assert no_root.returncode == 2 and "the root folder" in no_root.stderr and "does not exist" in no_root.stderr
    assert "Traceback" not in refused.stderr + no_root.stderr


def test_hpcdash_bundle_takes_paths_as_serve_does(session, tmp_path: Path, monkeypatch, capsys):
    """From the working directory, else below --root (as `hpcdash serve`); a file that is nowhere is
    said not to exist, with the paths tried, rather than to be outside the root."""
    from hpcdash import cli

    root, _ = session
    monkeypatch.chdir(root)
    assert cli.bundle(["a.h5"], "runs", str(tmp_path / "out"), name="below", include_data=False) == 0
    assert cli.bundle(["runs/b.h5"], "runs", str(tmp_path / "out"), name="here", include_data=False) == 0
    capsys.readouterr()
    nb = json.loads((tmp_path / "out" / "below" / "reproduce.ipynb").read_text())
    assert '{"file": "a.h5"}' in "".join("".join(c["source"]) for c in nb["cells"])
    assert cli.bundle(["nosuch.h5"], "runs", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hpcdash: {root}/nosuch.h5 does not exist, nor does {root.resolve()}/runs/nosuch.h5")
    assert "outside" not in err
    monkeypatch.chdir(tmp_path)
    assert cli.bundle([str(root / "runs" / "nosuch.h5")], str(root), str(tmp_path / "out")) == 2
    assert capsys.readouterr().err == f"hpcdash: {root}/runs/nosuch.h5 does not exist. Nothing was bundled.\n"
    write_run(tmp_path / "other.h5", 3, 1.0)
    assert cli.bundle(["other.h5"], str(root), str(tmp_path / "out")) == 2
    assert capsys.readouterr().err.startswith(f"hpcdash: {tmp_path}/other.h5 is outside the root folder {root.resolve()}.")


def test_a_bundle_that_does_not_fit_is_refused_before_anything_is_written(
    session, tmp_path: Path, monkeypatch
):
    import shutil as sh
    from collections import namedtuple

    root, log = session
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(sh, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(OSError, match=r"not enough space in .*\(leave the data files out"):
        write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="full")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_failure_while_zipping_leaves_nothing_behind(session, tmp_path: Path, monkeypatch):
    root, log = session
    real_write = zipfile.ZipFile.write

    def failing_write(self, filename, arcname=None, *args, **kwargs):
        if str(arcname).endswith(".h5"):
            raise OSError(28, "No space left on device")
        return real_write(self, filename, arcname, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "write", failing_write)
    with pytest.raises(OSError, match="No space left"):
        write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="halfway")
    assert list((tmp_path / "out").iterdir()) == []


def test_hpcdash_verify_names_the_files_as_they_are_on_disk(tmp_path: Path):
    """The crate's ids are URI references ('+' is '%2B' there): verify prints the files' own names."""
    root = tmp_path / "root"
    root.mkdir()
    f = write_run(root / "inversion_beta_3.16e+03 #1.h5", 1, 3160.0)
    log = ProvenanceLog()
    log.record("open", f"Opened {f.name}", paths=[f])
    z = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="names")
    left_out = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="paths", include_data=False)
    checks = verify_bundle(z.with_suffix(""))
    assert "data/inversion_beta_3.16e+03 #1.h5" in [c.path for c in checks]
    assert str(f) in [c.path for c in verify_bundle(left_out.with_suffix(""))]
    out = subprocess.run([sys.executable, "-m", "hpcdash", "verify", str(z)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "OK       data/inversion_beta_3.16e+03 #1.h5\n" in out.stdout
    assert "%2B" not in out.stdout and "%20" not in out.stdout


def test_the_bundles_notebook_loads_panel_inline_and_checks_before_importing_hpcdash(session, tmp_path: Path):
    """BokehJS from cdn.bokeh.org leaves every view blank on a compute node; and the check must not rely
    on the code it checks."""
    root, log = session
    folder = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="nb").with_suffix("")
    nb = json.loads((folder / "reproduce.ipynb").read_text())
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    calls = [line for c in code for line in c.splitlines() if "pn.extension(" in line]
    assert calls == ["pn.extension(inline=True)"]
    assert not re.search(r"^\s*(import|from) hpcdash", code[0], flags=re.M) and "import hpcdash" in code[1]


def run_verify(target) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hpcdash", "verify", str(target)], capture_output=True, text=True, timeout=120
    )


def test_the_crate_hashes_the_bundled_code_and_verify_checks_it(session, tmp_path: Path):
    root, log = session
    folder = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="code").with_suffix("")
    graph = {e["@id"]: e for e in json.loads((folder / "ro-crate-metadata.json").read_text())["@graph"]}
    code_files = sorted(p.relative_to(folder).as_posix() for p in (folder / "hpcdash").rglob("*") if p.is_file())
    assert "hpcdash/app.py" in code_files
    assert sorted(p["@id"] for p in graph["hpcdash/"]["hasPart"]) == code_files
    assert all(graph[f]["sha256"] == file_sha256(folder / f) for f in code_files)
    checked = {c.path for c in verify_bundle(folder)}
    assert set(code_files) <= checked and unlisted_files(folder) == []
    out = run_verify(folder)
    assert out.returncode == 0 and "OK       hpcdash/app.py" in out.stdout, out.stdout + out.stderr
    # a changed code file fails the check, by name; so does a missing one
    (folder / "hpcdash" / "app.py").open("a").write("\nprint('changed')\n")
    (folder / "hpcdash" / "cli.py").unlink()
    out = run_verify(folder)
    assert out.returncode == 1
    assert "CHANGED  hpcdash/app.py" in out.stdout and "MISSING  hpcdash/cli.py" in out.stdout
    assert [c.path for c in verify_bundle(folder) if not c.ok] == ["hpcdash/app.py", "hpcdash/cli.py"]


def test_hpcdash_verify_names_extra_files_without_failing(session, tmp_path: Path):
    root, log = session
    folder = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="extra").with_suffix("")
    (folder / "data" / "runs" / "added.h5").write_bytes(b"not recorded")
    (folder / "hpcdash" / "extra.py").write_text("print('added')\n")
    (folder / "hpcdash" / "__pycache__").mkdir()
    # compiled code: the bundle's notebook never writes nor reads it there (sys.pycache_prefix), so it
    # came from elsewhere and is named
    (folder / "hpcdash" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"cache")
    assert unlisted_files(folder) == ["data/runs/added.h5", "hpcdash/__pycache__/app.cpython-311.pyc",
                                      "hpcdash/extra.py"]
    out = run_verify(folder)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "EXTRA    data/runs/added.h5 (not in the RO-Crate" in out.stdout
    assert "EXTRA    hpcdash/extra.py" in out.stdout and "EXTRA    hpcdash/__pycache__/app.cpython-311.pyc" in out.stdout
    assert "3 files under data/ or hpcdash/ not in the record" in out.stdout


def test_hpcdash_verify_says_what_a_bundle_is_when_given_a_file(session, tmp_path: Path):
    root, log = session
    z = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="whole")
    trunc = tmp_path / "trunc.zip"
    trunc.write_bytes(z.read_bytes()[: z.stat().st_size // 2])  # an interrupted download
    out = run_verify(trunc)
    assert out.returncode == 2 and "a .zip that cannot be read (an incomplete download?" in out.stderr
    assert "a bundle is a folder holding ro-crate-metadata.json, or the zip of that folder" in out.stderr
    out = run_verify(root / "runs" / "a.h5")
    assert out.returncode == 2 and "is a file, not a bundle" in out.stderr
    out = run_verify(tmp_path / "nowhere")
    assert out.returncode == 2 and "does not exist" in out.stderr
    assert "Errno" not in out.stderr and "Traceback" not in out.stderr


def test_the_bundles_instructions_install_what_their_commands_run(session, tmp_path: Path):
    """README.md and hpc/RECIPES.md give the same commands, and every program they run comes with a
    package they install: requirements.txt (what ran hpcdash, kept as it was) and the packages named
    next to it (JupyterLab and a kernel)."""
    from importlib import metadata

    root, log = session
    folder = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="cmds").with_suffix("")
    readme = (folder / "README.md").read_text()
    recipes = (folder / "hpc" / "RECIPES.md").read_text()

    def commands(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip().startswith(("python3", "venv/bin/"))]

    assert commands(readme) == commands(recipes) and len(commands(readme)) == 3
    # one working folder for every step, the bundle's own (the SLURM script binds "$PWD/data")
    assert "Every command below runs from inside the bundle folder" in recipes
    assert "--image-name " in recipes and recipes.split("--image-name ", 1)[1].split("\n", 1)[0].endswith(" .")
    assert 'srun shifter bash -c "cd /srv/repo && python -m hpcdash serve --root data' in recipes
    assert '--bind "$PWD/data:/srv/repo/data"' in (folder / "hpc" / "slurm-hpcdash.sh").read_text()
    install, *runs = commands(readme)
    assert install.startswith(f"python{sys.version_info.major}.{sys.version_info.minor} -m venv venv && ")
    named = install.split("-r requirements.txt", 1)[1].split()
    assert named == ["jupyterlab", "ipykernel"]
    pins = [line.split("==")[0] for line in (folder / "requirements.txt").read_text().split()]
    assert not {"jupyterlab", "ipykernel"} & {p.lower() for p in pins}  # the pins stay what ran
    installed = [*pins, *_with_requirements(metadata, named)]  # pip brings what JupyterLab needs too
    scripts = {
        ep.name
        for name in installed
        for ep in _entry_points(metadata, name)
    }
    for run in runs:
        program, *args = run.split("#")[0].split()
        exe = program.removeprefix("venv/bin/")
        if exe == "python":
            continue
        assert exe in scripts, f"{exe} comes with none of the installed packages"
        if exe == "jupyter":  # `jupyter lab` runs the jupyter-lab program
            assert f"jupyter-{args[0]}" in scripts
    assert "ipykernel" in named  # the notebook's python3 kernel in the venv


def _with_requirements(metadata, names: list[str]) -> list[str]:
    """`names` and every distribution they require, as installed here."""
    from packaging.requirements import Requirement

    out, todo = [], list(names)
    while todo:
        name = todo.pop()
        if name.lower() in out:
            continue
        out.append(name.lower())
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        todo += [Requirement(r).name for r in requires if "extra ==" not in r]
    return out


def _entry_points(metadata, name: str) -> list:
    try:
        return [ep for ep in metadata.distribution(name).entry_points if ep.group == "console_scripts"]
    except metadata.PackageNotFoundError:
        if name in ("jupyterlab", "ipykernel"):
            pytest.skip(f"{name} is not installed here")
        return []


def test_the_bundles_readme_lists_every_event_and_the_job_script_says_how_to_reach_the_app(
    session, tmp_path: Path
):
    root, log = session
    log.record("export", "Downloaded a_z3.png", paths=[root / "runs" / "a.h5"])
    log.record("view", "View of 1 pane: a.h5: z = -10.0 m (slice 3 of 8)")
    folder = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="text").with_suffix("")
    readme = (folder / "README.md").read_text()
    done = readme.split("## What was done", 1)[1]
    assert f"All {len(log.events())} events, in order" in done and "provenance.jsonl" in done
    assert "Opened (2): a.h5; b.h5" in done
    for e in log.events():
        assert e.summary.removeprefix("Opened ").removeprefix("Downloaded ") in done, e.summary
    script = (folder / "hpc" / "slurm-hpcdash.sh").read_text()
    comment = "\n".join(line for line in script.splitlines() if line.startswith("#"))
    assert "--address 0.0.0.0" in script and "login?token=" in comment and "output file" in comment
    assert "sbatch --output=" in comment and "mkdir -p -m 700" in comment and "ssh -L 5006:<node>:5006" in comment
    assert "$(hostname)" not in comment  # run on the laptop, it would name the laptop


def _add_to_crate(folder: Path, *entries: dict) -> None:
    meta = folder / "ro-crate-metadata.json"
    crate = json.loads(meta.read_text())
    crate["@graph"].extend(entries)
    meta.write_text(json.dumps(crate))


def test_hpcdash_verify_never_reads_a_file_the_crate_names_outside_the_bundle(session, tmp_path: Path):
    """A crate is anyone's text: absolute paths, '..' leading out (percent-encoded too) and symbolic links
    to elsewhere are reported as OUTSIDE, never opened, and fail the check."""
    from urllib.parse import quote

    root, log = session
    folder = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="crafted").with_suffix("")
    (tmp_path / "outside").mkdir()
    secret = write_run(tmp_path / "outside" / "secret.h5", 9, 1.0)
    digest = file_sha256(secret)
    (folder / "data" / "link.h5").symlink_to(secret)
    (folder / "data" / "elsewhere").symlink_to(secret.parent, target_is_directory=True)
    up = os.path.relpath(secret, folder)  # ../../outside/secret.h5
    ids = [
        str(secret),
        up,
        "data/" + quote("../" + up, safe=""),  # data%2F..: decoded, it leads out
        quote(str(secret), safe=""),  # %2Ftmp%2F...: absolute once decoded
        "data/link.h5",
        "data/elsewhere/secret.h5",
        "https://example.org/secret.h5",
    ]
    _add_to_crate(folder, *({"@id": i, "@type": "File", "sha256": digest} for i in ids))
    checks = {c.path: c for c in verify_bundle(folder)}
    named = [str(secret), up, "data/../" + up, str(secret), "data/link.h5", "data/elsewhere/secret.h5",
             "https://example.org/secret.h5"]
    for name in named:
        assert checks[name].status == "OUTSIDE" and checks[name].actual is None and not checks[name].ok, name
    assert checks["data/runs/a.h5"].ok  # the bundle's own files are still checked
    out = run_verify(folder)
    assert out.returncode == 1, out.stdout + out.stderr
    for name in named:
        assert f"OUTSIDE  {name}: not part of the bundle, not read\n" in out.stdout
    assert "OK       data/runs/a.h5" in out.stdout and "; 7 named outside the bundle, not read" in out.stdout
    assert not re.search(r"^(OK|CHANGED|MISSING) .*(secret|example)", out.stdout, flags=re.M)


def test_hpcdash_verify_of_a_zip_reads_nothing_outside_it(session, tmp_path: Path):
    """A zip whose crate lists an absolute path, with an entry named to leave the folder it is unpacked
    in: nothing is written outside that folder, nothing outside the bundle is read."""
    root, log = session
    folder = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="zipped").with_suffix("")
    (tmp_path / "outside").mkdir()
    secret = write_run(tmp_path / "outside" / "secret.h5", 9, 1.0)
    _add_to_crate(folder, {"@id": str(secret), "@type": "File", "sha256": file_sha256(secret)},
                  {"@id": "file:///etc/passwd", "@type": "File", "sha256": "0" * 64})
    z = tmp_path / "crafted.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, f"zipped/{p.relative_to(folder).as_posix()}")
        zf.writestr("../escaped.txt", "zip slip")
        zf.writestr("zipped/../../escaped2.txt", "zip slip")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = subprocess.run([sys.executable, "-m", "hpcdash", "verify", str(z)], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "TMPDIR": str(tmp)})
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"OUTSIDE  {secret}: not part of the bundle, not read\n" in out.stdout
    assert "OUTSIDE  /etc/passwd: data left out of the bundle, recorded at this path; not read" in out.stdout
    assert "OK       data/runs/a.h5" in out.stdout
    assert list(tmp.iterdir()) == [] and not list(tmp_path.glob("escaped*.txt"))


def test_hpcdash_verify_reads_data_left_out_of_a_bundle_only_when_asked(session, tmp_path: Path):
    root, log = session
    folder = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="refs",
                          include_data=False).with_suffix("")
    a = root / "runs" / "a.h5"
    out = run_verify(folder)
    assert out.returncode == 1 and f"OUTSIDE  {a}: data left out of the bundle, recorded at this path; " \
        "not read (--recorded-paths reads it, for a bundle you trust)" in out.stdout
    asked = subprocess.run([sys.executable, "-m", "hpcdash", "verify", "--recorded-paths", str(folder)],
                           capture_output=True, text=True, timeout=120)
    assert asked.returncode == 0 and f"OK       {a}\n" in asked.stdout, asked.stdout + asked.stderr
    readme = (folder / "README.md").read_text()
    assert "`--recorded-paths`" in readme


def test_hpcdash_bundle_warns_of_files_hpcdash_cannot_open_and_bundles_them(session, tmp_path: Path):
    """A text file named .h5, an empty one and a truncated HDF5 file: bundled (they are what was used),
    each with a warning in the app's own words, on stderr and in the README."""
    from hpcdash.data import VolumeError, open_volume

    root, _ = session
    (root / "text.h5").write_text("x,y\n1,2\n")
    (root / "empty.h5").write_bytes(b"")
    whole = (root / "runs" / "b.h5").read_bytes()
    (root / "truncated.h5").write_bytes(whole[: len(whole) // 2])
    names = ["text.h5", "empty.h5", "truncated.h5"]
    said = {}
    for n in names:  # what the app says when it opens them
        with pytest.raises(VolumeError) as err:
            open_volume(root / n)
        said[n] = str(err.value)
    assert said["text.h5"] == "'text.h5' is not an HDF5 file."
    assert said["empty.h5"] == "'empty.h5' is empty, not an HDF5 file."
    assert said["truncated.h5"].startswith("'truncated.h5' looks like HDF5 but cannot be opened: it is truncated")
    out = subprocess.run(
        [sys.executable, "-m", "hpcdash", "bundle", "runs/a.h5", *names, "--name", "warned"],
        cwd=root, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if line.startswith("hpcdash: warning: ")]
    assert len(warnings) == 3 and "a.h5" not in "".join(warnings)
    for n, line in zip(names, warnings, strict=True):
        assert line == (f"hpcdash: warning: {said[n]} It is in the bundle as it was, as data/{n}, but hpcdash "
                        "cannot open it."), line
    folder = root / "bundles" / "warned"
    assert all((folder / "data" / n).read_bytes() == (root / n).read_bytes() for n in names)
    assert all(c.ok for c in verify_bundle(folder))
    readme = (folder / "README.md").read_text()
    assert "- `data/text.h5` (8 bytes) (**warning**: hpcdash cannot open it, see below)" in readme
    # rendered, the README's Warnings section gives the same sentences
    import html

    markdown_it = pytest.importorskip("markdown_it")
    section = markdown_it.MarkdownIt("commonmark").render(readme).split("<h2>Warnings</h2>", 1)[1]
    for n in names:
        assert f"<li><code>data/{n}</code>: {html.escape(said[n], quote=False)}" in section, section
    graph = {e["@id"]: e for e in json.loads((folder / "ro-crate-metadata.json").read_text())["@graph"]}
    assert graph["data/text.h5"]["description"].startswith(said["text.h5"])
    assert "description" not in graph["data/runs/a.h5"]


def test_the_bundles_readme_and_notebook_escape_titles_and_names(session, tmp_path: Path):
    """Title, file names and events are anyone's text: rendered, the README shows them as text (no HTML
    element, no link), and a backtick in a name does not end its code span."""
    markdown_it = pytest.importorskip("markdown_it")

    root, log = session
    evil = "<img src=x onerror=alert(1)>"
    odd = write_run(root / f"{evil}.h5", 3, 1.0)
    tick = write_run(root / "a`b [x](javascript:alert(1)).h5", 4, 1.0)
    log.record("open", f"Opened {odd.name}", paths=[odd])
    log.record("open", f"Opened {tick.name}", paths=[tick])
    log.record("cluster", "Started *bold* [link](javascript:alert(1)) <b>x</b>\n\n# injected")
    title = f"{evil} ../../../tmp/evil #"
    folder = write_bundle(plan_bundle(log, root), tmp_path / "out", log=log, name="esc", title=title,
                          views=[{"file": odd.name, "file2": tick.name}]).with_suffix("")
    md = markdown_it.MarkdownIt("commonmark")  # raw HTML on, as GitHub and JupyterLab render it
    readme = md.render((folder / "README.md").read_text())
    assert "<img" not in readme and "<b>" not in readme and "<em>" not in readme and "<a " not in readme
    assert f"<h1>{evil.replace('<', '&lt;').replace('>', '&gt;')} ../../../tmp/evil #</h1>" in readme
    assert f"<code>data/{evil.replace('<', '&lt;').replace('>', '&gt;')}.h5</code>" in readme
    assert "<code>data/a`b [x](javascript:alert(1)).h5</code>" in readme
    assert readme.count("<h1>") == 1  # the event's line breaks start no heading of their own
    nb = json.loads((folder / "reproduce.ipynb").read_text())
    cells = md.render("\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"))
    assert "<img" not in cells and "<code>a`b [x](javascript:alert(1)).h5</code>" in cells
    graph = {e["@id"]: e for e in json.loads((folder / "ro-crate-metadata.json").read_text())["@graph"]}
    assert graph["./"]["name"] == title  # JSON: kept as it was
