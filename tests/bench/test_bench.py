"""`mpe-psn bench` on tiny grids: valid JSON, markdown and PNG; ratios; argument errors."""

from __future__ import annotations

import json

import pytest

from mpe_psn.bench.layer import LayerGrid, run_layer_grid, speedups
from mpe_psn.bench.report import write_results
from mpe_psn.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_layer_grid_writes_json_markdown_and_png(tmp_path):
    grid = LayerGrid(Ts=(1, 3), n_exps=(4,), methods=("mpe-fused", "mpe-reference", "copy"), repeats=1, warmup=0)
    result = run_layer_grid(grid, progress=False)
    rows = result["rows"]
    assert [(r["T"], r["method"]) for r in rows] == [
        (1, "mpe-fused"), (1, "mpe-reference"), (1, "copy"), (3, "mpe-fused"), (3, "mpe-reference"), (3, "copy")
    ]
    assert all(r["status"] == "ok" and r["fwd_ms"] > 0 and r["fwdbwd_ms"] > 0 for r in rows)
    assert rows[0]["backend"] == "cpu" and rows[0]["peak_bytes"] is None
    fused = [r for r in rows if r["method"] == "mpe-fused"]
    assert all(r["saved_bytes_per_element"] * r["T"] * r["N"] <= 5 * r["T"] * r["N"] + 16 for r in fused)  # x, mask, seed
    assert next(r for r in rows if r["method"] == "copy")["saved_bytes_per_element"] == 0.0

    paths = write_results(result, tmp_path, "layer")
    assert [p.name for p in paths] == ["layer.json", "layer.md", "layer_speedup.png"]
    loaded = json.loads(paths[0].read_text())
    assert loaded["meta"]["kind"] == "layer" and len(loaded["rows"]) == 6
    assert {s["rival"] for s in loaded["speedups"]} == {"mpe-reference", "copy"}
    markdown = paths[1].read_text()
    assert "| T | N | mpe-fused | mpe-reference | copy |" in markdown and "| 3 | 2^4 |" in markdown
    assert paths[2].read_bytes().startswith(PNG_MAGIC)


def test_speedups_are_rival_over_fused():
    rows = [
        {"T": 4, "N": 1024, "method": "mpe-fused", "status": "ok", "fwd_ms": 2.0, "fwdbwd_ms": 4.0},
        {"T": 4, "N": 1024, "method": "sj-lif", "status": "ok", "fwd_ms": 3.0, "fwdbwd_ms": 10.0},
        {"T": 4, "N": 1024, "method": "loop-lif", "status": "skipped: slow"},
    ]
    assert speedups(rows) == [{"T": 4, "N": 1024, "rival": "sj-lif", "fwd": 1.5, "fwdbwd": 2.5}]


def test_slow_methods_stop_and_missing_rivals_are_reported(monkeypatch):
    import mpe_psn.bench.layer as layer

    monkeypatch.setattr(layer, "spikingjelly_available", lambda: False)
    grid = LayerGrid(Ts=(2,), n_exps=(3, 4), methods=("loop-lif", "sj-lif"), repeats=1, warmup=0, slow_ms=0.0)
    result = run_layer_grid(grid, progress=False)
    assert [r["status"] for r in result["rows"]] == ["ok", "skipped: slower than 0 ms at a smaller N"]
    assert "SpikingJelly is not installed" in result["meta"]["skipped_methods"]["sj-lif"]


def test_cli_layer(tmp_path, capsys):
    code = main([
        "bench", "layer", "-T", "2", "--n-exp", "3", "--methods", "mpe-fused", "loop-lif",
        "--repeats", "1", "--warmup", "0", "--device", "cpu", "--out", str(tmp_path), "--no-progress",
    ])
    assert code == 0
    assert (tmp_path / "layer.json").exists() and (tmp_path / "layer_speedup.png").exists()
    assert "loop-lif / mpe-fused" in capsys.readouterr().out


def test_cli_rejects_unknown_method(tmp_path):
    with pytest.raises(SystemExit, match="unknown method 'fast-lif'"):
        main(["bench", "layer", "--methods", "fast-lif", "--out", str(tmp_path), "--no-progress"])


def test_net_bench_one_step_per_neuron(tmp_path):
    pytest.importorskip("mpe_psn.models")
    from mpe_psn.bench.net import run_net_bench

    result = run_net_bench(
        model="small", T=2, batches=(1,), neurons=("mpe", "mpe-reference", "lif"), precisions=("fp32", "amp"),
        repeats=1, warmup=0, num_classes=3, input_size=16, progress=False,
    )
    assert [(r["precision"], r["neuron"]) for r in result["rows"]] == [
        ("fp32", "mpe"), ("fp32", "mpe-reference"), ("fp32", "lif"), ("amp", "mpe"), ("amp", "mpe-reference"), ("amp", "lif"),
    ]
    assert all(r["status"] == "ok" and r["ms"] > 0 for r in result["rows"])
    paths = write_results(result, tmp_path, "net")
    assert [p.name for p in paths] == ["net.json", "net.md"]
    assert "| 1 | amp | mpe-reference |" in paths[1].read_text()
