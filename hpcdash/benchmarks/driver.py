"""Start a probed server and drive it like a browser would, with a Python `bokeh.client` session.

The client changes the "Normal axis" select and the "Slice" slider in its copy of the document (bokeh
sends the change to the server as a browser does), waits until the image data source changes, then
reads the server's probe log (see hpcdash.benchmarks.probe) for the server time and bytes of the
update. No browser: BokehJS decoding and painting are not included here (hpcdash.benchmarks.browser
measures those).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen | None, timeout: float = 180.0) -> None:
    """Poll `url` until it answers below HTTP 500; raise with the reason if the process died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=10)
            return
        except urllib.error.HTTPError as err:
            if err.code < 500:
                return
        except Exception:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before {url} answered")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")
        time.sleep(0.3)


def read_vm_hwm_mb(pid: int) -> float | None:
    """Peak resident set size (VmHWM) of a live process, in MB (10^6 bytes)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        return None
    return None


@dataclass
class ProbedServer:
    """A server subprocess run under hpcdash.benchmarks.probe, with its log and port."""

    argv: list[str]
    workdir: Path
    name: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.probe.jsonl"

    @property
    def out_path(self) -> Path:
        return self.workdir / f"{self.name}.server.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str = "/", timeout: float = 180.0) -> ProbedServer:
        """Start the server (argv with {port} filled in) and wait until `ready_path` answers."""
        return self.launch().wait_ready(ready_path, timeout)

    def launch(self) -> ProbedServer:
        """Start the server process (argv with {port} filled in) without waiting."""
        self.log_path.unlink(missing_ok=True)
        argv = [a.replace("{port}", str(self.port)) for a in self.argv]
        cmd = [sys.executable, "-m", "hpcdash.benchmarks.probe", str(self.log_path), *argv]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._fh = open(self.out_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self._fh, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        return self

    def wait_ready(self, ready_path: str = "/", timeout: float = 180.0) -> ProbedServer:
        """Wait until `ready_path` answers (a 404 path avoids creating a Panel session)."""
        try:
            wait_http(self.base + ready_path, self.proc, timeout)
        except RuntimeError as err:
            self.stop()
            raise RuntimeError(f"{err}\n{self.output()[-3000:]}") from None
        return self

    def output(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    def peak_rss_mb(self) -> float | None:
        return read_vm_hwm_mb(self.proc.pid) if self.proc else None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        if getattr(self, "_fh", None):
            self._fh.close()

    def __enter__(self) -> ProbedServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class ProbeLog:
    """Incremental reader of a probe JSON-lines log."""

    def __init__(self, path: Path):
        self.path, self.offset = path, 0

    def read_new(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        return [json.loads(line) for line in data[:end].splitlines() if line.strip()]

    def skip(self) -> None:
        self.read_new()


def summarize_update(records: list[dict[str, Any]], t_seen: float | None = None) -> dict[str, Any]:
    """Server time and bytes of one update from its probe records.

    server_ms: start of the first Panel event processing after the client's message to the end of
    the last binary frame (the image buffer) written before the client saw the new image at
    `t_seen` (perf_counter is CLOCK_MONOTONIC, shared by the processes); without binary frames, the
    last PATCH-DOC frame before `t_seen`. total_ms: the same end from the message's arrival (so it
    includes Panel's 50 ms debounce of widget changes). bytes: all PATCH-DOC frames written for the
    update, also after the image (colorbar, readout), JSON and binary, before any websocket
    compression (bokeh's default is none)."""
    t_in = next((r["t"] for r in records if r["k"] == "in" and r.get("type") == "PATCH-DOC"), None)
    procs = [r for r in records if r["k"] == "proc" and (t_in is None or r["t0"] >= t_in)]
    frames, current = [], None
    for r in records:
        if r["k"] != "w":
            continue
        current = r.get("type", current)
        if current == "PATCH-DOC":
            frames.append(r)
    if not frames:
        return {"server_ms": None, "total_ms": None, "bytes": 0, "frames": 0, "binary_bytes": 0}
    before = [r for r in frames if t_seen is None or r["t"] <= t_seen] or frames
    binary = [r for r in before if r["bin"]]
    t_end = max(r["t"] for r in (binary or before))
    t_proc = procs[0]["t0"] if procs else None
    return {
        "server_ms": (t_end - t_proc) * 1e3 if t_proc is not None else None,
        "total_ms": (t_end - t_in) * 1e3 if t_in is not None else None,
        "bytes": sum(r["bytes"] for r in frames),
        "binary_bytes": sum(r["bytes"] for r in frames if r["bin"]),
        "frames": len(frames),
    }


class SessionDriver:
    """A bokeh.client session on a Panel app with a "Slice" slider and a "Normal axis" select."""

    def __init__(self, url: str, log: ProbeLog, settle_s: float = 0.12, timeout_s: float = 60.0,
                 arguments: dict[str, str] | None = None, min_images: int = 1):
        import panel.models  # noqa: F401 - registers Panel's bokeh models for deserializing
        from bokeh.client import pull_session

        self.log, self.settle_s, self.timeout_s = log, settle_s, timeout_s
        t0 = time.perf_counter()
        self.session = pull_session(url=url, arguments=arguments)
        self.doc = self.session.document
        self._send_document_ready()
        self.pull_s = time.perf_counter() - t0
        self._events = 0
        self._own = False
        self.doc.on_change(self._on_change)
        self.sliders = self._find("Slider", "Slice")
        self.selects = self._find("Select", "Normal axis")
        if not self.sliders:
            titles = sorted({str(getattr(m, "title", "")) for m in self.doc.models if hasattr(m, "title")})
            raise RuntimeError(f"no 'Slice' slider in the served document (titles: {titles})")
        # The first image may come after DocumentReady (Panel onload): wait for one image source.
        self._wait(lambda: len(self.image_sources()) >= min_images, self.timeout_s)
        self.first_image_s = time.perf_counter() - t0

    def _send_document_ready(self) -> None:
        try:
            from bokeh.events import DocumentReady

            self.doc.callbacks.send_event(DocumentReady())
        except Exception:
            pass

    def _find(self, type_name: str, title: str) -> list[Any]:
        out = []
        for m in self.doc.models:
            names = {c.__name__ for c in type(m).__mro__}
            if type_name in names and str(getattr(m, "title", "")).strip().rstrip(":") == title:
                out.append(m)
        return out

    def image_sources(self) -> list[Any]:
        from bokeh.models import ColumnDataSource

        return [m for m in self.doc.models if isinstance(m, ColumnDataSource) and "image" in m.data
                and len(m.data["image"])]

    def image_shapes(self) -> list[tuple[int, ...]]:
        shapes = []
        for src in self.image_sources():
            for arr in src.data["image"]:
                shapes.append(tuple(getattr(arr, "shape", ())))
        return shapes

    def image_signature(self) -> tuple:
        """Identity of the image arrays the client holds; changes when the server sends new ones."""
        return tuple(id(a) for src in self.image_sources() for a in src.data["image"])

    def _on_change(self, event) -> None:
        if not self._own:
            self._events += 1

    def _wait(self, predicate, timeout: float) -> bool:
        """Run the client loop until predicate() or timeout; a server-info request wakes the loop."""
        conn = self.session._connection
        deadline = time.monotonic() + timeout
        timed_out = [False]

        def pred() -> bool:
            if predicate():
                return True
            if time.monotonic() > deadline:
                timed_out[0] = True
                return True
            return False

        def wake() -> None:
            # The client loop only checks its predicate when a message arrives; ask the server
            # for its info now and then so a timeout is noticed.
            try:
                msg = conn._protocol.create("SERVER-INFO-REQ")
                conn._loop.add_callback(conn.send_message, msg)
            except Exception:
                return
            if not pred():
                handles.append(conn._loop.call_later(1.0, wake))

        handles = [conn._loop.call_later(1.0, wake)]
        try:
            conn._loop_until(pred)
        finally:
            for h in handles:
                conn._loop.remove_timeout(h)
        return not timed_out[0]

    def _apply(self, models: list[Any], expect: int = 1, **props) -> dict[str, Any]:
        self.log.skip()
        # the arrays held now stay alive until the update is in, so that a new array cannot take the
        # id of one it replaced (panes' images arrive in messages of their own)
        held = [a for src in self.image_sources() for a in src.data["image"]]
        before = {id(a) for a in held}
        t0 = time.perf_counter()
        self._own = True
        try:
            for m in models:
                for name, value in props.items():
                    if m.lookup(name).readonly:
                        # what BokehJS sends after a key press or drag end (e.g. value_throttled)
                        m.set_from_json(name, value)
                    else:
                        setattr(m, name, value)
        finally:
            self._own = False
        ok = self._wait(lambda: len(set(self.image_signature()) - before) >= expect, self.timeout_s)
        t_seen = time.perf_counter()
        t_client = t_seen - t0
        # collect the rest of the update (colorbar, readout, ...) that follows the image
        time.sleep(self.settle_s)
        self._wait(lambda: True, 1.0)
        result = summarize_update(self.log.read_new(), t_seen if ok else None)
        del held
        result["client_ms"] = t_client * 1e3
        result["ok"] = ok
        return result

    # Slice indices count from 0; a slider's first position is index 0 whatever its value there
    # (hpcdash's slider shows slice numbers 1 to n, the naive app's indices 0 to n - 1).
    def set_slice(self, index: int, first_only: bool = False, expect: int = 1) -> dict[str, Any]:
        """Move the slider(s) to `index` (value and value_throttled, as a key press does) and wait
        until `expect` image arrays have been replaced."""
        models = self.sliders[:1] if first_only else self.sliders
        value = int(index) + int(self.sliders[0].start)
        return self._apply(models, expect=expect, value=value, value_throttled=value)

    def slice_index(self) -> int:
        """The index the first slider shows."""
        s = self.sliders[0]
        return int(s.value) - int(s.start)

    def slider_range(self) -> tuple[int, int]:
        """First and last index of the first slider."""
        s = self.sliders[0]
        return 0, int(s.end) - int(s.start)

    def axis_options(self) -> list[str]:
        if not self.selects:
            return []
        opts = self.selects[0].options
        return [o[0] if isinstance(o, list | tuple) else o for o in opts]

    def set_axis(self, value: str) -> dict[str, Any]:
        if not self.selects:
            raise RuntimeError("no 'Normal axis' select in the served document")
        return self._apply(self.selects, value=value)

    def close(self) -> None:
        try:
            self.session.close()
        except Exception:
            pass
