"""The `hpcdash` command: serve the app, write and serve demo runs, run the benchmark.

    hpcdash serve [PATHS...] [--root DIR] [--port 5006] [--address 127.0.0.1] [--unix-socket PATH] [--token T]
    hpcdash demo [--out DIR] [--runs 3] [--port 5006] [--no-serve]
    hpcdash bundle PATHS... [--root DIR] [--out DIR]
    hpcdash verify BUNDLE [--recorded-paths]
    hpcdash bench [ARGS...]
    hpcdash --version

PATHS named on the command line mean what they mean in the shell (the working directory), else below
`--root` (`hpcdash.data.named_path`, the rule notebooks' `SliceExplorer` follows too).

The server binds to loopback unless `--address` says otherwise, and never reads a file outside `--root`
(default: the working directory). On a machine shared with other users (an HPC login node) any of them
can connect to a loopback port: `--unix-socket PATH` listens on a socket file only its owner can open
instead (reached through ``ssh -L 5006:PATH host``, or jupyter-server-proxy, which uses one). Bound to
any other address, the server asks every browser for a token (`hpcdash.auth`), printed at start.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hpcdash.words import counted

DEFAULT_PORT = 5006
DEFAULT_DEMO_DIR = "hpcdash-demo"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARD = ("0.0.0.0", "::", "")
#: the shortest token `serve` accepts on a network address (a random one has 32 characters)
MIN_NETWORK_TOKEN = 16


def port_number(text: str) -> int:
    """A TCP port from the command line (1-65535), or a message argparse shows."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port


class CommandLineError(SystemExit):
    """Input on the command line that cannot be used (a root that is not a folder, options that
    contradict each other, a file that does not exist): `main` prints the sentence and exits with
    status 2, as for a malformed option. Failures while running (a port in use, a file that cannot be
    written) stay `SystemExit` with status 1."""


def check_root(root: str | os.PathLike | None) -> str:
    """The root folder as an absolute real path; SystemExit with a sentence when it is not a folder."""
    real = Path(root or os.getcwd()).resolve()
    if not real.is_dir():
        what = "is not a folder" if real.exists() else "does not exist"
        raise CommandLineError(f"hpcdash: the root folder {real} {what}; --root names the folder whose files "
                         "the app may open.")
    return str(real)


def listen_error(err: OSError, address: str, port: int) -> str:
    """What to tell the user when the server cannot listen on address:port."""
    if err.errno == errno.EADDRINUSE:
        return (f"hpcdash: {address}:{port} is already in use (another hpcdash, or another program, "
                "listens there); choose another port with --port.")
    if err.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(err, socket.gaierror):
        return (f"hpcdash: cannot listen on {address!r}: it is not an address of this machine "
                "(--address takes one of its addresses, 127.0.0.1 by default).")
    if err.errno == errno.EACCES:
        return f"hpcdash: not allowed to listen on port {port} (ports below 1024 need privileges); use --port."
    return f"hpcdash: cannot listen on {address}:{port}: {err.strerror or err}."


class _AtLeastOne(argparse.Action):
    """An integer option that must be 1 or more: the subcommand's usage and a sentence naming the option
    otherwise (argparse exits with status 2)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if values < 1:
            parser.error(f"{option_string} must be at least 1 (not {values})")
        setattr(namespace, self.dest, values)


def _parser() -> argparse.ArgumentParser:
    from hpcdash import __version__

    p = argparse.ArgumentParser(prog="hpcdash", description="See and steer HPC work from the browser.")
    p.add_argument("--version", action="version", version=f"hpcdash {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def server_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--port", type=port_number, default=DEFAULT_PORT, help="port to listen on (default 5006)")
        sp.add_argument("--address", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: only this machine can connect)")
        sp.add_argument("--unix-socket", default=None, metavar="PATH",
                        help="listen on this Unix socket (mode 0600: only you can connect) instead of a TCP "
                             "port; for shared machines, reached with ssh -L 5006:PATH host")
        sp.add_argument("--token", default=None,
                        help="token browsers must show (default: $HPCDASH_TOKEN, else a random one when "
                             "--address is not loopback; on loopback, none unless given); on a network "
                             f"address it must have at least {MIN_NETWORK_TOKEN} characters")
        sp.add_argument("--no-token", action="store_true",
                        help="serve a network address without a token (only behind a proxy that logs users in)")
        sp.add_argument("--ssl-certfile", default=None, metavar="PEM",
                        help="serve HTTPS with this certificate (chain), e.g. with --address 0.0.0.0")
        sp.add_argument("--ssl-keyfile", default=None, metavar="PEM",
                        help="the certificate's private key (if not in the --ssl-certfile file)")
        sp.add_argument("--allow-websocket-origin", action="append", default=None, metavar="HOST[:PORT]",
                        help="extra name the server answers to (Host header) and whose pages may open its "
                             "websockets (repeatable; '*' allows all, behind a proxy that logs users in)")
        sp.add_argument("--prefix", default="", help="URL prefix, e.g. when behind jupyter-server-proxy")
        sp.add_argument("--show", dest="show", action="store_true", default=False,
                        help="open a browser tab")
        sp.add_argument("--no-show", dest="show", action="store_false", help="do not open a browser (default)")
        sp.add_argument("--num-threads", type=int, default=None,
                        help="threads for session callbacks (default: Panel's setting)")

    s = sub.add_parser("serve", help="serve the app for HDF5 files under a root folder")
    s.add_argument("paths", nargs="*", help="HDF5 files to open at start (inside --root): relative to the working "
                                            "directory, else to --root")
    s.add_argument("--root", default=None, help="folder the file browser shows; files outside it are refused "
                                               "(default: the working directory)")
    server_args(s)

    d = sub.add_parser("demo", help="write demo runs (if missing) and serve them")
    d.add_argument("--out", default=DEFAULT_DEMO_DIR, help=f"folder for the demo runs (default ./{DEFAULT_DEMO_DIR})")
    d.add_argument("--runs", type=int, default=3, action=_AtLeastOne, help="number of runs to write (default 3)")
    d.add_argument("--no-serve", action="store_true", help="only write the files")
    server_args(d)

    bn = sub.add_parser("bundle", help="write a reproducible bundle of HDF5 files (e.g. at the end of a batch job)")
    bn.add_argument("paths", nargs="+", help="the files (inside --root): relative to the working directory, else "
                                             "to --root")
    bn.add_argument("--root", default=None, help="folder the files are in; their paths in the bundle are "
                                                "relative to it (default: the working directory)")
    bn.add_argument("--out", default=None, help="where the bundle goes (default: <root>/bundles)")
    bn.add_argument("--name", default=None, help="bundle name (default: hpcdash-bundle-<UTC time>)")
    bn.add_argument("--title", default="", help="what the bundle holds, e.g. the study's name")
    bn.add_argument("--author", default="", help="who made it, for the RO-Crate (default: the login name)")
    bn.add_argument("--orcid", default="", help="the author's ORCID iD, e.g. 0000-0002-1825-0097")
    bn.add_argument("--affiliation", default="", help="the author's organisation: its name, and perhaps its "
                    "ROR address (e.g. 'California Digital Library https://ror.org/03yrm5c26')")
    bn.add_argument("--license", default="", choices=["", *_licenses()], metavar="SPDX",
                    help=f"SPDX license of the content: {', '.join(_licenses())} (default: none)")
    bn.add_argument("--no-data", action="store_true", help="record the files' paths and SHA-256 only, do not copy")

    v = sub.add_parser("verify", help="check a bundle's files against the SHA-256 its RO-Crate recorded")
    v.add_argument("bundle", help="the bundle's folder (or its .zip)")
    v.add_argument("--recorded-paths", action="store_true",
                   help="also check data left out of the bundle (--no-data) at the absolute paths its crate "
                        "records; only for a bundle you trust (without it, no file outside the bundle is read)")

    b = sub.add_parser("bench", help="run the benchmark (prints one table)")
    b.add_argument("args", nargs=argparse.REMAINDER, help="passed to the benchmark")
    return p


def websocket_origins(address: str, port: int, extra: Sequence[str] | None = None) -> list[str]:
    """Origins allowed to open the websocket: the bound address (and localhost for loopback), plus `extra`."""
    origins = list(extra or [])
    if address in LOOPBACK:
        origins += [f"127.0.0.1:{port}", f"localhost:{port}"]
    elif address in WILDCARD:
        origins += [f"{socket.gethostname()}:{port}", f"{socket.getfqdn()}:{port}", f"localhost:{port}",
                    f"127.0.0.1:{port}"]
    else:
        origins += [f"{address}:{port}"]
    return list(dict.fromkeys(origins))


def serve(paths: Sequence[str], root: str | None, *, port: int = DEFAULT_PORT, address: str = "127.0.0.1",
          allow_websocket_origin: Sequence[str] | None = None, prefix: str = "", show: bool = False,
          num_threads: int | None = None, title: str = "hpcdash", unix_socket: str | None = None,
          token: str | None = None, no_token: bool = False, ssl_certfile: str | None = None,
          ssl_keyfile: str | None = None) -> None:
    """Serve `create_app(paths, root)` at http://address:port/ until interrupted.

    With `unix_socket`, the server listens on that socket file (created with mode 0600) and on no TCP
    port; `port` is then the local port a tunnel forwards to it (``ssh -L port:unix_socket host``),
    which the websocket's origin check allows. Requests naming any host other than those origins (and
    loopback names) get 403 (`hpcdash.hosts`). Browsers must show a token (see `server_token`) on a
    network address, and on loopback when one is given. With `ssl_certfile` (and `ssl_keyfile` unless the
    key is in the same PEM file) the server speaks HTTPS and its websocket WSS."""
    import logging

    import panel as pn

    from hpcdash.app import ASSETS, create_app, prepare_server_process

    # errors raised in session callbacks go to stderr (Panel and Bokeh log them, they never stop the server)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s: %(message)s")

    root = check_root(root)
    paths = [p for p in (opened_path(p, root) for p in paths) if p is not None]
    import hpcdash.explorer  # noqa: F401 - loads Datashader's kernels now, not in the first session

    prepare_server_process()

    kwargs = {}
    from hpcdash.auth import LOGIN_PATH, TokenAuth

    given = given_token(token) is not None
    token = server_token(address, unix_socket, token, no_token)
    login = shown = ""
    said: list[tuple[str, Any]] = []  # (line, stream) to print once the server listens
    if token:
        kwargs["auth_provider"] = TokenAuth(token)
        login = f"{LOGIN_PATH}?token={token}"
        # a token the user chose is theirs to know: it is not written into logs (a batch job's output
        # file may be readable by others); a new one must be printed to be of use
        shown = LOGIN_PATH if given else login
    if unix_socket:
        if ssl_certfile or ssl_keyfile:
            raise CommandLineError("hpcdash: --unix-socket and --ssl-certfile do not go together: only you can open "
                             "the socket, and SSH encrypts the tunnel to it.")
        unix_socket = check_unix_socket_path(unix_socket)
        kwargs["unix_socket"] = unix_socket
        origins = websocket_origins("127.0.0.1", port, allow_websocket_origin)
        said.append((f"hpcdash: serving {root} on the Unix socket {unix_socket} (only you can connect); from "
                     f"your computer: ssh -L {port}:{unix_socket} {machine_name()} and open "
                     f"http://localhost:{port}{prefix or ''}{shown or '/'}", sys.stdout))
        show = False
    else:
        origins = websocket_origins(address, port, allow_websocket_origin)
        host = machine_name() if address in WILDCARD else address
        scheme = "http"
        if ssl_certfile:
            kwargs.update(check_certificate(ssl_certfile, ssl_keyfile))
            scheme = "https"
        elif ssl_keyfile:
            raise CommandLineError("hpcdash: --ssl-keyfile needs --ssl-certfile (the certificate that goes with the key).")
        said.append((f"hpcdash: serving {root} at {scheme}://{host}:{port}{prefix or ''}{shown or '/'}",
                     sys.stdout))
        if token:
            said.append((("hpcdash: log in with the token you gave (--token or $HPCDASH_TOKEN)" if given else
                          "hpcdash: browsers need the token in that link (or typed into the login page)")
                         + (" (connections are encrypted with TLS)." if ssl_certfile else
                            "; the connection is not encrypted: on a network you do not trust, use "
                            "--ssl-certfile, or --unix-socket and an SSH tunnel."), sys.stdout))
        elif address not in LOOPBACK:
            said.append((f"hpcdash: warning: anyone who can reach {address}:{port} can read the files under "
                         f"{root} and start jobs in your name (--no-token).", sys.stderr))
    if prefix:
        kwargs["prefix"] = prefix
    if num_threads is not None:
        kwargs["num_threads"] = num_threads
    paths = list(paths)

    def app():  # a plain function: Panel builds one page per session
        return create_app(paths, root, title=title)

    # the cluster's Dask dashboard (on this machine's loopback) under the app's own address and login
    from hpcdash.app import workspace
    from hpcdash.proxy import MOUNT, ROUTE, DashboardProxy

    ws = workspace(root)
    ws.dashboard_proxy = f"{MOUNT}/status"
    kwargs["extra_patterns"] = [(ROUTE, DashboardProxy, {"target": ws.dashboard_target})]

    try:
        server = pn.serve({"/": app}, port=port, address=address,
                          websocket_origin=origins, show=show and not login, title=title, verbose=False,
                          static_dirs={"hpcdash-assets": str(ASSETS)}, start=False, **kwargs)
    except OSError as err:
        raise SystemExit(listen_error(err, unix_socket or address, port)) from None
    # only requests naming a host the server is meant to be reached by (its websocket origins, loopback)
    # are answered: a page rebound to this machine's loopback (DNS rebinding) gets 403
    from hpcdash.hosts import guard

    guard(server._tornado)
    if prefix:  # the address without the prefix leads to the app (a proxy's readiness probe got a 404)
        from tornado.web import RedirectHandler

        to_app = {"url": prefix.rstrip("/") + "/", "permanent": False}
        server._tornado.add_handlers(r".*", [(r"/", RedirectHandler, to_app)])
    for line, stream in said:  # now that the server listens
        print(line, file=stream, flush=True)
    if show and login:  # Panel would open the bare page, which asks for the token
        server.io_loop.add_callback(server.show, login)
    run_until_stopped(server)


def machine_name() -> str:
    """This machine's name as others reach it: its fully qualified name, else its host name (where the
    resolver calls it "localhost", which names the reader's own machine)."""
    fqdn = socket.getfqdn()
    return fqdn if fqdn and fqdn not in LOOPBACK and not fqdn.startswith("localhost") else socket.gethostname()


def opened_path(path: str, root: str) -> str | None:
    """What `serve` passes on to its pages for a path named on its command line, said on stderr when
    it cannot be shown: its path (`hpcdash.data.named_path`: the working directory first, else below
    the root; a symlink kept, which the pages follow when it is re-pointed); `path` as given when it
    exists nowhere yet (pages open it once it exists below the root: a file the job has yet to write);
    None when it is outside the root."""
    from hpcdash.data import MissingFileError, PathOutsideRootError, named_path

    try:
        return str(named_path(root, path, keep_links=True))
    except MissingFileError as err:
        print(f"hpcdash: warning: {err} Pages will open it once it exists in the root folder.", file=sys.stderr)
        return path
    except PathOutsideRootError as err:
        print(f"hpcdash: {err} It will not be opened (--root chooses another folder).", file=sys.stderr)
        return None


def given_token(token: str | None) -> str | None:
    """The token the user chose: `token` (``--token``), else $HPCDASH_TOKEN, else None."""
    from hpcdash.auth import TOKEN_ENV

    return token if token is not None else os.environ.get(TOKEN_ENV) or None


def server_token(address: str, unix_socket: str | None, token: str | None, no_token: bool) -> str | None:
    """The token browsers must show, or None: `token`, else $HPCDASH_TOKEN, else a new random one when
    the server listens on a network address (not loopback, not a Unix socket); `no_token` turns it
    off (a proxy in front logs users in). SystemExit for a token given for a network address that is
    shorter than `MIN_NETWORK_TOKEN` characters."""
    from hpcdash.auth import new_token

    if no_token:
        if token:
            raise CommandLineError("hpcdash: --token and --no-token contradict each other; give one of them.")
        return None
    token = given_token(token)
    if token is not None and not token.strip():
        raise CommandLineError("hpcdash: the token is empty; give one with characters in it, or --no-token.")
    network = not unix_socket and address not in LOOPBACK
    if token is not None and network and len(token) < MIN_NETWORK_TOKEN:
        # the login page does not slow down guesses: on a network address a short token is soon found,
        # and with it the files under the root and the user's allocation
        raise CommandLineError(f"hpcdash: the token has {len(token)} characters; on a network address it needs at "
                         f"least {MIN_NETWORK_TOKEN}, or anyone on the network could guess it. Leave "
                         "--token (and $HPCDASH_TOKEN) out for a random one.")
    if token is None and network:
        token = new_token()
    return token


def run_until_stopped(server) -> None:
    """Run `server` until SIGINT (Ctrl-C) or SIGTERM (how jupyter-server-proxy and batch systems stop
    a process), then close the cluster the server kept for its pages, so no batch job outlives it."""
    import signal

    from hpcdash.app import close_workspaces

    loop = server.io_loop

    def stop(signum, frame) -> None:
        loop.asyncio_loop.call_soon_threadsafe(loop.stop)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    server.start()
    try:
        loop.start()
    finally:
        close_workspaces()


def check_certificate(certfile: str, keyfile: str | None = None) -> dict[str, str]:
    """Bokeh's TLS options for `certfile` and `keyfile`, or SystemExit with a sentence saying why the
    server could not use them (a missing file, a key that does not match, not PEM)."""
    import ssl

    for label, path in (("certificate", certfile), ("key", keyfile)):
        if path and not os.path.isfile(path):
            raise CommandLineError(f"hpcdash: the {label} file {path} does not exist.")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError) as err:
        raise SystemExit(f"hpcdash: cannot serve HTTPS with {certfile}" + (f" and {keyfile}" if keyfile else "")
                         + f": {getattr(err, 'reason', None) or err} (PEM files of a certificate and its "
                         "private key are needed).") from None
    opts = {"ssl_certfile": os.path.abspath(certfile)}
    if keyfile:
        opts["ssl_keyfile"] = os.path.abspath(keyfile)
    return opts


def check_unix_socket_path(path: str) -> str:
    """The absolute path for a Unix socket, or SystemExit with a sentence saying why it cannot be one:
    its folder must exist, and nothing but a stale socket may be in its place."""
    import stat

    path = os.path.abspath(os.path.expanduser(path))
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise CommandLineError(f"hpcdash: cannot listen on {path}: the folder {folder} does not exist.")
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise SystemExit(f"hpcdash: cannot listen on {path}: a file that is not a socket is in its place.")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            pass  # a socket left behind by a server that is gone: replaced
        else:
            raise SystemExit(f"hpcdash: cannot listen on {path}: a server is listening there already.")
        finally:
            probe.close()
    # the kernel's limit for a socket path (sun_path: 108 bytes with the final NUL on Linux)
    if len(os.fsencode(path)) > 107:
        raise CommandLineError(f"hpcdash: cannot listen on {path}: a Unix socket path has at most 107 bytes "
                         f"(this one has {len(os.fsencode(path))}); choose a shorter one.")
    return path


def demo(out: str, runs: int = 3, serve_it: bool = True, **server) -> list[Path]:
    """Write `runs` demo runs into `out` unless they exist, then serve them (unless `serve_it` is False)."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1 (not {runs})")
    if serve_it:  # a token the server would refuse is said before minutes of writing, not after
        server_token(server.get("address", "127.0.0.1"), server.get("unix_socket"), server.get("token"),
                     bool(server.get("no_token")))
    out_dir = Path(out).resolve()
    existing = sorted(out_dir.glob("*.h5")) if out_dir.exists() else []
    if len(existing) >= runs:
        print(f"hpcdash: using the {len(existing)} demo runs in {out_dir}", flush=True)
        paths = existing
    else:
        try:
            from hpcdash.sim import write_demo_runs
        except ImportError as err:
            raise SystemExit(f"hpcdash: demo data cannot be written: {err}") from None
        if out_dir.exists() and not out_dir.is_dir():
            raise CommandLineError(f"hpcdash: {out_dir} is a file; --out names the folder the demo runs go to.")
        print(f"hpcdash: writing {runs} demo runs to {out_dir} ...", flush=True)
        try:
            paths = [Path(p) for p in write_demo_runs(out_dir, n_runs=runs)]
        except OSError as err:
            raise SystemExit(f"hpcdash: the demo runs cannot be written to {out_dir}: "
                             f"{err.strerror or err}.") from None
        print(f"hpcdash: done: wrote {', '.join(p.name for p in paths)} in {out_dir}", flush=True)
    if serve_it:
        serve([str(p) for p in paths[:2]], str(out_dir), **server)
    return paths


def bench(args: Sequence[str]) -> int:
    """Run the benchmark (`hpcdash.bench.main`) with the given command-line arguments."""
    from hpcdash import bench as bench_mod

    return int(bench_mod.main(list(args)) or 0)


def _licenses() -> list[str]:
    from hpcdash.provenance.bundle import LICENSES

    return list(LICENSES)


def bundle(paths: Sequence[str], root: str | None = None, out: str | None = None, *, name: str | None = None,
           title: str = "", license: str = "", include_data: bool = True, author: str = "", orcid: str = "",
           affiliation: str = "") -> int:
    """Write a bundle of `paths` (absolute, or relative to the working directory, else to `root`, as
    `serve` takes them: `hpcdash.data.named_path`; all inside `root`):
    the files, a notebook that opens them side by side, the RO-Crate, pins and HPC recipes. Inside a
    SLURM job the job's id and nodes are recorded too. Prints the zip's path; exit status 2 for a path
    that does not exist, is outside the root or is not a file. A file hpcdash cannot open as HDF5 (not
    HDF5, empty, truncated) is bundled all the same, with a warning on stderr naming it and why (exit
    status 0: the bundle was written)."""
    from hpcdash.data import MissingFileError, PathOutsideRootError, named_path
    from hpcdash.provenance import ProvenanceLog, plan_bundle, write_bundle

    root_dir = Path(check_root(root))
    from hpcdash.provenance.bundle import affiliation_entity, author_entity

    try:
        author_entity(author, orcid)
    except ValueError as err:  # at the end of a batch job: the bundle matters more than the iD
        print(f"hpcdash: warning: {err} The bundle names its author without it.", file=sys.stderr)
        orcid = ""
    try:
        affiliation_entity(affiliation)
    except ValueError as err:
        print(f"hpcdash: warning: {err} The bundle names the organisation without it.", file=sys.stderr)
        kept = affiliation_entity(affiliation, strict=False)
        affiliation = kept["name"] if kept else ""
    log = ProvenanceLog()
    job = {k: os.environ[k] for k in ("SLURM_JOB_ID", "SLURM_JOB_NAME", "SLURM_JOB_NODELIST", "SLURM_CLUSTER_NAME")
           if os.environ.get(k)}
    if job.get("SLURM_JOB_ID"):
        log.record("cluster", f"Ran in SLURM job {job['SLURM_JOB_ID']}", **{k.lower(): v for k, v in job.items()})
    view: dict[str, str] = {}
    for p in paths:
        try:
            real = named_path(root_dir, p)
        except MissingFileError as err:
            print(f"hpcdash: {err} Nothing was bundled.", file=sys.stderr)
            return 2
        except PathOutsideRootError as err:
            print(f"hpcdash: {err} It is not bundled (--root chooses the folder).", file=sys.stderr)
            return 2
        if not real.is_file():
            print(f"hpcdash: {real} is not a file; nothing was bundled.", file=sys.stderr)
            return 2
        log.record("open", f"Named on the command line: {real.name}", paths=[real])
        view[f"file{len(view) + 1 if view else ''}"] = real.relative_to(root_dir).as_posix()
    shown = {"last": None}

    def progress(fraction: float, text: str) -> None:
        step = (int(fraction * 10), text)  # a line per tenth of the work, or when the work changes
        if step != shown["last"]:
            shown["last"] = step
            print(f"hpcdash: {fraction:4.0%} {text}", file=sys.stderr, flush=True)

    try:
        zip_path = write_bundle(plan_bundle(log, root_dir), out or root_dir / "bundles", log=log, views=[view],
                                include_data=include_data, name=name, title=title, license=license,
                                author=author, orcid=orcid, affiliation=affiliation, progress=progress,
                                warn=lambda text: print(f"hpcdash: warning: {text}", file=sys.stderr, flush=True))
    except (OSError, ValueError) as err:
        print(f"hpcdash: the bundle could not be written: {err}", file=sys.stderr)
        return 1
    print(zip_path)
    return 0


def verify(bundle: str, recorded_paths: bool = False) -> int:
    """Print each file's check (OK, CHANGED, MISSING: data, the bundled hpcdash code, the notebook...),
    then the files under data/ and hpcdash/ the crate does not list (EXTRA, not a failure); exit status 0
    when all match, 1 when one does not, 2 when `bundle` is not a bundle (a folder, or its .zip).
    Only files inside the bundle are read: a file its crate names elsewhere (an absolute path, '..'
    leading out, a symbolic link to elsewhere) is OUTSIDE, not read, and fails the check; so does data
    left out of the bundle, unless `recorded_paths` (then read at its recorded path)."""
    import tempfile
    import zipfile

    from hpcdash.provenance import unlisted_files, verify_bundle

    path = Path(bundle)
    if not path.exists():
        print(f"hpcdash: {bundle} does not exist; `hpcdash verify` takes a bundle's folder or its .zip.",
              file=sys.stderr)
        return 2
    if path.is_file() and not zipfile.is_zipfile(path):
        what = ("a .zip that cannot be read (an incomplete download? download it again)"
                if path.suffix.lower() == ".zip" else "a file, not a bundle")
        print(f"hpcdash: {bundle} is {what}; a bundle is a folder holding ro-crate-metadata.json, or the zip "
              "of that folder.", file=sys.stderr)
        return 2
    try:
        if path.is_file():
            # unpacked into a temporary folder only (zipfile drops absolute paths and '..' from names)
            with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(path) as zf:
                zf.extractall(tmp)
                inner = [p.parent for p in Path(tmp).glob("*/ro-crate-metadata.json")]
                folder = inner[0] if inner else Path(tmp)
                checks, extra = verify_bundle(folder, recorded_paths=recorded_paths), unlisted_files(folder)
        else:
            checks, extra = verify_bundle(path, recorded_paths=recorded_paths), unlisted_files(path)
    except FileNotFoundError:
        print(f"hpcdash: {bundle} is not a bundle: it has no ro-crate-metadata.json (a bundle is the folder, "
              "or its .zip, that Export bundle or `hpcdash bundle` wrote).", file=sys.stderr)
        return 2
    except (OSError, ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile) as err:
        print(f"hpcdash: {bundle} is not a bundle (no readable ro-crate-metadata.json): {err}", file=sys.stderr)
        return 2
    for c in checks:
        why = ""
        if c.outside and c.left_out:
            why = (": data left out of the bundle, recorded at this path; not read (--recorded-paths reads it, "
                   "for a bundle you trust)")
        elif c.outside:
            why = ": not part of the bundle, not read"
        print(f"{c.status:8} {_printable(c.path)}{why}")
    for rel in extra:
        print(f"{'EXTRA':8} {_printable(rel)} (not in the RO-Crate: nothing recorded to check it against)")
    bad = sum(not c.ok for c in checks)
    outside = sum(c.outside for c in checks)
    print(f"{len(checks) - bad} of {len(checks)} files match their recorded SHA-256"
          + (f"; {outside} named outside the bundle, not read" if outside else "")
          + (f"; {counted(len(extra), 'file')} under data/ or hpcdash/ not in the record" if extra else ""))
    return 1 if bad else 0


def _printable(text: str) -> str:
    """`text` (a name read from a bundle) with its control characters written as escapes, so that it
    cannot move the terminal's cursor or hide a line."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: f"\\x{ord(m.group()):02x}", text)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hpcdash` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(argv)
    except CommandLineError as err:
        print(err, file=sys.stderr)
        return 2


def _run(argv: list[str]) -> int:
    if argv[:1] == ["bench"]:  # everything after `bench` is the benchmark's own (its --help included)
        return bench(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "verify":
        return verify(args.bundle, recorded_paths=args.recorded_paths)
    if args.command == "bundle":
        return bundle(args.paths, args.root, args.out, name=args.name, title=args.title, license=args.license,
                      include_data=not args.no_data, author=args.author, orcid=args.orcid,
                      affiliation=args.affiliation)
    server = dict(port=args.port, address=args.address, allow_websocket_origin=args.allow_websocket_origin,
                  prefix=args.prefix, show=args.show, num_threads=args.num_threads, unix_socket=args.unix_socket,
                  token=args.token, no_token=args.no_token, ssl_certfile=args.ssl_certfile,
                  ssl_keyfile=args.ssl_keyfile)
    if args.command == "serve":
        serve(args.paths, args.root, **server)
    elif args.command == "demo":
        demo(args.out, args.runs, serve_it=not args.no_serve, **server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
