"""h5grove (the backend of jupyterlab-h5web) served by tornado on 127.0.0.1, for the benchmark.

    python -m hpcdash.benchmarks.h5grove_server ROOT_DIR PORT

Slices are then read with GET /data?file=NAME&path=/DATASET&selection=i,:,:&format=bin.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Serve ROOT_DIR with h5grove's tornado handlers on 127.0.0.1:PORT until killed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    root, port = argv[0], int(argv[1])
    import tornado.ioloop
    import tornado.web
    from h5grove.tornado_utils import get_handlers

    app = tornado.web.Application(get_handlers(root))
    app.listen(port, address="127.0.0.1")
    print(f"h5grove serving {root} on http://127.0.0.1:{port}", flush=True)
    tornado.ioloop.IOLoop.current().start()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
