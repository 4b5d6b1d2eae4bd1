"""`mpe-psn bench` on tiny grids: valid JSON, markdown and PNG; ratios; argument errors."""

from __future__ import annotations

import json

import pytest
import torch

from mpe_psn.bench.layer import LayerGrid, run_layer_grid, speedups
from mpe_psn.bench.report import write_results
from mpe_psn.commands.cli import main

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


def test_cli_rejects_unknown_method(tmp_path, capsys):
    assert main(["bench", "layer", "--methods", "fast-lif", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "argument --methods: unknown method 'fast-lif'" in capsys.readouterr().err


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


def test_net_bench_rounds_time_the_neurons_in_turn(monkeypatch):
    """With ``rounds`` the neurons' steps are timed in turn (mpe, relu, mpe, relu, ...) and each
    row's ``ms`` is the median of its rounds."""
    from mpe_psn.bench import net

    order, times = [], iter([5.0, 1.0, 9.0, 2.0, 6.0, 3.0])

    def fake_median_ms(fn, device, repeats, warmup):
        order.append(fn)
        return next(times) if len(order) <= 6 else 0.5  # then the inference passes

    monkeypatch.setattr(net, "median_ms", fake_median_ms)
    built = []
    real_case = net._bench_case

    def counted_case(*args):
        step, infer_ms, shape = real_case(*args)
        calls = []
        built.append(calls)
        return (lambda: calls.append(len(order)) or step()), infer_ms, shape

    monkeypatch.setattr(net, "_bench_case", counted_case)
    result = net.run_net_bench(model="small", T=2, batches=(1,), neurons=("mpe", "relu"), precisions=("fp32",),
                               repeats=1, warmup=2, num_classes=3, input_size=8, progress=False, rounds=3)
    assert built == [[0, 0], [0, 0]]  # both nets took their warm-up steps before the first timing
    mpe, relu = result["rows"]
    assert mpe["ms_rounds"] == [5.0, 9.0, 6.0] and mpe["ms"] == 6.0
    assert relu["ms_rounds"] == [1.0, 2.0, 3.0] and relu["ms"] == 2.0
    assert order[0] is order[2] is order[4] and order[1] is order[3] is order[5] and order[0] is not order[1]
    assert result["meta"]["rounds"] == 3 and mpe["infer_ms"] == 0.5


def _row(T, N, method, fwd, fwdbwd):
    return {"T": T, "N": N, "method": method, "status": "ok", "fwd_ms": fwd, "fwdbwd_ms": fwdbwd}


def test_targets_are_ratios_of_one_run_with_verdicts():
    from mpe_psn.bench.layer import targets
    from mpe_psn.bench.report import targets_markdown

    big, small = 2**16, 2**10  # T = 16: 2^20 and 2^14 elements
    rows = [
        {**_row(16, big, "mpe-fused", 4.0, 10.0), "fwdbwd_spikes_ms": 8.0}, _row(16, big, "sigmoid", 1.0, 2.0),
        _row(16, big, "sj-lif", 40.0, 35.0), _row(16, big, "mpe-fused-expected", 3.0, 30.0),
        _row(4, small, "mpe-fused", 0.08, 0.2), _row(4, small, "sigmoid", 0.01, 0.02),
        _row(16, big, "mpe-reference", 20.0, 60.0), _row(16, big, "sj-psn", 5.0, 8.0),
        _row(16, small, "mpe-fused", 0.2, 0.5), _row(16, small, "sigmoid", 0.15, 0.3),
        _row(16, small, "sj-lif", 1.0, 9.0), _row(16, small, "mpe-reference", 0.3, 0.4),
        _row(16, small, "mpe-fused-refine1", 0.3, 0.6), _row(16, small, "mpe-reference-refine1", 1.0, 1.5),
        {"T": 16, "N": small, "method": "sj-lif-eval", "status": "out of memory"},
    ]
    by = {t["name"]: t for t in targets(rows, "cpu")}
    fwd = by["forward-vs-sigmoid"]  # fused / sigmoid from 16 x 2^16 up: 4.0
    assert fwd["met"] is False and fwd["points"] == [{"T": 16, "N": big, "ratio": 4.0}]
    assert by["lmem-cost"]["met"] is True and by["lmem-cost"]["worst"]["ratio"] == 10.0 / 8.0
    assert by["expected-vs-bernoulli"]["met"] is False and by["expected-vs-bernoulli"]["worst"]["ratio"] == 3.0
    fixed = by["fixed-cost"]  # 0.08 - 0.01 ms at 4 x 2^10: over 50 us
    assert fixed["met"] is False and fixed["worst"] == {"T": 4, "N": small, "ratio": pytest.approx(0.07)}
    assert by["fwdbwd-vs-sj-lif"]["met"] is True and by["fwdbwd-vs-sj-lif"]["worst"]["ratio"] == 3.5
    assert [p["N"] for p in by["fwdbwd-vs-sj-lif"]["points"]] == [big]  # only T*N >= 2^20
    assert by["fwdbwd-vs-plain-large"]["met"] is True and by["fwdbwd-vs-plain-large"]["worst"]["ratio"] == 6.0
    assert by["fwdbwd-vs-plain-everywhere"]["met"] is False and by["fwdbwd-vs-plain-everywhere"]["worst"]["ratio"] == 0.8
    assert by["refine-vs-plain"]["met"] is True and by["refine-vs-plain"]["worst"]["ratio"] == 2.5
    assert by["inference-vs-sj-lif"]["met"] is None  # its rows did not run
    assert by["psn"]["points"] == [{"T": 16, "N": big, "ratio": 0.8}]
    text = "\n".join(targets_markdown(targets(rows, "cpu")))
    assert "| forward within 3x of one sigmoid pass (T*N >= 16 x 2^16) | 4.00 (16 x 2^16) | not met |" in text
    assert "PSN ahead at 1 of 1 points" in text and "| not run |" in text
    gpu = {t["name"] for t in targets(rows, "cuda")}
    assert "fwdbwd-vs-copy" in gpu and "lmem-cost" in gpu and "forward-vs-sigmoid" not in gpu and "fixed-cost" not in gpu


def test_layer_rows_time_the_training_step_spikes_only_and_inference():
    grid = LayerGrid(Ts=(3,), n_exps=(5,), methods=("mpe-fused", "copy"), repeats=1, warmup=0)
    rows = run_layer_grid(grid, progress=False)["rows"]
    fused, copy = rows
    for key in ("fwdbwd_ms", "fwdbwd_spikes_ms", "fwd_ms", "inference_ms"):
        assert fused[key] > 0
    assert fused["fallbacks"] == {}  # the timings are the fused kernel's
    assert "fwdbwd_spikes_ms" not in copy and copy["inference_ms"] > 0


def test_a_stopped_layer_run_keeps_its_partial_rows(tmp_path, monkeypatch):
    import mpe_psn.bench.layer as layer

    calls = []
    real = layer._measure

    def measure_then_stop(*args):
        if len(calls) == 2:  # the second grid point's first method: as if a time limit hit
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(layer, "_measure", measure_then_stop)
    partial = tmp_path / "layer.partial.json"
    grid = LayerGrid(Ts=(2, 3), n_exps=(4,), methods=("mpe-fused", "copy"), repeats=1, warmup=0)
    with pytest.raises(KeyboardInterrupt):
        run_layer_grid(grid, progress=False, partial_path=str(partial))
    saved = json.loads(partial.read_text())
    assert saved["partial"] is True and [(r["T"], r["method"]) for r in saved["rows"]] == [(2, "mpe-fused"), (2, "copy")]


@pytest.mark.parametrize("model", ["shd-mlp", "small"])
def test_net_bench_with_the_relu_floor_and_snntorch(model):
    from mpe_psn.bench.net import build_bench_net, run_net_bench

    pytest.importorskip("snntorch")
    result = run_net_bench(
        model=model, T=3, batches=(2,), neurons=("mpe", "snntorch", "relu"), precisions=("fp32",),
        repeats=1, warmup=0, num_classes=3, input_size=16, progress=False,
    )
    assert [r["neuron"] for r in result["rows"]] == ["mpe", "snntorch", "relu"]
    assert all(r["status"] == "ok" and r["ms"] > 0 and r["infer_ms"] > 0 for r in result["rows"])
    assert result["rows"][0]["fallbacks"] == {}
    from mpe_psn.models import neuron_layers
    from mpe_psn.models.neuron_factory import SnnTorchLeaky

    layers = 2 if model == "shd-mlp" else 4
    net, shape = build_bench_net(model, "relu", 3, 3, 16)
    assert neuron_layers(net) == []  # every spiking layer was replaced
    assert sum(isinstance(m, torch.nn.ReLU) for m in net.modules()) == layers
    net, shape = build_bench_net(model, "snntorch", 3, 3, 16)
    assert [type(m) for m in neuron_layers(net)] == [SnnTorchLeaky] * layers
    assert shape == ((700,) if model == "shd-mlp" else (2, 16, 16))
    from mpe_psn.bench.report import net_markdown

    assert "| 2 | fp32 | relu |" in net_markdown(result) and "inference ms" in net_markdown(result)


def test_snntorch_leaky_is_the_projects_lif():
    """The snnTorch row is the same neuron as the exact LIF (decay 0.25, threshold 1, reset to 0)."""
    pytest.importorskip("snntorch")
    from mpe_psn import LIF
    from mpe_psn.models.neuron_factory import SnnTorchLeaky

    x = torch.randn(12, 4, 50) * 1.5 + 0.6
    assert torch.equal(SnnTorchLeaky()(x), LIF(T=12)(x))


def test_a_cpu_sample_repeats_a_short_call_until_it_lasts_long_enough(monkeypatch):
    """``median_ms`` times back-to-back calls per CPU sample (timeit's autorange) and returns
    the time of one call: on a fake clock where a call takes 0.3 ms, a 2 ms sample needs 10
    calls, and the median is 0.3 ms."""
    from mpe_psn.bench import timing

    clock = [0.0]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock[0])

    def call():
        clock[0] += 3e-4

    assert timing.calls_per_sample(call, 2e-3) == 10
    assert timing.median_ms(call, torch.device("cpu"), repeats=3, warmup=1) == pytest.approx(0.3)
    assert timing.calls_per_sample(lambda: clock.__setitem__(0, clock[0] + 5e-3), 2e-3) == 1


def test_the_fixed_cost_is_measured_paired_at_its_point(monkeypatch):
    """At 4 x 2^10 on the CPU the grid times the fused forward and the sigmoid pass interleaved
    once more; the fixed-cost target reads that paired difference, not the two medians."""
    from mpe_psn.bench import layer

    monkeypatch.setattr(layer, "paired_difference_ms", lambda a, b, rounds, warmup: 0.025)
    grid = LayerGrid(Ts=(4,), n_exps=(10,), methods=("mpe-fused", "sigmoid"), repeats=1, warmup=0)
    result = run_layer_grid(grid, progress=False)
    fused = next(r for r in result["rows"] if r["method"] == "mpe-fused")
    assert fused["fixed_cost_ms"] == 0.025
    fixed = next(t for t in result["targets"] if t["name"] == "fixed-cost")
    assert fixed["met"] is True and fixed["worst"]["ratio"] == 0.025
    assert "fixed_cost_ms" not in next(r for r in result["rows"] if r["method"] == "sigmoid")


def test_a_net_out_of_memory_in_its_warm_up_is_marked_and_the_others_run(monkeypatch):
    from mpe_psn.bench import net

    real_case = net._bench_case

    def case(model, neuron, *args):
        step, infer_ms, shape = real_case(model, neuron, *args)
        if neuron == "mpe":
            def step():
                raise torch.cuda.OutOfMemoryError("forced")
        return step, infer_ms, shape

    monkeypatch.setattr(net, "_bench_case", case)
    result = net.run_net_bench(model="small", T=2, batches=(1,), neurons=("mpe", "relu"), precisions=("fp32",),
                               repeats=1, warmup=1, num_classes=3, input_size=8, progress=False, rounds=2)
    mpe, relu = result["rows"]
    assert mpe["status"] == "out of memory" and mpe["ms_rounds"] == [] and "ms" not in mpe
    assert relu["status"] == "ok" and len(relu["ms_rounds"]) == 2
