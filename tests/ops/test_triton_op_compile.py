"""What torch.compile sees of the Triton path: the triton_ops of ``ops/mpe/triton_op.py`` and
``ops/lif/triton_op.py`` (``mpe_psn::triton_layer``, ``mpe_psn::triton_lif``).

On a CPU (this machine) the kernels run under Triton's interpreter, and Inductor compiles no
Triton kernel for CPU tensors, so the CPU tests check the parts one at a time
(``tests/ops/traced_triton.py``):

* torch's own analysis of which pointers each launch writes (TTIR, in a process without the
  interpreter) is exactly the table of outputs, so a traced graph mutates none of the layer's
  inputs (the threshold also stands in for unused pointers);
* ``torch.compile(fullgraph=True)`` traces a function calling the layer (and the LIF) on the
  triton backend into kernel calls, no opaque op left, and that graph, run with each kernel call
  launched on the interpreted kernel, gives eager's spikes, L_mem and gradients (also with
  ``dynamic=True``: symbolic sizes).

On a GPU (skipped without CUDA): Inductor compiles those graphs (the kernels in its own code)
and equals eager; ``mode="reduce-overhead"`` captures training steps in CUDA graphs with no
skipped graph.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from mpe_psn.ops.mpe.op import GRAPH_LAYERS
from tests.ops.kernel_helpers import needs_triton
from tests.ops.traced_triton import expected_writes, jit_function, traced_on_cpu

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_the_triton_ops_are_triton_ops_with_the_layer_schemas():
    """Registered with triton_op (a FunctionalTensorMode decomposition: traced, not opaque), with
    the schemas of the custom ops they stand for; the custom ops stay opaque."""
    from torch._library.custom_ops import OPDEFS
    from torch._subclasses.functional_tensor import FunctionalTensorMode

    from mpe_psn.ops.lif import triton_op as lif_triton  # noqa: F401  (registers mpe_psn::triton_lif)
    from mpe_psn.ops.mpe import triton_op as mpe_triton  # noqa: F401

    for graph_op, custom in (("triton_layer", "layer"), ("triton_layer_backward", "layer_backward"),
                             ("triton_lif", "lif"), ("triton_lif_backward", "lif_backward")):
        schema = getattr(torch.ops.mpe_psn, graph_op).default._schema
        twin = getattr(torch.ops.mpe_psn, custom).default._schema
        assert [(a.name, str(a.type)) for a in schema.arguments] == [(a.name, str(a.type)) for a in twin.arguments]
        assert [str(r.type) for r in schema.returns] == [str(r.type) for r in twin.returns]
        assert FunctionalTensorMode in OPDEFS[f"mpe_psn::{graph_op}"]._torch_dispatch_fns
        assert FunctionalTensorMode not in OPDEFS[f"mpe_psn::{custom}"]._torch_dispatch_fns


@pytest.mark.slow
def test_torch_finds_exactly_the_pointers_each_launch_writes():
    """torch's TTIR analysis of every specialisation both hosts launch (a subprocess without the
    interpreter; about 20 s) against :func:`expected_writes`; and the kernels torch keys its
    compile cache on for each graph op."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-m", "tests.ops.traced_triton"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    both = ["mpe:forward_kernel", "mpe:backward_kernel"]
    assert report["kernels"] == {"triton_layer": both, "triton_layer_backward": both,
                                 "triton_lif": ["lif:forward_kernel"], "triton_lif_backward": ["lif:backward_kernel"]}
    found = report["writes"]
    assert len(found) == 90 + 6  # 3 dtypes x 3 estimators x 10 flag sets, and the LIF's 2 kernels x 3 dtypes
    for key, written in found.items():
        kernel, _, flags = json.loads(key)
        assert set(written) == expected_writes(kernel, flags), key


def _kernel_calls(graph) -> list[str]:
    """The kernels a traced graph calls, in order, and every other op it calls from mpe_psn."""
    from torch._higher_order_ops.triton_kernel_wrap import kernel_side_table, triton_kernel_wrapper_functional

    calls = []
    for node in graph.graph.nodes:
        if node.target is triton_kernel_wrapper_functional:
            calls.append(jit_function(kernel_side_table.get_kernel(node.kwargs["kernel_idx"])).fn.__name__)
        elif "mpe_psn" in str(node.target):
            calls.append(str(node.target))
    return calls


@needs_triton
@pytest.mark.parametrize("estimator,refine_steps,kappa", [("bernoulli", 1, "logits"), ("expected", 0, "weights")])
def test_compiled_triton_layer_matches_eager(monkeypatch, fresh_dispatch_state, estimator, refine_steps, kappa):
    from mpe_psn.ops import mpe_psn_layer

    torch.manual_seed(0)
    x = (torch.randn(4, 3, 200) * 1.5 + 0.5).requires_grad_(True)  # 600 neurons: 3 programs of 256
    theta = torch.tensor(0.9, requires_grad=True)
    k = torch.linspace(-0.5, 0.5, 4).requires_grad_(True)
    weights = dict(kappa_logits=k) if kappa == "logits" else dict(kappa=k)
    probe = torch.linspace(-1.0, 1.0, x[0].numel()).reshape(x.shape[1:])

    def step(x, theta, k):
        spikes, mem_loss = mpe_psn_layer(x, theta, 0.25, **weights, estimator=estimator, refine_steps=refine_steps,
                                         backend="triton")
        return spikes, mem_loss, (spikes * probe).sum() + 3.0 * mem_loss

    def run(fn):
        torch.manual_seed(1)  # the same seed draw
        spikes, mem_loss, loss = fn(x, theta, k)
        return (spikes, mem_loss, *torch.autograd.grad(loss, [x, theta, k]))

    eager = run(step)
    assert "triton" not in GRAPH_LAYERS  # the interpreted kernels: compiled graphs keep mpe_psn::layer
    with traced_on_cpu(monkeypatch) as (backend, graphs):
        compiled = run(torch.compile(step, backend=backend, fullgraph=True))
        forward, backward = (_kernel_calls(graph) for graph in graphs)
    passes = 1 + refine_steps
    assert forward == ["forward_kernel"] * passes  # the op is gone: its kernels are in the graph
    assert backward == ["forward_kernel"] * refine_steps + ["backward_kernel"] * passes
    assert torch.equal(compiled[0], eager[0])
    for got, want in zip(compiled[1:], eager[1:]):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert eager[3].abs().sum() > 0 and eager[4].abs().sum() > 0  # the threshold and kappa get gradients


@needs_triton
def test_compiled_triton_layer_with_dynamic_shapes_matches_eager(monkeypatch, fresh_dispatch_state):
    """``dynamic=True`` (what torch.compile turns to after a second shape, a last smaller batch):
    the neuron count, the grid and the loss scale are symbolic in one graph for both batches."""
    import copy

    from mpe_psn import MPEPSN

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 30), MPEPSN(T=4, refine_steps=1, backend="triton"),
                              torch.nn.Linear(30, 30))
    twin = copy.deepcopy(net)
    weights = torch.arange(30.0)

    def run(model, module, x):
        torch.manual_seed(1)
        module.zero_grad()
        out = model(x)
        mem_loss = module[1].mem_loss
        ((out * weights).sum() + mem_loss).backward()
        return out, mem_loss, [p.grad for p in module.parameters()]

    batches = [torch.randn(4, b, 6) for b in (3, 5)]
    eager = [run(net, net, x) for x in batches]
    with traced_on_cpu(monkeypatch) as (backend, graphs):
        compiled = torch.compile(twin, backend=backend, fullgraph=True, dynamic=True)
        results = [run(compiled, twin, x) for x in batches]
    assert len(graphs) == 2  # one forward and one backward graph for both batch sizes
    for (out, mem_loss, grads), (want_out, want_loss, want_grads) in zip(results, eager):
        torch.testing.assert_close(out, want_out)
        torch.testing.assert_close(mem_loss, want_loss)
        for got, want in zip(grads, want_grads):
            torch.testing.assert_close(got, want)


@needs_triton
@pytest.mark.parametrize("theta_shape", [(), (40,), (2, 40)])  # one; per channel (a copy); per neuron (a view)
def test_compiled_triton_lif_matches_eager(monkeypatch, fresh_dispatch_state, theta_shape):
    """The kernels' threshold is a view of the op's input for one value or one per neuron: a
    launch torch takes to write it (``expected_writes``) must not turn into a mutation of it."""
    from mpe_psn.ops.lif.dispatch import lif_spikes

    torch.manual_seed(0)
    x = (torch.randn(6, 2, 40) + 0.5).requires_grad_(True)
    theta = (0.8 + 0.1 * torch.rand(theta_shape)).requires_grad_(True)
    probe = torch.linspace(-1.0, 1.0, 80).reshape(2, 40)

    def step(x, theta):
        spikes = lif_spikes(x, theta, 0.5, backend="triton")
        return spikes, (spikes * probe).sum()

    def run(fn):
        spikes, loss = fn(x, theta)
        return (spikes, *torch.autograd.grad(loss, [x, theta]))

    eager = run(step)
    with traced_on_cpu(monkeypatch) as (backend, graphs):
        compiled = run(torch.compile(step, backend=backend, fullgraph=True))
        assert [_kernel_calls(g) for g in graphs] == [["forward_kernel"], ["backward_kernel"]]
    assert torch.equal(compiled[0], eager[0])
    for got, want in zip(compiled[1:], eager[1:]):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert eager[2].abs().sum() > 0


# ---- on a GPU ---------------------------------------------------------------------------------


def _small_net(neuron: str = "mpe", estimator: str = "bernoulli") -> torch.nn.Module:
    from mpe_psn import LIF, MPEPSN

    torch.manual_seed(0)
    layer = MPEPSN(T=4, estimator=estimator, backend="triton") if neuron == "mpe" else LIF(backend="triton")
    return torch.nn.Sequential(torch.nn.Linear(32, 64), layer, torch.nn.Linear(64, 10)).cuda()


@gpu
@pytest.mark.parametrize("neuron", ["mpe", "lif"])
def test_inductor_compiles_the_kernels_into_its_graph_on_gpu(neuron):
    """fullgraph Inductor: the generated code launches the layer's kernels itself (no mpe_psn op
    left in it), and equals eager (forward, L_mem, every gradient)."""
    import copy

    from torch._inductor.utils import run_and_get_code

    from mpe_psn import membrane_loss

    torch._dynamo.reset()
    net = _small_net(neuron, "expected")  # deterministic
    twin = copy.deepcopy(net)
    compiled = torch.compile(twin, fullgraph=True)
    x = torch.randn(4, 8, 32, device="cuda")

    def loss_of(model, module):
        out = model(x)
        return out, out.square().mean() + membrane_loss(module)

    eager_out, eager_loss = loss_of(net, net)
    eager_loss.backward()
    (out, loss), codes = run_and_get_code(lambda: loss_of(compiled, twin))
    loss.backward()
    code = "\n".join(codes)
    assert "forward_kernel" in code and "torch.ops.mpe_psn" not in code
    torch.testing.assert_close(out, eager_out, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(loss, eager_loss, rtol=1e-4, atol=1e-6)
    for (name, p), q in zip(net.named_parameters(), twin.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-3, atol=1e-5, msg=name)


def _sgd_steps(model, module, x, target, steps: int = 4) -> list[float]:
    from mpe_psn import membrane_loss

    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        out = model(x)
        loss = torch.nn.functional.cross_entropy(out.mean(0), target) + 0.01 * membrane_loss(module)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return losses


@gpu
@pytest.mark.parametrize("neuron", ["mpe", "lif"])
def test_reduce_overhead_training_steps_equal_eager_on_gpu(neuron):
    """mode="reduce-overhead": forward and backward replay as CUDA graphs, none skipped (a CPU
    tensor or an op a graph cannot hold would skip it), and 4 SGD steps (deterministic: the
    expected estimator) lose what eager's lose."""
    import copy

    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    net = _small_net(neuron, "expected")
    twin = copy.deepcopy(net)
    x = torch.randn(4, 8, 32, device="cuda")
    target = torch.randint(0, 10, (8,), device="cuda")
    eager = _sgd_steps(net, net, x, target)
    graphed = _sgd_steps(torch.compile(twin, mode="reduce-overhead"), twin, x, target)
    assert counters["inductor"]["cudagraph_skips"] == 0, dict(counters["inductor"])
    assert graphed == pytest.approx(eager, rel=1e-4)


@gpu
def test_reduce_overhead_draws_fresh_samples_each_replay_on_gpu():
    """The Bernoulli seed is drawn on the device inside the graph, so a replayed CUDA graph
    samples anew: two training forwards of the same input differ, and training stays finite."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    net = _small_net("mpe", "bernoulli")
    compiled = torch.compile(net, mode="reduce-overhead")
    x = torch.randn(4, 8, 32, device="cuda")
    target = torch.randint(0, 10, (8,), device="cuda")
    losses = _sgd_steps(compiled, net, x, target, steps=5)
    assert all(torch.isfinite(torch.tensor(losses))), losses
    with torch.no_grad():
        first = compiled(x).clone()
        second = compiled(x).clone()
    assert not torch.equal(first, second)
    assert counters["inductor"]["cudagraph_skips"] == 0, dict(counters["inductor"])
