"""The software environment a bundle records: exact versions of hpcdash's dependencies, the Python.

Read from the running interpreter's installed distributions (`importlib.metadata`), so the pins are
what actually ran, not what a requirements file asked for.
"""

from __future__ import annotations

import platform
import re
import sys
from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement

#: not pinned in a bundle: build tools, and the Jupyter server stack a Binder image brings itself
_UNPINNED = {"pip", "setuptools", "wheel",
             # the notebook server and its kernel protocol: Binder's image runs its own, which pip would
             # replace inside the running JupyterLab's environment; what hpcdash needs of them is in its
             # own requirements (>= bounds), which pip still meets
             "jupyter-server", "jupyter-server-terminals", "jupyter-server-proxy", "jupyterlab",
             "jupyterlab-server", "notebook", "notebook-shim", "jupyter-client", "jupyter-core", "jupyter-events",
             "jupyter-lsp", "ipykernel", "tornado", "pyzmq", "traitlets", "terminado", "nbconvert"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_requirements(package: str = "hpcdash", extras: tuple[str, ...] = ()) -> list[str]:
    """``name==version`` for every distribution `package` needs, directly or not, as installed here
    (sorted; `package` itself excluded; environment markers evaluated for this interpreter)."""
    pins: dict[str, str] = {}
    todo = [(package, tuple(extras))]
    seen: set[str] = set()
    while todo:
        name, want = todo.pop()
        key = _canonical(name)
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if key != _canonical(package) and key not in _UNPINNED:
            pins[key] = f"{dist.metadata['Name']}=={dist.version}"
        for text in dist.requires or []:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            env = [{"extra": e} for e in (want or ("",))]
            if req.marker is not None and not any(req.marker.evaluate(e) for e in env):
                continue
            todo.append((req.name, tuple(req.extras)))
    return sorted(pins.values(), key=str.lower)


def python_runtime() -> str:
    """``python-X.Y`` (the form Binder's runtime.txt takes)."""
    return f"python-{sys.version_info.major}.{sys.version_info.minor}"


def describe_platform() -> dict[str, str]:
    """Where this ran, in words: Python version and implementation, OS and machine."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
    }
