"""Choosing and guarding the fused LIF: the shared registry, the loop's errors, what is kept for
backward, the fallback under "auto"."""

from __future__ import annotations

import warnings

import pytest
import torch
from tests.ops.kernel_helpers import FUSED, same_spikes

from mpe_psn.bench.timing import saved_bytes
from mpe_psn.functional import lif
from mpe_psn.ops import fallback, registry
from mpe_psn.ops.lif import lif_spikes
from mpe_psn.ops.lif import op as lif_op


def test_registry_lists_the_fused_backends_and_auto_takes_the_cpu_kernel_for_cpu_tensors():
    assert registry.choices("lif") == ("auto", "reference", "cpu", "triton")
    assert registry.select("lif", "auto", "cpu", torch.float32) == ("cpu", False)
    assert registry.select("lif", "cpu", "cpu", torch.bfloat16) == ("cpu", True)
    # float64 is the loop's: the kernels compute in float32
    assert registry.select("lif", "auto", "cpu", torch.float64) == ("reference", False)
    with pytest.raises(registry.BackendUnavailable, match="float32, float16 or bfloat16"):
        registry.select("lif", "cpu", "cpu", torch.float64)
    with pytest.raises(ValueError, match="unknown backend 'numba'; choose one of"):
        lif_spikes(torch.ones(2, 2), backend="numba")


def test_environment_variable_names_the_backend(monkeypatch):
    monkeypatch.setenv(registry.ENV_VAR, "reference")
    calls = []
    real = lif_op._EagerLIF.apply
    monkeypatch.setattr(lif_op._EagerLIF, "apply", lambda *a: calls.append(1) or real(*a))
    lif_spikes(torch.randn(3, 4))
    assert calls == []
    monkeypatch.setenv(registry.ENV_VAR, "cpu")
    lif_spikes(torch.randn(3, 4))
    assert calls == [1]


def _error(call):
    with pytest.raises(Exception) as info:
        call()
    return type(info.value), str(info.value)


@pytest.mark.parametrize("backend", ["auto", *FUSED])
@pytest.mark.parametrize(
    "args",
    [
        (torch.ones(5),),  # one dim: no time axis
        (torch.ones(3, 4, dtype=torch.int64),),  # not floating point
        ([[1.0, 2.0]],),  # not a tensor
        (torch.ones(0, 4),),  # T = 0
        (torch.ones(3, 4), float("nan")),  # threshold
        (torch.ones(3, 4), torch.ones(4, dtype=torch.int32)),
        (torch.ones(3, 4), 1.0, 1.5),  # tau outside [0, 1]
        (torch.ones(3, 4), 1.0, torch.tensor(0.5)),
        (torch.ones(3, 4), 1.0, 0.5, "relu"),  # surrogate
        (torch.ones(3, 4), 1.0, 0.5, "sigmoid", -1.0),  # alpha
    ],
    ids=["rank", "int", "list", "T0", "nan-threshold", "int-threshold", "tau", "tensor-tau", "surrogate", "alpha"],
)
def test_bad_inputs_raise_the_loops_errors(backend, args):
    assert _error(lambda: lif_spikes(*args, backend=backend)) == _error(lambda: lif(*args))


@pytest.mark.parametrize("backend", FUSED)
def test_keeps_only_x_and_the_threshold_for_backward(backend):
    """4 bytes per element for float32 input, 2 for bfloat16; nothing at all without autograd."""
    threshold = torch.tensor(1.0, requires_grad=True)
    for dtype, per_element in ((torch.float32, 4), (torch.bfloat16, 2)):
        x = torch.randn(16, 64, 8).to(dtype).requires_grad_(True)
        kept = saved_bytes(lambda: lif_spikes(x, threshold, backend=backend))
        assert kept == x.numel() * per_element + 4
    x = torch.randn(16, 64, 8, requires_grad=True)
    loop_kept = saved_bytes(lambda: lif(x, threshold).spikes)
    assert loop_kept == 3 * x.numel() * 4  # the loop keeps u, 1 - S and H of every step
    with torch.no_grad():
        assert saved_bytes(lambda: lif_spikes(x, threshold, backend=backend)) == 0
    with torch.inference_mode():
        xi = torch.randn(16, 64, 8)
        assert same_spikes(lif_spikes(xi, threshold, backend=backend), lif(xi, threshold).spikes)


@pytest.mark.parametrize("backend", FUSED)
def test_threshold_that_grows_the_output_runs_the_loop(backend):
    """A threshold with more dims than one step: the loop's broadcasting (the output grows) applies."""
    x = torch.randn(4, 3, 5)
    threshold = torch.tensor([0.5, 1.5]).reshape(2, 1, 1)
    fused = lif_spikes(x, threshold, backend=backend)
    assert fused.shape == (4, 2, 3, 5)
    assert torch.equal(fused, lif(x, threshold).spikes)


@pytest.fixture
def fresh_fallback_state(monkeypatch):
    """Fallback bookkeeping of this test only (the module keeps it per process)."""
    monkeypatch.setattr(fallback, "_failed", {})
    monkeypatch.setattr(fallback, "_probed", set())
    monkeypatch.setattr(fallback, "_warned", set())


def test_a_failing_kernel_falls_back_under_auto_and_raises_when_named(monkeypatch, fresh_fallback_state):
    host = registry.backends("lif")["cpu"].host()
    real_backward = host.backward

    def broken(x, theta, tau, surrogate, *rest):  # the triangular surrogate's backward fails to compile
        if surrogate == 0:
            raise RuntimeError("simulated compile failure")
        return real_backward(x, theta, tau, surrogate, *rest)

    monkeypatch.setattr(host, "backward", broken)  # caught by the probe, before the real forward
    x = torch.randn(5, 7)
    with pytest.warns(RuntimeWarning, match="fused lif kernel failed for cpu cpu float32 triangular"):
        spikes = lif_spikes(x, 0.8)
    assert torch.equal(spikes, lif(x, 0.8).spikes)
    assert any(key.startswith("lif cpu") for key in fallback.fallbacks())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the setting stays on the loop, without a second warning
        assert torch.equal(lif_spikes(x, 0.8), lif(x, 0.8).spikes)
        calls = []
        real = lif_op._EagerLIF.apply
        monkeypatch.setattr(lif_op._EagerLIF, "apply", lambda *a: calls.append(1) or real(*a))
        lif_spikes(x, 0.8, surrogate="sigmoid")  # another setting keeps the kernel
        assert calls == [1, 1]  # its probe, then the call itself
    with pytest.raises(RuntimeError, match="simulated compile failure"):
        lif_spikes(x.requires_grad_(True), 0.8, backend="cpu").sum().backward()
