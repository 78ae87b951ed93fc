"""The `hpcdash` command: loopback binding, websocket origins, demo data, the benchmark entry."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from hpcdash import cli
from hpcdash.benchmarks.driver import free_port
from tests.conftest import REPO


def test_loopback_origins_by_default():
    assert cli.websocket_origins("127.0.0.1", 5006) == ["127.0.0.1:5006", "localhost:5006"]
    assert cli.websocket_origins("10.1.2.3", 8000, ["proxy.example:443"]) == ["proxy.example:443", "10.1.2.3:8000"]


def test_parser_defaults_bind_loopback():
    args = cli._parser().parse_args(["serve", "a.h5", "b.h5"])
    assert (args.address, args.port, args.root, args.paths, args.show) == ("127.0.0.1", 5006, None, ["a.h5", "b.h5"], False)
    args = cli._parser().parse_args(["demo", "--no-serve", "--out", "x"])
    assert args.no_serve and args.out == "x" and args.address == "127.0.0.1"


def test_version(capsys):
    import hpcdash

    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out == f"hpcdash {hpcdash.__version__}\n"


@pytest.mark.parametrize("runs", ["0", "-2"])
def test_demo_needs_at_least_one_run(runs: str, tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["demo", "--runs", runs, "--no-serve", "--out", str(tmp_path / "demo")])
    assert exc.value.code == 2
    assert f"hpcdash demo: error: --runs must be at least 1 (not {runs})" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


def test_bench_render_of_a_file_it_cannot_use_says_so(tmp_path: Path, capsys):
    assert cli.main(["bench", "--render", str(tmp_path / "nonexistent.json")]) == 2
    assert capsys.readouterr().err == (f"hpcdash bench: cannot read {tmp_path}/nonexistent.json: "
                                       "No such file or directory.\n")
    (tmp_path / "other.json").write_text('{"rows": []}')
    assert cli.main(["bench", "--render", str(tmp_path / "other.json")]) == 2
    assert "other.json is not a run saved with --json" in capsys.readouterr().err


def test_serve_says_at_start_which_paths_it_cannot_open(tmp_path: Path, monkeypatch, capsys):
    """What `serve` passes to its pages: the real path (the working directory first, else below the
    root); a missing file is said at start and still passed on (a job may write it later); a file
    outside the root is said and left out."""
    root = tmp_path / "demo"
    root.mkdir()
    (root / "run.h5").write_bytes(b"")
    (tmp_path / "here.h5").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert cli.opened_path("run.h5", str(root)) == str(root / "run.h5")
    assert cli.opened_path("demo/run.h5", str(root)) == str(root / "run.h5")
    (root / "latest.h5").symlink_to("run.h5")  # a link a job re-points: the pages keep it, and follow it
    assert cli.opened_path("demo/latest.h5", str(root)) == str(root / "latest.h5")
    assert capsys.readouterr().err == ""
    assert cli.opened_path("nosuch.h5", str(root)) == "nosuch.h5"
    assert capsys.readouterr().err == (f"hpcdash: warning: {tmp_path}/nosuch.h5 does not exist, nor does "
                                       f"{root}/nosuch.h5: a relative path is taken from the working directory, "
                                       f"else from the root folder {root}. Pages will open it once it exists in "
                                       "the root folder.\n")
    assert cli.opened_path("here.h5", str(root)) is None
    assert capsys.readouterr().err == (f"hpcdash: {tmp_path}/here.h5 is outside the root folder {root}. It will "
                                       "not be opened (--root chooses another folder).\n")
    # a file that does not exist and never could be opened: not promised for later
    assert cli.opened_path("../later.h5", str(root)) is None
    assert capsys.readouterr().err == (f"hpcdash: {tmp_path.parent}/later.h5 does not exist, and it is outside the "
                                       f"root folder {root}. It will not be opened (--root chooses another folder).\n")


def test_bench_passes_its_arguments_to_the_benchmark(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--skip-browser" in out and "--quick" in out  # the benchmark's own options, not the CLI's


def test_demo_writes_runs_once(tmp_path: Path):
    out = tmp_path / "demo"
    run = [sys.executable, "-m", "hpcdash", "demo", "--out", str(out), "--no-serve"]
    first = subprocess.run(run, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert first.returncode == 0, first.stderr
    files = sorted(out.glob("*.h5"))
    assert len(files) == 3 and "writing 3 demo runs" in first.stdout
    # --no-serve ends by saying what it wrote
    done = first.stdout.strip().splitlines()[-1]
    assert done.startswith("hpcdash: done: wrote ") and done.endswith(f" in {out}")
    assert all(f.name in done for f in files)
    mtimes = [f.stat().st_mtime_ns for f in files]
    second = subprocess.run(run, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert second.returncode == 0 and "using the 3 demo runs" in second.stdout
    assert [f.stat().st_mtime_ns for f in files] == mtimes


def _listening_addresses(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.split(":")
            if int(p, 16) == port and state == "0A":  # LISTEN
                found.add(addr)
    return found


@pytest.mark.slow
def test_serve_binds_loopback_and_warns_about_paths_outside_root(start_server, data_root: Path):
    server = start_server([sys.executable, "-m", "hpcdash", "serve", "../outside/secret.h5", "a.h5", "nosuch.h5",
                           "--root", str(data_root), "--port", "{port}"])
    port = int(server.url.rsplit(":", 1)[1])
    addrs = _listening_addresses(port)
    assert addrs and addrs <= {"0100007F"}, addrs  # 127.0.0.1 only
    out = server.output()
    assert "outside the root folder" in out and "secret.h5" in out
    assert f"nosuch.h5 does not exist, nor does {data_root.resolve()}/nosuch.h5" in out
    page = urllib.request.urlopen(server.url + "/", timeout=60).read().decode()
    assert "secret" not in page


def test_server_freezes_its_startup_objects_once():
    """What the server imported is out of the collector's full passes; sessions' own objects are not."""
    code = ("import gc, hpcdash.explorer, hpcdash.app as app\n"
            "first, second = app.freeze_startup_objects(), app.freeze_startup_objects()\n"
            "frozen = gc.get_freeze_count()\n"
            "later = [[] for _ in range(1000)]\n"
            "print(first, second, frozen > 100_000, gc.get_freeze_count() == frozen)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True", "False", "True", "True"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_server_gives_big_freed_blocks_back_to_the_system():
    """With the server's mmap threshold, freeing a 6 MB block returns it to the system; without it
    (glibc's own threshold has risen to 8 MB after the first block) the block came from the heap and
    stays resident. A small block allocated after it keeps the heap from being trimmed at its top."""
    code = ("import os, sys, numpy as np, hpcdash.memory as memory\n"
            "print(memory.set_mmap_threshold() if sys.argv[1] == 'set' else 'default')\n"
            "def rss():\n"
            "    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS')) // 1024\n"
            "a = np.ones(1 << 20); del a\n"  # 8 MiB: glibc's dynamic threshold rises to it
            "b = np.ones(6 << 17)\n"  # 6 MiB, touched
            "pin = np.ones(1 << 13)\n"  # 64 KiB above it in the heap
            "held = rss(); del b\n"
            "print(held - rss())\n")
    out = {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    for mode in ("set", "default"):
        run = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, cwd=REPO,
                             timeout=300, env=env)
        assert run.returncode == 0, run.stderr
        out[mode] = run.stdout.split()
    assert out["set"][0] == "True"
    assert int(out["set"][1]) >= 5, out  # given back when freed
    assert int(out["default"][1]) < 2, out  # the control: glibc's own threshold keeps it


def _serve_fails(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hpcdash", "serve", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


def test_serve_says_why_it_cannot_start(tmp_path: Path):
    """A missing root, a port in use, an address of another machine, a port out of range: one sentence
    each, exit status 2 for what the command line gave, 1 for what failed while starting, no traceback,
    and no "serving ..." line before the refusal."""
    missing = _serve_fails(["--root", str(tmp_path / "nowhere"), "--port", str(free_port())])
    assert missing.returncode == 2 and "the root folder" in missing.stderr and "does not exist" in missing.stderr
    a_file = tmp_path / "file.h5"
    a_file.write_bytes(b"")
    not_dir = _serve_fails(["--root", str(a_file), "--port", str(free_port())])
    assert not_dir.returncode == 2 and "is not a folder" in not_dir.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = _serve_fails(["--root", str(tmp_path), "--port", str(port)])
    assert busy.returncode == 1 and f"127.0.0.1:{port} is already in use" in busy.stderr
    assert "serving" not in busy.stdout
    elsewhere = _serve_fails(["--root", str(tmp_path), "--address", "192.0.2.7", "--port", str(free_port())])
    assert elsewhere.returncode == 1 and "not an address of this machine" in elsewhere.stderr
    out_of_range = _serve_fails(["--root", str(tmp_path), "--port", "99999"])
    assert out_of_range.returncode == 2 and "99999 is not a port number" in out_of_range.stderr
    for run in (missing, not_dir, busy, elsewhere, out_of_range):
        assert "Traceback" not in run.stderr


def test_demo_says_when_its_folder_cannot_be_written(tmp_path: Path):
    a_file = tmp_path / "taken"
    a_file.write_text("")
    run = subprocess.run([sys.executable, "-m", "hpcdash", "demo", "--out", str(a_file), "--no-serve"],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 2 and f"{a_file} is a file" in run.stderr and "Traceback" not in run.stderr


def test_demo_refuses_a_short_network_token_before_writing_anything(tmp_path):
    from hpcdash.cli import demo

    out = tmp_path / "new-demo"
    with pytest.raises(SystemExit, match="the token has 2 characters"):
        demo(str(out), 1, serve_it=True, address="0.0.0.0", token="ab")
    assert not out.exists()  # refused before minutes of writing, not after


def test_command_line_errors_exit_with_status_2(tmp_path, capsys):
    """What the command line gave that cannot be used: status 2 and the sentence, from `main` as from the
    console script (no SystemExit escapes with status 1)."""
    out = tmp_path / "new-demo"
    assert cli.main(["demo", "--out", str(out), "--runs", "1", "--address", "0.0.0.0", "--token", "ab"]) == 2
    assert "the token has 2 characters" in capsys.readouterr().err and not out.exists()
    assert cli.main(["bundle", "a.h5", "--root", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_the_machine_is_named_as_others_reach_it(monkeypatch):
    """A server on a network address prints a link others can open: not "localhost", which a resolver
    may give as this machine's fully qualified name."""
    import socket

    from hpcdash.cli import machine_name

    monkeypatch.setattr(socket, "getfqdn", lambda *a: "localhost")
    monkeypatch.setattr(socket, "gethostname", lambda: "login3")
    assert machine_name() == "login3"
    monkeypatch.setattr(socket, "getfqdn", lambda *a: "login3.hpc.example.org")
    assert machine_name() == "login3.hpc.example.org"
