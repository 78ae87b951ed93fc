"""The sweep benchmark runs end to end and reports its figures (no timing assertions)."""

from hpcdash.sim.bench import sweep_throughput


def test_sweep_throughput_reports_figures(tmp_path):
    figures = sweep_throughput(n_runs=2, core_cells=6, rounds=1, out_dir=tmp_path)
    assert figures["runs"] == 2 and figures["workers"] == 2
    assert figures["cells_per_run"] == (6 + 16) * (6 + 16) * (3 + 8)
    for key in ("serial_s", "cluster_s", "speedup", "cluster_start_s"):
        assert figures[key] > 0
    assert len(figures["serial_rounds_s"]) == len(figures["cluster_rounds_s"]) == 1
    assert len(list((tmp_path / "serial0").glob("*.h5"))) == 2
    assert len(list((tmp_path / "cluster0").glob("*.h5"))) == 2
