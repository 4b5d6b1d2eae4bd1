"""torch.library registration: opcheck, torch.compile(fullgraph=True), autocast."""

from __future__ import annotations

import pytest
import torch
from tests.ops.kernel_helpers import FUSED

from mpe_psn import MPEPSN
from mpe_psn.ops.mpe import op  # noqa: F401  (registers the ops)

ALL_UTILS = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")


def _layer_args(backend, estimator_code, passes=1):
    x = torch.randn(3, 2, 5, requires_grad=True)
    threshold = torch.tensor(1.0, requires_grad=True)
    seed = torch.tensor(12345, dtype=torch.int64)
    noise = torch.rand(3, 2, 5) if estimator_code == 1 else None
    return (x, threshold, seed, noise, 0.25, estimator_code, passes, 0, 1.0, backend)


@pytest.mark.parametrize("backend", FUSED)
@pytest.mark.parametrize("estimator_code,passes", [(0, 1), (2, 2)])
def test_opcheck_layer(backend, estimator_code, passes):
    torch.library.opcheck(torch.ops.mpe_psn.layer.default, _layer_args(backend, estimator_code, passes), test_utils=ALL_UTILS)


def test_opcheck_layer_backward_and_potentials():
    x, threshold, seed, noise, *rest = _layer_args("cpu", 1)
    mask = torch.empty(0, dtype=torch.uint8)
    args = (x.detach(), threshold.detach(), seed, noise, mask, torch.randn(3, 2, 5), torch.randn(3), *rest)
    torch.library.opcheck(torch.ops.mpe_psn.layer_backward.default, args)
    # potentials' backward re-runs the reference with autograd, so it is eager-only (no AOT test)
    torch.library.opcheck(
        torch.ops.mpe_psn.potentials.default, _layer_args("cpu", 0),
        test_utils=("test_schema", "test_autograd_registration", "test_faketensor"),
    )


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
