"""The targets of a network benchmark: ratios of fp32 training steps, met or not, in the report."""

from __future__ import annotations

import pytest

from mpe_psn.bench.net import net_targets
from mpe_psn.bench.report import net_markdown


def rows(mpe: float, relu: float, sj: float, batch: int = 64) -> list[dict]:
    out = [{"batch": batch, "precision": "fp32", "neuron": n, "ms": ms, "infer_ms": ms / 2, "status": "ok"}
           for n, ms in (("mpe", mpe), ("relu", relu), ("sj-lif", sj))]
    out.append({"batch": batch, "precision": "amp", "neuron": "relu", "ms": 1.0, "status": "ok"})  # bf16: not a target
    return out


def test_shd_mlp_targets_on_the_cpu_are_ratios_of_the_fp32_step():
    got = {t["name"]: t for t in net_targets(rows(mpe=80.0, relu=64.0, sj=180.0), "shd-mlp", "cpu")}
    assert set(got) == {"shd-mlp-vs-relu", "shd-mlp-vs-sj-lif"}
    assert got["shd-mlp-vs-relu"]["worst"] == {"batch": 64, "ratio": 1.25} and got["shd-mlp-vs-relu"]["met"] is False
    assert got["shd-mlp-vs-sj-lif"]["worst"]["ratio"] == pytest.approx(2.25) and got["shd-mlp-vs-sj-lif"]["met"] is True


def test_the_worst_batch_decides_and_a_missing_rival_is_not_run():
    both = rows(mpe=70.0, relu=64.0, sj=150.0, batch=32) + rows(mpe=80.0, relu=64.0, sj=150.0, batch=64)
    (relu,) = [t for t in net_targets(both, "shd-mlp", "cpu") if t["name"] == "shd-mlp-vs-relu"]
    assert [p["batch"] for p in relu["points"]] == [32, 64] and relu["worst"]["batch"] == 64
    without_sj = [r for r in rows(70.0, 64.0, 150.0) if r["neuron"] != "sj-lif"]
    (sj,) = [t for t in net_targets(without_sj, "shd-mlp", "cpu") if t["name"] == "shd-mlp-vs-sj-lif"]
    assert sj["met"] is None and sj["points"] == []
    assert net_targets(rows(70.0, 64.0, 150.0), "dvsgesture-net", "cpu") == []  # no CPU target for that net
    assert [t["name"] for t in net_targets(rows(70.0, 64.0, 150.0), "dvsgesture-net", "cuda")] == ["dvs-vs-relu-gpu"]


def test_the_report_prints_them():
    result = {"meta": {"device": "cpu", "torch": "x", "date": "d", "model": "shd-mlp", "T": 100, "input": "700 channels",
                       "repeats": 5},
              "rows": rows(80.0, 64.0, 180.0)}
    result["targets"] = net_targets(result["rows"], "shd-mlp", "cpu")
    text = net_markdown(result)
    assert "| SHD MLP training step within 1.15x of the ReLU net | 1.25 (batch 64) | not met | batch 64: 1.25 |" in text
    assert "at least 2x faster than with SpikingJelly's LIF | 2.25 (batch 64) | met |" in text
