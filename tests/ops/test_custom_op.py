"""torch.library registration: opcheck, torch.compile(fullgraph=True), autocast."""

from __future__ import annotations

import pytest
import torch
from tests.ops.kernel_helpers import FUSED

from mpe_psn import MPEPSN
from mpe_psn.ops.mpe import op  # noqa: F401  (registers the ops)

ALL_UTILS = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")


def _layer_args(backend, estimator_code, passes=1, kappa="logits"):
    x = torch.randn(3, 2, 5, requires_grad=True)
    threshold = torch.tensor(1.0, requires_grad=True)
    weights = None if kappa is None else torch.tensor([0.2, -0.1, 0.4], requires_grad=True)
    seed = torch.tensor(12345, dtype=torch.int64) if estimator_code == 0 else None
    noise = torch.rand(3, 2, 5) if estimator_code == 1 else None
    return (x, threshold, weights, noise, seed, 0.25, estimator_code, passes, 0, 1.0, backend, kappa == "logits")


@pytest.mark.parametrize("backend", FUSED)
@pytest.mark.parametrize("estimator_code,passes,kappa", [(0, 1, "logits"), (2, 2, "weights"), (1, 1, None)])
def test_opcheck_layer(backend, estimator_code, passes, kappa):
    args = _layer_args(backend, estimator_code, passes, kappa)
    torch.library.opcheck(torch.ops.mpe_psn.layer.default, args, test_utils=ALL_UTILS)


def test_opcheck_layer_backward_and_potentials():
    x, threshold, kappa, noise, seed, *rest = _layer_args("cpu", 1)
    mask = torch.empty(0, dtype=torch.uint8)
    args = (x.detach(), threshold.detach(), kappa.detach(), noise, seed, mask, torch.rand(3), torch.randn(3, 2, 5),
            torch.randn(()), *rest)
    torch.library.opcheck(torch.ops.mpe_psn.layer_backward.default, args)
    x, threshold, _, noise, seed, *rest = _layer_args("cpu", 0)
    # potentials' backward re-runs the reference with autograd, so it is eager-only (no AOT test)
    torch.library.opcheck(
        torch.ops.mpe_psn.potentials.default, (x, threshold, seed, noise, *rest[:-1]),
        test_utils=("test_schema", "test_autograd_registration", "test_faketensor"),
    )


@pytest.mark.parametrize("backend", FUSED)
def test_the_op_and_the_eager_path_agree(backend):
    """``mpe_psn::layer`` and its autograd formula give the eager layer's values and gradients."""
    from mpe_psn.ops.mpe import op

    x, threshold, logits, noise, seed, tau, est, passes, surr, alpha, _, softmax = _layer_args(backend, 0)
    s = op.setting(backend, est, passes, surr, alpha, tau, softmax)
    results = []
    for run in ("op", "eager"):
        leaves = [t.detach().clone().requires_grad_(True) for t in (x, threshold, logits)]
        if run == "op":
            spikes, mem, _, _ = torch.ops.mpe_psn.layer(*leaves, noise, seed, tau, est, passes, surr, alpha, backend,
                                                        softmax)
        else:
            spikes, mem = op._EagerLayer.apply(*leaves, noise, seed, s)
        grads = torch.autograd.grad((spikes * torch.arange(30.0).reshape(3, 2, 5)).sum() + 5 * mem, leaves)
        results.append((spikes, mem, *grads))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert float(results[0][-1].abs().sum()) > 0  # kappa's logits get a gradient


def test_autocast_bfloat16_input():
    layer = torch.nn.Linear(6, 6)
    neuron = MPEPSN(T=4, backend="cpu")
    x = torch.randn(4, 3, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = neuron(layer(x))
    assert y.dtype == torch.bfloat16
    (y.float().sum() + neuron.mem_loss).backward()
    assert layer.weight.grad is not None and neuron.threshold.grad is not None


@pytest.mark.slow
def test_compile_fullgraph_matches_eager():
    torch.manual_seed(0)
    eager = MPEPSN(T=4, estimator="expected", backend="cpu")
    compiled_module = MPEPSN(T=4, estimator="expected", backend="cpu")
    compiled_module.load_state_dict(eager.state_dict())
    compiled = torch.compile(compiled_module, fullgraph=True)
    x = torch.randn(4, 2, 9)
    outs = []
    for model in (eager, compiled):
        xi = x.clone().requires_grad_()
        y = model(xi)
        mem = (model._orig_mod if hasattr(model, "_orig_mod") else model).mem_loss
        (y.sum() + mem).backward()
        outs.append((y, mem, xi.grad))
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b)
    assert torch.equal(eager.threshold.grad, compiled_module.threshold.grad)


def test_eager_twin_in_eager_mode_and_the_op_when_exported(monkeypatch):
    """Eager calls skip the custom-op dispatch (``_EagerLayer``, same implementation); export
    and compile still see ``mpe_psn::layer``, and all three agree."""
    from mpe_psn.ops.mpe import op

    calls = []
    real = op._EagerLayer.apply
    monkeypatch.setattr(op._EagerLayer, "apply", lambda *a: calls.append(1) or real(*a))
    neuron = MPEPSN(T=4, estimator="expected", backend="cpu").eval()
    x = torch.randn(4, 2, 8)
    eager = neuron(x)
    assert calls == [1]
    exported = torch.export.export(neuron, (x,))
    assert any("mpe_psn.layer" in str(node.target) for node in exported.graph.nodes)
    assert torch.equal(exported.module()(x), eager)
