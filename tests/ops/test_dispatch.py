"""Backend choice: auto by device, the MPE_PSN_BACKEND override, logging, one-time fallback warnings."""

from __future__ import annotations

import logging
import warnings

import pytest
import torch

from mpe_psn import MPEPSN
from mpe_psn.ops import BACKENDS, mpe_psn_layer, resolve_backend
from mpe_psn.ops.mpe import dispatch


@pytest.fixture(autouse=True)
def fresh_dispatch_state(monkeypatch):
    monkeypatch.setattr(dispatch, "_warned", set())
    monkeypatch.setattr(dispatch, "_logged", set())
    monkeypatch.delenv("MPE_PSN_BACKEND", raising=False)


def test_auto_picks_the_cpu_kernel_for_cpu_tensors():
    assert BACKENDS == ("auto", "reference", "triton", "cpu")
    assert resolve_backend("auto", torch.device("cpu")) == "cpu"
    assert resolve_backend("reference", "cpu") == "reference"


def test_auto_on_cuda_is_triton_when_it_imports(monkeypatch):
    monkeypatch.setattr(dispatch, "triton_status", lambda: (True, False, ""))
    assert resolve_backend("auto", "cuda") == "triton"
    monkeypatch.setattr(dispatch, "triton_status", lambda: (False, False, "no triton"))
    assert resolve_backend("auto", "cuda") == "reference"


def test_environment_variable_overrides_auto_only(monkeypatch):
    monkeypatch.setenv("MPE_PSN_BACKEND", "reference")
    assert resolve_backend("auto", "cpu") == "reference"
    assert resolve_backend("cpu", "cpu") == "cpu"  # an explicit argument wins
    monkeypatch.setenv("MPE_PSN_BACKEND", "fast")
    with pytest.raises(ValueError, match="MPE_PSN_BACKEND='fast' is not one of"):
        resolve_backend("auto", "cpu")


def test_unknown_backend_is_an_error():
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        resolve_backend("cuda", "cpu")
    with pytest.raises(ValueError, match="unknown backend"):
        MPEPSN(backend="numba")


def test_unavailable_backend_falls_back_with_one_warning(caplog):
    with pytest.warns(RuntimeWarning, match="'cpu' is unavailable for cuda tensors.*Falling back to the reference"):
        assert resolve_backend("cpu", "cuda") == "reference"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second call must not warn again
        assert resolve_backend("cpu", "cuda") == "reference"


def test_missing_numba_falls_back(monkeypatch):
    monkeypatch.setattr(dispatch, "cpu_status", lambda: (False, "the CPU kernel needs numba"))
    assert resolve_backend("auto", "cpu") == "reference"
    with pytest.warns(RuntimeWarning, match="needs numba"):
        assert resolve_backend("cpu", "cpu") == "reference"


def test_choice_is_logged_once(caplog):
    with caplog.at_level(logging.INFO, logger="mpe_psn"):
        resolve_backend("auto", "cpu")
        resolve_backend("auto", "cpu")
    lines = [r.getMessage() for r in caplog.records if r.name == "mpe_psn"]
    assert lines == ["MPE-PSN layer: cpu path for cpu tensors (requested auto)"]


def test_per_channel_threshold_uses_the_reference():
    x = torch.randn(3, 2, 4)
    threshold = torch.tensor([1.0, 0.5, 2.0, 1.0])
    with pytest.warns(RuntimeWarning, match="one scalar threshold"):
        spikes, _ = mpe_psn_layer(x, threshold, 0.25, None, estimator="expected", backend="cpu")
    ref, _ = mpe_psn_layer(x, threshold, 0.25, None, estimator="expected", backend="reference")
    assert torch.equal(spikes, ref)


def test_module_backends_agree_in_eval():
    torch.manual_seed(0)
    x = torch.randn(4, 2, 3, 5)
    layers = {b: MPEPSN(T=4, backend=b).eval() for b in ("auto", "cpu", "reference")}
    outs = {b: m(x) for b, m in layers.items()}
    assert torch.equal(outs["auto"], outs["reference"]) and torch.equal(outs["cpu"], outs["reference"])
    for m in layers.values():
        torch.testing.assert_close(m.mem_loss, layers["reference"].mem_loss)


def test_module_batch_first_and_learned_kappa_train():
    """batch_first=True is the time-major module on the transposed input: the same spikes, L_mem
    and gradients (threshold, kappa, input), with the same Bernoulli draws in training."""
    x = torch.randn(2, 3, 7)
    grads = {}
    for batch_first in (True, False):
        m = MPEPSN(T=3, batch_first=batch_first, backend="cpu")
        with torch.no_grad():
            m.kappa_logits.copy_(torch.tensor([0.3, -0.2, 0.1]))  # a non-uniform kappa
        xi = (x if batch_first else x.transpose(0, 1)).clone().requires_grad_(True)
        torch.manual_seed(1)
        y = m(xi)
        y_time_major = y.transpose(0, 1) if batch_first else y
        ((y_time_major * torch.arange(1.0, 8.0)).sum() + m.mem_loss).backward()
        x_grad = xi.grad.transpose(0, 1) if batch_first else xi.grad
        grads[batch_first] = (y_time_major.detach(), m.mem_loss.detach(), m.threshold.grad, m.kappa_logits.grad, x_grad)
    assert grads[True][0].shape == (3, 2, 7) and 0 < float(grads[True][0].sum()) < grads[True][0].numel()
    for got, want in zip(grads[True], grads[False]):
        torch.testing.assert_close(got, want)
    assert float(grads[True][3].abs().sum()) > 0  # kappa learns


def test_cpu_kernel_threads_split_blocks_and_survive_fork():
    """Two threads over the neuron blocks give the single-thread result; a forked child works."""
    import multiprocessing as mp

    from mpe_psn.ops.mpe import cpu_host

    x = torch.randn(4, 3 * 1024 + 5)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = mpe_psn_layer(x, 1.0, 0.25, None, generator=torch.Generator().manual_seed(0), backend="cpu")
        torch.set_num_threads(2)
        cpu_host.MIN_WORK, saved = 1, cpu_host.MIN_WORK
        try:
            two = mpe_psn_layer(x, 1.0, 0.25, None, generator=torch.Generator().manual_seed(0), backend="cpu")
            ctx = mp.get_context("fork")
            with ctx.Pool(1) as pool:
                child = pool.apply(_child_spike_count, (x,))
        finally:
            cpu_host.MIN_WORK = saved
    finally:
        torch.set_num_threads(old)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])
    assert child == int(one[0].sum())


def _child_spike_count(x):
    torch.set_num_threads(2)
    spikes, _ = mpe_psn_layer(x, 1.0, 0.25, None, generator=torch.Generator().manual_seed(0), backend="cpu")
    return int(spikes.sum())
