"""torch.compile with dynamic shapes (``dynamic=True``, or a last smaller batch) through MPEPSN.

Regressions: a logger call on the first forward broke the graph (with ``fullgraph=True`` an
error; without it, a graph boundary after a conv layer's view trips inductor's stride sorting);
``torch.rand(..., generator=None)`` takes no symbolic sizes; the surrogate's ``alpha``, a
symbolic float under ``dynamic=True``, could not be lifted into a second surrogate backward;
``math.isfinite`` on the LIF's tau (a symbolic float there too) broke the graph.
"""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from mpe_psn import LIF, MPEPSN
from mpe_psn.ops.mpe import dispatch

pytestmark = pytest.mark.slow  # each case compiles (about 10-20 s on a 2-core CPU)

BATCHES = (5, 3)


def _net(backend: str, refine_steps: int = 0) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), MPEPSN(T=4, backend=backend, refine_steps=refine_steps), nn.Linear(8, 3))


@pytest.mark.parametrize("backend", ["reference", "auto"])
def test_dynamic_compile_matches_eager_in_eval(backend, monkeypatch, caplog):
    for name in ("_logged", "_routes", "_plans"):  # the first call of the process, as in a fresh run
        monkeypatch.setattr(dispatch, name, type(getattr(dispatch, name))())
    torch._dynamo.reset()
    net = _net(backend).eval()  # eval_estimator="expected": deterministic
    compiled = torch.compile(net, dynamic=True, fullgraph=True)  # fullgraph: no graph break allowed
    caplog.set_level(logging.INFO, logger="mpe_psn")
    for batch in BATCHES:
        x = torch.randn(4, batch, 6)
        with torch.no_grad():
            y = compiled(x)
            mem = net[1].mem_loss
            y_eager = net(x)
        torch.testing.assert_close(y, y_eager)
        torch.testing.assert_close(mem, net[1].mem_loss)
        assert y.shape == (4, batch, 3)
    logged = [r.getMessage() for r in caplog.records if r.name == "mpe_psn" and "MPE-PSN layer:" in r.getMessage()]
    assert len(logged) == 1  # the eager calls still log the chosen path, once


@pytest.mark.parametrize("backend,refine_steps", [("reference", 1), ("auto", 0)])
def test_dynamic_compile_trains(backend, refine_steps):
    torch._dynamo.reset()
    net = _net(backend, refine_steps).train()  # the Bernoulli estimator: sampled
    compiled = torch.compile(net, dynamic=True, fullgraph=True)
    for batch in BATCHES:
        net.zero_grad()
        y = compiled(torch.randn(4, batch, 6))
        (y.square().mean() + net[1].mem_loss).backward()
        assert y.shape == (4, batch, 3)
        for name, param in net.named_parameters():
            assert param.grad is not None and bool(torch.isfinite(param.grad).all()), name
        assert float(net[0].weight.grad.abs().sum()) > 0


def test_dynamic_compile_of_the_lif_matches_eager():
    torch._dynamo.reset()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), LIF(T=4, surrogate="sigmoid"), nn.Linear(8, 3))
    compiled = torch.compile(net, dynamic=True, fullgraph=True)  # fullgraph: no graph break allowed
    for batch in BATCHES:
        x = torch.randn(4, batch, 6)
        y = compiled(x)
        (gx,) = torch.autograd.grad(y.square().mean(), net[0].weight)
        y_eager = net(x)
        (gx_eager,) = torch.autograd.grad(y_eager.square().mean(), net[0].weight)
        torch.testing.assert_close(y, y_eager)
        torch.testing.assert_close(gx, gx_eager)
