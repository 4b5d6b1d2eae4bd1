"""Streaming (step_mode "s"): one step per call must give the multi-step call's spikes."""

from __future__ import annotations

import pytest
import torch

import mpe_psn
from mpe_psn import LIF, MPEPSN, PSN
from mpe_psn.models import build_model

T, B = 8, 5


def _stream(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    mpe_psn.set_step_mode(module, "s")
    out = torch.stack([module(x_t) for x_t in x])
    mpe_psn.set_step_mode(module, "m")
    return out


def _drive(seed: int = 0, shape=(T, B, 3, 4)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * 1.5 + 0.6


@pytest.mark.parametrize("refine_steps", [0, 1, 3, T - 1, T + 4])
def test_mpe_expected_streams_bit_for_bit(refine_steps):
    neuron = MPEPSN(T=T, estimator="expected", refine_steps=refine_steps, backend="reference")
    x = _drive(refine_steps)
    multi = neuron(x)
    assert torch.equal(_stream(neuron, x), multi)
    assert 0 < multi.mean() < 1  # a drive that makes some, not all, neurons fire


def test_mpe_streams_without_T_too():
    neuron = MPEPSN(T=None, estimator="expected", refine_steps=2, backend="reference")
    x = _drive(3)
    assert torch.equal(_stream(neuron, x), neuron(x))


def test_mpe_streaming_matches_the_fused_cpu_kernel():
    neuron = MPEPSN(T=T, estimator="expected", refine_steps=1, backend="auto").eval()
    x = _drive(4)
    assert torch.equal(_stream(neuron, x), neuron(x))


def test_lif_streams_bit_for_bit_and_keeps_the_membrane_potential():
    neuron = LIF(T=T, threshold=0.8)
    x = _drive(5)
    assert torch.equal(_stream(neuron, x), neuron(x))
    # the state is V[t-1]: check it against the functional LIF after three steps
    mpe_psn.set_step_mode(neuron, "s")
    for x_t in x[:3]:
        neuron(x_t)
    expected_v = mpe_psn.functional.lif(x[:3], neuron.threshold.detach(), 0.25).v[-1]
    assert torch.equal(neuron._state[0].detach(), expected_v)


def test_refined_to_T_minus_1_streams_the_exact_lif():
    x = _drive(6)
    mpe = MPEPSN(T=T, estimator="expected", refine_steps=T - 1, backend="reference")
    assert torch.equal(_stream(mpe, x), LIF(T=T)(x))


def test_mpe_state_is_the_previous_estimate_not_a_potential():
    neuron = mpe_psn.set_step_mode(MPEPSN(T=T, estimator="expected", backend="reference"), "s")
    x0 = torch.tensor([3.0, -2.0, 0.5])
    neuron(x0)
    (vhat,) = neuron._state
    assert torch.equal(vhat, (1 - torch.sigmoid(x0)) * x0)


def test_reset_starts_a_new_sequence():
    neuron = mpe_psn.set_step_mode(LIF(T=T), "s")
    x = _drive(7)
    first = torch.stack([neuron(x_t) for x_t in x])
    mpe_psn.reset(neuron)
    again = torch.stack([neuron(x_t) for x_t in x])
    assert torch.equal(first, again)
    # without reset the state carries over, so the second pass differs somewhere
    carried = torch.stack([neuron(x_t) for x_t in x])
    assert not torch.equal(carried, first)


def test_bernoulli_step_mode_samples_per_step_from_the_global_rng():
    neuron = mpe_psn.set_step_mode(MPEPSN(T=T, estimator="bernoulli", backend="reference").train(), "s")
    x = _drive(8)
    torch.manual_seed(0)
    a = torch.stack([neuron(x_t) for x_t in x])
    mpe_psn.reset(neuron)
    torch.manual_seed(0)
    b = torch.stack([neuron(x_t) for x_t in x])
    assert torch.equal(a, b)
    assert neuron.mem_loss is None


def test_batch_change_without_reset_is_a_clear_error():
    neuron = mpe_psn.set_step_mode(LIF(T=T), "s")
    neuron(torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"reset\(model\)"):
        neuron(torch.zeros(2, 3))


def test_psn_cannot_stream_and_nothing_changes():
    model = torch.nn.Sequential(LIF(T=T), PSN(T=T))
    with pytest.raises(ValueError, match=r"layer '1' \(PSN\) cannot run step by step"):
        mpe_psn.set_step_mode(model, "s")
    assert model[0].step_mode == "m"


def test_bad_step_mode_is_an_error():
    with pytest.raises(ValueError, match="step_mode must be 'm'"):
        mpe_psn.set_step_mode(LIF(), "x")
    with pytest.raises(ValueError, match="step_mode must be 'm'"):
        LIF().step_mode = "single"


@pytest.mark.parametrize("neuron", ["mpe", "lif"])
def test_small_net_streams_like_the_multi_step_call(neuron):
    torch.manual_seed(0)
    options = {"backend": "reference", "estimator": "expected"} if neuron == "mpe" else {}
    model = build_model("small", neuron=neuron, T=4, num_classes=3, input_size=16, neuron_options=options).eval()
    x = (torch.rand(4, 2, 2, 16, 16) < 0.3).float() * 2.0
    with torch.no_grad():
        multi = model(x)
        streamed = _stream(model, x)
    assert torch.allclose(streamed, multi, atol=1e-5)
    with pytest.raises(ValueError, match=r"step mode 's' takes one step \[B, 2, H, W\]"):
        mpe_psn.set_step_mode(model, "s")(x)
