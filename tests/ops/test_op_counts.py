"""What one training call of MPEPSN dispatches: aten ops counted with a TorchDispatchMode.

At T x N = 4 x 2^10 (the default module: learned kappa, Bernoulli sampling, threshold a
parameter) on the CPU kernel and on the Triton path under the interpreter:

* the forward plus reading the membrane loss (``mpe_psn.membrane_loss(model)``): at most 6 ops;
* the backward: at most 6 ops of its own, besides those of the user's loss (counted on the
  same loss over leaf tensors standing in for the layer's outputs, and subtracted). Counted as
  ``torch.autograd.grad`` of the loss with respect to the input, the threshold and kappa's
  logits: what computing the gradients costs. ``loss.backward()`` adds one ``detach`` per leaf
  when autograd stores each new ``.grad`` (any layer's parameters pay it), checked too;
* no ``aten._local_scalar_dense`` (a host read of a tensor) anywhere in the training step.

Under the interpreter a Triton launch runs the kernel in Python on torch tensors; those ops are
the interpreter's, not the host path's (on a GPU the cached compiled kernel is launched with no
torch op), so the launch itself runs outside the counting mode. Counts are deterministic, so
they are asserted exactly where a change would mean a new op on the path.
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from tests.ops.kernel_helpers import FUSED
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

import mpe_psn
from mpe_psn import MPEPSN

T, N = 4, 2**10
MAX_FORWARD_OPS = 6
MAX_OWN_BACKWARD_OPS = 6


class _Count(TorchDispatchMode):
    """Counts every aten op (by overload name) dispatched while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[str(func)] += 1
        return func(*args, **(kwargs or {}))


def _launches_uncounted(monkeypatch) -> None:
    """Run each Triton launch outside the counting mode (see the module docstring)."""
    from mpe_psn.ops.mpe import triton_host

    real = triton_host._launch

    def launch(*args, **kwargs):
        with _disable_current_modes():
            return real(*args, **kwargs)

    monkeypatch.setattr(triton_host, "_launch", launch)


def _zero_grads(model, x):
    x.grad = None
    for p in model.parameters():
        p.grad = None


def _training_call(backend: str, monkeypatch) -> tuple[Counter, Counter, Counter, Counter]:
    """Op counts: forward + membrane loss, the gradients, the user's loss alone, ``backward()``."""
    if backend == "triton":
        _launches_uncounted(monkeypatch)
    torch.manual_seed(0)
    model = MPEPSN(T=T, backend=backend)
    x = torch.randn(T, 2, N // 2).requires_grad_(True)
    for _ in range(2):  # the probe and first-call work happen here, as in a training run's first step
        (model(x).sum() + mpe_psn.membrane_loss(model)).backward()
    leaves = [x, model.threshold, model.kappa_logits]
    _zero_grads(model, x)
    with _Count() as forward:
        spikes = model(x)
        mem = mpe_psn.membrane_loss(model)
    loss = spikes.sum() + mem
    with _Count() as gradients:
        grads = torch.autograd.grad(loss, leaves, retain_graph=True)
    assert all(g is not None and bool(g.abs().sum() > 0) for g in grads)
    with _Count() as backward:
        loss.backward()
    assert all(leaf.grad is not None for leaf in leaves)
    # the same user loss over leaves standing in for the layer's outputs
    spikes_leaf, mem_leaf = spikes.detach().requires_grad_(True), mem.detach().requires_grad_(True)
    user_loss = spikes_leaf.sum() + mem_leaf
    with _Count() as user:
        torch.autograd.grad(user_loss, [spikes_leaf, mem_leaf])
    return forward.ops, gradients.ops, user.ops, backward.ops


@pytest.mark.parametrize("backend", FUSED)
def test_one_training_call_dispatches_few_ops_and_reads_nothing_on_the_host(backend, monkeypatch):
    forward, gradients, user, backward = _training_call(backend, monkeypatch)
    own_backward = gradients - user
    assert sum(forward.values()) <= MAX_FORWARD_OPS, forward
    assert sum(own_backward.values()) <= MAX_OWN_BACKWARD_OPS, (own_backward, gradients, user)
    assert user == Counter({"aten.ones_like.default": 1, "aten.expand.default": 1})  # the loss's seed and sum
    assert backward - gradients == Counter({"aten.detach.default": 3})  # storing three new .grad
    for ops in (forward, gradients, backward):
        assert "aten._local_scalar_dense.default" not in ops, ops
    # what the forward is: the seed (on the CPU drawn into a reused buffer: the forward alone
    # reads it), the spikes and (on the CPU, where kappa's softmax, the loss and its reduction
    # are numba's) the sample record and L_mem; on Triton the partial sums, kappa's softmax,
    # the per-step sum and its dot with the weights
    if backend == "cpu":
        assert forward == Counter({"aten.random_.from": 1, "aten.empty_like.default": 2, "aten.empty.memory_format": 1})
    else:
        assert forward["aten.randint.low_generator"] == 1 and forward["aten.empty_like.default"] == 1
        assert forward["aten._softmax.default"] == 1
        assert forward["aten.sum.dim_IntList"] == 1 and forward["aten.dot.default"] == 1
    # the mode sees inside the layer's backward: dx is allocated there
    assert own_backward["aten.empty_like.default"] == 1

