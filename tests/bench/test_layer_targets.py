"""The layer benchmark's targets (issue 23's CPU targets): each verdict from fixed numbers.

Rows are made up, so every ratio is known: the met / not met logic, the bounds, the single
point of the host-cost targets (4 x 2^10) and the printed table are checked, not a timing.
"""

from __future__ import annotations

import pytest

from mpe_psn.bench.layer import targets
from mpe_psn.bench.report import targets_markdown

SMALL, BIG = 2**10, 2**16


def _row(T, N, method, fwd, fwdbwd):
    return {"T": T, "N": N, "method": method, "status": "ok", "fwd_ms": fwd, "fwdbwd_ms": fwdbwd}


def _rows(fixed_ms, step_ratio, expected_ratio, forward_ratio):
    """A 4 x 2^10 and a 16 x 2^16 point (the fused layer, sigmoid, the expected estimator) whose
    fixed cost and ratios are the given ones."""
    sig_fwd, sig_step, sig_big = 0.0078125, 0.125, 0.5  # exact in binary
    step = sig_step * step_ratio
    return [
        _row(4, SMALL, "mpe-fused", sig_fwd + fixed_ms, step), _row(4, SMALL, "sigmoid", sig_fwd, sig_step),
        _row(4, SMALL, "mpe-fused-expected", 0.05, step * expected_ratio),
        _row(16, BIG, "mpe-fused", sig_big * forward_ratio, 10.0), _row(16, BIG, "sigmoid", sig_big, 2.0),
        _row(16, BIG, "mpe-fused-expected", 1.0, 10.0),
    ]


def _verdicts(rows):
    return {t["name"]: t for t in targets(rows, "cpu")}


def test_every_cpu_target_met():
    by = _verdicts(_rows(0.025, 2.5, 1.25, 2.8))
    assert by["fixed-cost"]["met"] is True and by["fixed-cost"]["worst"]["ratio"] == pytest.approx(0.025)
    assert by["step-vs-sigmoid-small"]["met"] is True and by["step-vs-sigmoid-small"]["worst"]["ratio"] == pytest.approx(2.5)
    assert by["step-vs-sigmoid-small"]["points"] == [{"T": 4, "N": SMALL, "ratio": pytest.approx(2.5)}]  # that point only
    assert by["expected-vs-bernoulli"]["met"] is True
    assert by["expected-vs-bernoulli"]["worst"] == {"T": 4, "N": SMALL, "ratio": pytest.approx(1.25)}
    assert by["forward-vs-sigmoid"]["met"] is True and by["forward-vs-sigmoid"]["worst"]["ratio"] == pytest.approx(2.8)


def test_every_cpu_target_missed_just_past_its_bound():
    missed = _verdicts(_rows(0.031, 3.01, 1.31, 3.01))  # 31 us, and each ratio 0.01 over
    for name in ("fixed-cost", "step-vs-sigmoid-small", "expected-vs-bernoulli", "forward-vs-sigmoid"):
        assert missed[name]["met"] is False, name
    inside = _verdicts(_rows(0.029, 2.99, 1.29, 2.99))
    for name in ("fixed-cost", "step-vs-sigmoid-small", "expected-vs-bernoulli", "forward-vs-sigmoid"):
        assert inside[name]["met"] is True, (name, inside[name]["worst"])


def test_the_bounds_are_inclusive():
    """"At most": a value exactly on its bound is met (exact binary numbers, no rounding)."""
    rows = [_row(4, SMALL, "mpe-fused", 0.03, 0.375), _row(4, SMALL, "sigmoid", 0.0, 0.125),
            _row(16, BIG, "mpe-fused", 1.5, 1.0), _row(16, BIG, "sigmoid", 0.5, 1.0)]
    by = _verdicts(rows)
    assert by["fixed-cost"]["worst"]["ratio"] == 0.03 and by["fixed-cost"]["met"] is True
    assert by["step-vs-sigmoid-small"]["worst"]["ratio"] == 3.0 and by["step-vs-sigmoid-small"]["met"] is True
    assert by["forward-vs-sigmoid"]["worst"]["ratio"] == 3.0 and by["forward-vs-sigmoid"]["met"] is True


def test_the_table_prints_met_not_met_and_the_fixed_cost_in_microseconds():
    text = "\n".join(targets_markdown(targets(_rows(0.031, 2.5, 1.35, 2.8), "cpu")))
    assert "| fixed cost per call (fused forward - sigmoid at 4 x 2^10) at most 30 us | 31 us (4 x 2^10) | not met |" in text
    assert ("| training step at 4 x 2^10 within 3x the same step with torch.sigmoid as the neuron | 2.50 (4 x 2^10) "
            "| met | 4 x 2^10: 2.50 |") in text
    assert "| expected estimator's training step within 1.3x of Bernoulli's | 1.35 (4 x 2^10) | not met |" in text
    assert "| forward within 3x of one sigmoid pass (T*N >= 16 x 2^16) | 2.80 (16 x 2^16) | met | 16 x 2^16: 2.80 |" in text
    assert "| not run |" in text  # the targets whose rows are not in this run


def test_a_target_without_its_rows_is_not_run():
    by = _verdicts([_row(16, BIG, "mpe-fused", 1.0, 5.0)])
    assert by["fixed-cost"]["met"] is None and by["step-vs-sigmoid-small"]["met"] is None
    assert by["step-vs-sigmoid-small"]["points"] == []
