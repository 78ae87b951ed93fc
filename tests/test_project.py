"""The project's own files: packaging, anaconda-project commands, CI wiring, README quick start."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def load_project() -> dict:
    return yaml.safe_load((REPO / "anaconda-project.yml").read_text())


def test_anaconda_project_has_the_holoviz_examples_structure():
    spec = load_project()
    for key in ("name", "description", "channels", "packages", "commands"):
        assert spec.get(key), f"anaconda-project.yml lacks {key!r}"
    assert spec["name"] == "hpcdash"
    assert {"dashboard", "notebook", "test"} <= set(spec["commands"])
    assert spec["commands"]["dashboard"]["supports_http_options"] is True
    packages = [p for p in spec["packages"] if isinstance(p, str)]
    names = {re.split(r"[<>=!]", p)[0] for p in packages}
    core = {"panel", "holoviews", "bokeh", "datashader", "h5py", "numpy", "dask-jobqueue", "distributed", "param"}
    assert core <= names, f"core packages missing: {core - names}"


def test_anaconda_project_packages_cover_the_runtime_dependencies():
    spec = load_project()
    names = {re.split(r"[<>=!\[]", p)[0].lower() for p in spec["packages"] if isinstance(p, str)}
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        assert re.split(r"[<>=!\[]", dep)[0].lower() in names, f"{dep} is in pyproject.toml only"


def test_every_anaconda_project_command_points_at_files_that_exist():
    for name, cmd in load_project()["commands"].items():
        if "notebook" in cmd:
            assert (REPO / cmd["notebook"]).is_file(), f"{name}: {cmd['notebook']} missing"
            continue
        words = shlex.split(cmd["unix"])
        paths = [w for w in words if "/" in w or w.endswith((".py", ".ipynb"))]
        assert paths, f"command {name!r} names no file"
        for p in paths:
            assert (REPO / p).exists(), f"command {name!r} names {p}, which does not exist"


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^```(?:bash|sh)\n(.*?)\n```", quick, flags=re.S | re.M)
    assert len(commands) == 2, "the quick start has exactly two commands"
    assert all(len(c.strip().splitlines()) == 1 for c in commands)
    ci = (REPO / ".ci" / "run").read_text()
    assert commands[1].strip().split()[-1] in ci, "`.ci/run` runs the README's test command"


def test_notebook_examples_load_panel_inline():
    """A Panel object in a notebook shows only once `pn.extension` has run, and inline: compute nodes and
    offline containers cannot load BokehJS from its CDN. The README's notebook cell and the dashboards'
    notebooks say so alike."""
    import json

    readme = (REPO / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| notebook cell |"))
    cell = re.search(r"`([^`]*SliceExplorer[^`]*)`", row).group(1)
    assert cell.index("pn.extension(inline=True)") < cell.index("SliceExplorer("), cell
    assert "import panel as pn" in cell and "offline" in row
    for path in sorted((REPO / "dashboards").glob("*.ipynb")):
        code = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                         if c["cell_type"] == "code")
        calls = re.findall(r"pn\.extension\([^)]*\)", code)
        assert calls == ["pn.extension(inline=True)"], (path.name, calls)


def test_the_top_level_names_load_lazily_and_are_the_classes_documented():
    """`import hpcdash` stays cheap (no Panel) and every name it lists resolves; a notebook shows the
    cluster with `hpcdash.ClusterView(hpcdash.ClusterControl())`, as the README says."""
    import subprocess
    import sys

    code = ("import sys, hpcdash; assert 'panel' not in sys.modules, 'panel imported'; "
            "[getattr(hpcdash, n) for n in hpcdash.__all__]; "
            "from hpcdash.cluster.view import ClusterView; assert hpcdash.ClusterView is ClusterView; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]


def test_counted_nouns_take_the_plural_unless_one():
    from hpcdash.words import counted, plural

    assert [counted(n, "file") for n in (0, 1, 2)] == ["0 files", "1 file", "2 files"]
    assert counted(1, "process", "processes") == "1 process" and counted(3, "process", "processes") == "3 processes"
    assert plural(1, "event") == "event" and plural(5, "event") == "events"
