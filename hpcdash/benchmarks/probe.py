"""Run a Bokeh/Panel server with timing probes, for the benchmark.

    python -m hpcdash.benchmarks.probe LOGFILE hpcdash serve FILE --port N ...
    python -m hpcdash.benchmarks.probe LOGFILE panel serve APP.py --port N ...

The probes wrap three server-side methods (class level, in this process only) and record one JSON
line per call, with `time.perf_counter()` stamps of this process; a background thread appends the
records to LOGFILE every 20 ms, so the measured threads never wait on the file:

- ``in``:   bokeh's ``WSHandler._handle`` got a complete message from a client (msgtype);
- ``proc``: Panel's ``Syncable._process_events`` ran (start, end, class name, event names);
- ``w``:    tornado's ``WebSocketHandler.write_message`` wrote one frame (bytes, binary or not, and
  the msgtype when the frame is a message header); bokeh and Panel both send through it;
- ``gc``:   one pass of Python's cyclic garbage collector (generation, objects collected), so that a
  slow update can be told apart from one that a collection happened to fall into.

A benchmark client reads the log to get, per update, the server time from the start of Panel's
processing to the end of the last write of the update, and the bytes sent to the browser. The app
itself is the real one: the command line after LOGFILE is the same as without the probe.
"""

from __future__ import annotations

import atexit
import functools
import gc
import json
import os
import sys
import threading
import time
from typing import Any

_lock = threading.Lock()
_fh = None
_pending: list[dict[str, Any]] = []
FLUSH_S = 0.02  # records reach the file within this (clients read it after their update settled)


def _log(record: dict[str, Any]) -> None:
    # Only a list append on the measured threads: a file write per record gave the GIL away and had
    # to win it back from the server's reading threads, which added to the very times being measured.
    if _fh is not None:
        with _lock:
            _pending.append(record)


def _flush() -> None:
    with _lock:
        records = _pending[:]
        del _pending[:]
    if records and _fh is not None:
        _fh.write("".join(json.dumps(r) + "\n" for r in records))
        _fh.flush()


def _flush_forever() -> None:
    while True:
        time.sleep(FLUSH_S)
        _flush()


def install(log_path: str) -> None:
    """Open LOGFILE and wrap bokeh's websocket handler and Panel's event processing."""
    global _fh
    _fh = open(log_path, "a")  # noqa: SIM115 - lives as long as the server process
    threading.Thread(target=_flush_forever, name="hpcdash-probe-log", daemon=True).start()
    atexit.register(_flush)
    from bokeh.server.views.ws import WSHandler
    from panel.reactive import Syncable
    from tornado.websocket import WebSocketHandler

    orig_handle = WSHandler._handle
    orig_write = WebSocketHandler.write_message
    orig_process = Syncable._process_events

    @functools.wraps(orig_handle)
    async def _handle(self, message):
        _log({"k": "in", "t": time.perf_counter(), "type": message.msgtype})
        return await orig_handle(self, message)

    @functools.wraps(orig_write)
    def write_message(self, message, binary=False):
        # Both bokeh (WSHandler.send_message) and Panel (panel.io.document.dispatch_tornado) end
        # here, one call per frame: header, metadata, content, then (buffer header, payload) pairs.
        t0 = time.perf_counter()
        try:
            return orig_write(self, message, binary)
        finally:
            rec = {"k": "w", "t0": t0, "t": time.perf_counter(), "bytes": len(message), "bin": bool(binary)}
            if isinstance(message, str) and len(message) < 400 and '"msgtype"' in message:
                try:
                    rec["type"] = json.loads(message).get("msgtype")
                except ValueError:
                    pass
            _log(rec)

    @functools.wraps(orig_process)
    def _process_events(self, events):
        t0 = time.perf_counter()
        try:
            return orig_process(self, events)
        finally:
            _log({"k": "proc", "t0": t0, "t": time.perf_counter(), "cls": type(self).__name__,
                  "events": sorted(str(e) for e in events)})

    gc_start: list[float] = []

    def _gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_start[:] = [time.perf_counter()]
        elif gc_start:
            _log({"k": "gc", "t0": gc_start[0], "t": time.perf_counter(), "gen": info.get("generation"),
                  "collected": info.get("collected")})

    gc.callbacks.append(_gc)
    WSHandler._handle = _handle
    WebSocketHandler.write_message = write_message
    Syncable._process_events = _process_events
    _log({"k": "start", "t": time.perf_counter(), "pid": os.getpid()})


def main(argv: list[str] | None = None) -> int:
    """Install the probes, then run `hpcdash ...` or `panel ...` with the rest of the command line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2:
        print(__doc__)
        return 2
    log_path, prog, rest = argv[0], argv[1], argv[2:]
    install(log_path)
    if prog == "hpcdash":
        from hpcdash.cli import main as hpcdash_main

        return hpcdash_main(rest) or 0
    if prog == "panel":
        from panel.command import main as panel_main

        sys.argv = ["panel", *rest]
        return panel_main() or 0
    print(f"unknown program {prog!r}: expected 'hpcdash' or 'panel'", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
