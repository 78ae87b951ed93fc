"""Key press on the slider to new image on screen, in headless Debian chromium (Playwright).

How it is detected: before each press the page records a checksum of the pixels of every plot canvas
(each ``<canvas>`` at least 100x100, found through Bokeh's open shadow roots, drawn scaled to 160x160
and read back with ``getImageData``; the result reports what one checksum costs); a
capturing ``keydown`` listener stamps ``performance.now()``; then a ``requestAnimationFrame`` loop
recomputes the checksum each frame, and the first frame whose checksum differs ends the measurement.
So the figure is keydown -> (BokehJS sends the change, the server reads, rasterizes and sends the patch,
BokehJS decodes and paints) -> the first animation frame that shows different plot pixels. The slider
is moved as a user does: ``.noUi-handle`` focused, ``ArrowRight``.

The same run also times opening the page: from navigation start to the first animation frame in which
a plot canvas shows the image (at least 300 of 80x80 sampled pixels coloured, i.e. not white or grey),
once in the fresh browser (its cache empty) and ``reloads`` more times as new pages of the same
browser (scripts and styles cached, as when a user opens another tab of the app); each is a new
server session. The navigation timing gives the server's part: the HTML page arrives once the server
has built the session's document.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

#: JS: the plot canvases of the page (at least 100x100), found through Bokeh's open shadow roots.
_JS_CANVASES = """
  const canvases = () => {
    const out = [];
    const walk = (node) => {
      if (!node) return;
      if (node.shadowRoot) walk(node.shadowRoot);
      for (const child of node.children || []) {
        if (child.tagName === 'CANVAS' && child.width >= 100 && child.height >= 100) out.push(child);
        walk(child);
      }
    };
    walk(document.body);
    return out;
  };
"""

_JS_SETUP = """
() => {""" + _JS_CANVASES + """
  // Each canvas is drawn scaled into a small scratch canvas and that is read back: reading a full
  // 1000x1000 canvas every frame costs ~50 ms and would itself delay BokehJS.
  const scratch = document.createElement('canvas');
  scratch.width = 160; scratch.height = 160;
  const sctx = scratch.getContext('2d', {willReadFrequently: true});
  const checksum = () => {
    let sum = 0, count = 0;
    for (const c of canvases()) {
      sctx.clearRect(0, 0, 160, 160);
      sctx.drawImage(c, 0, 0, 160, 160);
      const d = sctx.getImageData(0, 0, 160, 160).data;
      for (let i = 0; i < d.length; i += 4) { sum = (sum * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) % 2147483647; }
      count += 1;
    }
    return `${count}:${sum}`;
  };
  window.__bench = {
    canvases, checksum,
    arm(timeoutMs) {
      const before = checksum();
      let t0 = null;
      const onKey = () => { if (t0 === null) t0 = performance.now(); };
      window.addEventListener('keydown', onKey, true);
      window.__bench.done = new Promise((resolve) => {
        const started = performance.now();
        const frame = () => {
          const now = performance.now();
          if (t0 !== null && checksum() !== before) {
            window.removeEventListener('keydown', onKey, true);
            resolve({ms: performance.now() - t0});
            return;
          }
          if (now - started > timeoutMs) {
            window.removeEventListener('keydown', onKey, true);
            resolve({ms: null});
            return;
          }
          requestAnimationFrame(frame);
        };
        requestAnimationFrame(frame);
      });
      return before;
    },
  };
  return canvases().length;
}
"""


_JS_FIRST_IMAGE = """
(() => {""" + _JS_CANVASES + """
  const coloured = () => {
    const s = document.createElement('canvas'); s.width = 80; s.height = 80;
    const x = s.getContext('2d', {willReadFrequently: true});
    for (const c of canvases()) {
      x.clearRect(0, 0, 80, 80); x.drawImage(c, 0, 0, 80, 80);
      const d = x.getImageData(0, 0, 80, 80).data; let n = 0;
      for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - d[i + 1]) + Math.abs(d[i + 1] - d[i + 2]) > 60) n++;
      if (n > 300) return true;
    }
    return false;
  };
  window.__firstImage = new Promise((resolve) => {
    const frame = () => { if (document.body && coloured()) resolve(performance.now()); else requestAnimationFrame(frame); };
    requestAnimationFrame(frame);
  });
})();
"""

_JS_NAVIGATION = ("(() => { const n = performance.getEntriesByType('navigation')[0]; "
                  "return {html_ms: n.responseEnd, dom_ready_ms: n.domContentLoadedEventEnd}; })()")


def _first_image(page, url: str, timeout_ms: float) -> dict[str, Any]:
    page.goto(url, timeout=timeout_ms)
    ms = page.evaluate(f"Promise.race([window.__firstImage, new Promise(r => setTimeout(() => r(null), {timeout_ms}))])")
    return {"first_image_ms": ms, **page.evaluate(_JS_NAVIGATION)}


def keypress_to_image(url: str, presses: int = 20, timeout_ms: float = 15000,
                      settle_ms: float = 400, load_timeout_ms: float = 120000,
                      after_press: Callable[[], dict[str, Any]] | None = None, reloads: int = 3) -> dict[str, Any]:
    """Open `url`, press ArrowRight on the first slider `presses` times; per press the ms from keydown
    to the first animation frame with changed plot pixels. Returns p50, min, max, the samples, the
    number of presses that showed no change within `timeout_ms`, the largest canvas (w, h) in device
    pixels, console errors, and what `after_press()` (called after each press has settled, e.g. to
    read the server's probe log) returned for each press; ``page_loads``: the first image of the first page
(empty cache) and of `reloads` more pages (see the module docstring)."""
    from playwright.sync_api import sync_playwright

    samples: list[float] = []
    server: list[dict[str, Any]] = []
    misses = 0
    errors: list[str] = []
    loads: list[dict[str, Any]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        version = browser.version
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.add_init_script(_JS_FIRST_IMAGE)
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            t0 = time.perf_counter()
            loads.append({"cache": "empty", **_first_image(page, url, load_timeout_ms)})
            handle = page.locator(".noUi-handle").first
            handle.wait_for(state="visible", timeout=load_timeout_ms)
            page.locator("canvas").first.wait_for(state="visible", timeout=load_timeout_ms)
            n_canvas = page.evaluate(_JS_SETUP)
            # wait for the first image: the canvas checksum stops changing
            last, stable_since = None, time.monotonic()
            while time.monotonic() - stable_since < 1.5 and time.perf_counter() - t0 < load_timeout_ms / 1e3:
                cur = page.evaluate("window.__bench.checksum()")
                if cur != last:
                    last, stable_since = cur, time.monotonic()
                page.wait_for_timeout(100)
            load_s = time.perf_counter() - t0
            # what one checksum costs (it runs once per animation frame while waiting)
            checksum_ms = page.evaluate(
                "(() => { const t = []; for (let i = 0; i < 5; i++) { const a = performance.now(); "
                "window.__bench.checksum(); t.push(performance.now() - a); } t.sort((x, y) => x - y); "
                "return t[2]; })()")
            handle.focus()
            if after_press is not None:
                after_press()  # marks the start: what came before belongs to the page load
            for _ in range(presses):
                page.evaluate(f"window.__bench.arm({timeout_ms})")
                page.keyboard.press("ArrowRight")
                res = page.evaluate("window.__bench.done")
                if res.get("ms") is None:
                    misses += 1
                else:
                    samples.append(float(res["ms"]))
                page.wait_for_timeout(settle_ms)  # let trailing patches (colorbar, readout) land
                if after_press is not None:
                    server.append(after_press())
            canvas = page.evaluate(
                "(() => { let b = [0, 0]; for (const c of window.__bench.canvases()) "
                "{ if (c.width * c.height > b[0] * b[1]) b = [c.width, c.height]; } return b; })()")
            page.close()
            for _ in range(reloads):
                other = context.new_page()
                loads.append({"cache": "warm", **_first_image(other, url, load_timeout_ms)})
                other.close()
        finally:
            browser.close()
    return {
        "p50_ms": statistics.median(samples) if samples else None,
        "min_ms": min(samples) if samples else None,
        "max_ms": max(samples) if samples else None,
        "samples_ms": [round(s, 1) for s in samples],
        "misses": misses,
        "canvases": n_canvas,
        "canvas": canvas,
        "checksum_ms": checksum_ms,
        "server": server,
        "page_load_s": load_s,
        "page_loads": loads,
        "chromium": version,
        "console_errors": errors[:10],
    }
