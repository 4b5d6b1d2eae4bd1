"""Never break a user: under backend="auto" a fused kernel that fails falls back to the
reference with one warning naming the error; a backend named by the caller raises.

The failures are forced by replacing a kernel launcher with one that raises (as a compile
error or a launch error would), on the CPU kernel and on the interpreted Triton kernels.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from tests.ops.kernel_helpers import needs_triton

from mpe_psn.ops import fallback, mpe_psn_layer
from mpe_psn.ops.mpe import cpu_host, dispatch


pytestmark = pytest.mark.usefixtures("fresh_dispatch_state")  # tests/ops/conftest.py


def _broken(*args, **kwargs):
    raise RuntimeError("PTXASError: ptxas fatal: out of registers (forced)")


def _reference(x, refine_steps=0):
    return mpe_psn_layer(x, 1.0, 0.25, estimator="expected", refine_steps=refine_steps, backend="reference")


@pytest.mark.parametrize("launcher", ["final_forward", "backward_pass"])
def test_auto_falls_back_once_per_setting_with_a_warning_naming_the_error(monkeypatch, launcher):
    monkeypatch.setattr(cpu_host, launcher, _broken)
    x = torch.randn(4, 3, 50, requires_grad=True)
    with pytest.warns(RuntimeWarning, match=r"failed for cpu cpu float32 expected passes=1 triangular "
                                            r"\(RuntimeError: PTXASError: ptxas fatal.*forced\).*backend='cpu'"):
        spikes, loss = mpe_psn_layer(x, 1.0, 0.25, estimator="expected", backend="auto")
    ref_spikes, ref_loss = _reference(x)
    assert torch.equal(spikes, ref_spikes) and torch.equal(loss, ref_loss)
    (spikes.sum() + loss).backward()  # training goes on, on the reference path
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning per setting: the same call goes straight to the reference
        again, _ = mpe_psn_layer(x, 1.0, 0.25, estimator="expected", backend="auto")
    assert torch.equal(again, ref_spikes)
    with pytest.warns(RuntimeWarning, match="passes=2"):  # another setting is tried on its own
        other, _ = mpe_psn_layer(x, 1.0, 0.25, estimator="expected", backend="auto", refine_steps=1)
    assert torch.equal(other, _reference(x, refine_steps=1)[0])
    assert sorted(dispatch.fallbacks()) == ["mpe cpu cpu float32 expected passes=1 triangular",
                                           "mpe cpu cpu float32 expected passes=2 triangular"]
    assert all("ptxas fatal" in reason for reason in dispatch.fallbacks().values())
    assert dispatch.resolve_backend("auto", "cpu") == "cpu"  # the device's fused kernel is still the choice


def _counting(monkeypatch, module=cpu_host):
    """Count the fused forward launches of ``module`` (the path taken, not a time)."""
    calls = []
    real = module.final_forward
    monkeypatch.setattr(module, "final_forward", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def test_a_failed_setting_leaves_the_others_on_the_fused_kernel(monkeypatch):
    from mpe_psn.ops.mpe.codes import EST_EXPECTED

    real = cpu_host.final_forward

    def broken_for_expected(*args):
        if args[8].est_mode == EST_EXPECTED:  # the expected estimator's kernel "fails to compile"
            _broken()
        return real(*args)

    monkeypatch.setattr(cpu_host, "final_forward", broken_for_expected)
    x = torch.randn(4, 64)
    with pytest.warns(RuntimeWarning, match="expected passes=1"):
        mpe_psn_layer(x, 1.0, 0.25, estimator="expected", backend="auto")
    calls = _counting(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spikes, _ = mpe_psn_layer(x, 1.0, 0.25, estimator="bernoulli", backend="auto")
    assert len(calls) >= 1  # Bernoulli still ran the fused kernel
    assert list(dispatch.fallbacks()) == ["mpe cpu cpu float32 expected passes=1 triangular"]


@pytest.mark.parametrize("context", ["inference_mode", "no_grad", "plain input", "frozen threshold"])
def test_inference_then_training_stays_on_the_fused_path(monkeypatch, context):
    """Evaluating first (under inference_mode, no_grad, on an input that needs no grad, with a
    frozen threshold) must not send later training steps to the reference."""
    from mpe_psn import MPEPSN

    calls = _counting(monkeypatch)
    neuron = MPEPSN(T=4)
    x = torch.randn(4, 2, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning either
        if context == "inference_mode":
            with torch.inference_mode():
                neuron.eval()(x)
        elif context == "no_grad":
            with torch.no_grad():
                neuron.eval()(x)
        elif context == "plain input":
            neuron.train()(x)
        else:
            neuron.threshold.requires_grad_(False)
            neuron.train()(x)
            neuron.threshold.requires_grad_(True)
        assert len(calls) >= 1 and dispatch.fallbacks() == {}
        calls.clear()
        neuron.train()
        xt = x.clone().requires_grad_(True)
        (neuron(xt).sum() + neuron.mem_loss).backward()
    assert len(calls) >= 1 and dispatch.fallbacks() == {}
    assert xt.grad is not None and neuron.threshold.grad is not None


@pytest.mark.parametrize("launcher", ["final_forward", "backward_pass"])
def test_a_named_backend_raises(monkeypatch, launcher):
    monkeypatch.setattr(cpu_host, launcher, _broken)
    x = torch.randn(4, 50, requires_grad=True)
    with pytest.raises(RuntimeError, match="ptxas fatal"):
        spikes, loss = mpe_psn_layer(x, 1.0, 0.25, backend="cpu")
        (spikes.sum() + loss).backward()
    monkeypatch.setenv("MPE_PSN_BACKEND", "cpu")  # the environment variable names it too
    with pytest.raises(RuntimeError, match="ptxas fatal"):
        spikes, loss = mpe_psn_layer(x, 1.0, 0.25, backend="auto")
        (spikes.sum() + loss).backward()


def test_out_of_memory_is_not_swallowed(monkeypatch):
    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (forced)")

    monkeypatch.setattr(cpu_host, "final_forward", oom)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        mpe_psn_layer(torch.randn(3, 8), 1.0, 0.25, backend="auto")


def test_a_working_kernel_is_probed_once_per_setting(monkeypatch):
    calls = []
    real = cpu_host.backward_pass
    monkeypatch.setattr(cpu_host, "backward_pass", lambda *a, **k: calls.append(1) or real(*a, **k))
    x = torch.randn(3, 20)
    for _ in range(3):
        mpe_psn_layer(x, 1.0, 0.25, estimator="expected", backend="auto")
    assert len(calls) == 1  # the probe's backward, once; the calls themselves needed no backward
    mpe_psn_layer(x, 1.0, 0.25, estimator="expected", refine_steps=1, backend="auto")
    assert len(calls) == 3  # a new setting (two passes): probed again


def _auto_is_triton(monkeypatch):
    """Route "auto" to Triton, as on a CUDA tensor; a named backend stays strict."""
    real = dispatch._route
    monkeypatch.setattr(dispatch, "_route", lambda backend, device, dtype: ("triton", False) if backend == "auto"
                        else real(backend, device, dtype))


@needs_triton
def test_triton_under_auto_falls_back(monkeypatch):
    """As a CUDA tensor would see it: auto picks Triton, whose launch fails."""
    from mpe_psn.ops.mpe import triton_host

    _auto_is_triton(monkeypatch)
    monkeypatch.setattr(triton_host, "final_forward", _broken)
    x = torch.randn(3, 2, 10)
    with pytest.warns(RuntimeWarning, match="failed for triton cpu float32 expected .*ptxas fatal"):
        spikes, _ = mpe_psn_layer(x, 1.0, 0.25, estimator="expected", backend="auto")
    assert torch.equal(spikes, _reference(x)[0])
    with pytest.raises(RuntimeError, match="ptxas fatal"):
        mpe_psn_layer(x, 1.0, 0.25, estimator="expected", backend="triton")


@needs_triton
def test_triton_under_inference_mode_then_training(monkeypatch):
    """The probe of the Triton path (as on a CUDA tensor) runs under inference_mode too."""
    from mpe_psn.ops.mpe import triton_host

    _auto_is_triton(monkeypatch)
    calls = _counting(monkeypatch, triton_host)
    x = torch.randn(3, 40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch.inference_mode():
            mpe_psn_layer(x, 1.0, 0.25, backend="auto")
        xt = x.clone().requires_grad_(True)
        spikes, loss = mpe_psn_layer(xt, 1.0, 0.25, backend="auto")
        (spikes.sum() + loss).backward()
    assert len(calls) >= 2 and dispatch.fallbacks() == {}
