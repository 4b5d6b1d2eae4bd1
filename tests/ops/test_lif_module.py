"""``mpe_psn.LIF`` on the fused op: the path taken, layouts, thresholds, autocast, the custom
op's registration (opcheck), torch.compile and export."""

from __future__ import annotations

import pytest
import torch
from tests.ops.kernel_helpers import FUSED, same_spikes
from tests.ops.test_lif_fused import assert_relative

from mpe_psn import LIF, set_step_mode
from mpe_psn.functional import lif
from mpe_psn.ops import registry
from mpe_psn.ops.lif import op as lif_op
from mpe_psn.ops.lif.dispatch import PROBE_N, PROBE_T

ALL_UTILS = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")


@pytest.fixture
def fused_calls(monkeypatch):
    """The backend of each fused LIF call in eager mode (each goes through ``_EagerLIF``),
    leaving out the once-per-setting probe."""
    calls = []
    real = lif_op._EagerLIF.apply

    def counted(*args):
        if tuple(args[0].shape) != (PROBE_T, PROBE_N):
            calls.append(args[-1])
        return real(*args)

    monkeypatch.setattr(lif_op._EagerLIF, "apply", counted)
    return calls


def test_backend_choices_come_from_the_registry():
    assert LIF().backend == "auto"
    for name in registry.choices("lif"):
        assert LIF(backend=name).backend == name
    with pytest.raises(ValueError, match=r"unknown backend 'fast'; choose one of \['auto', 'reference', 'cpu'"):
        LIF(backend="fast")


def test_multi_step_runs_the_fused_op_and_step_mode_does_not(fused_calls):
    x = torch.randn(6, 2, 5)
    fused = LIF(threshold=0.6, tau=0.5)(x)
    assert fused_calls == ["cpu"]
    assert torch.equal(fused, lif(x, 0.6, 0.5).spikes)
    assert torch.equal(LIF(threshold=0.6, tau=0.5, backend="reference")(x), fused)
    stepped = set_step_mode(LIF(threshold=0.6, tau=0.5), "s")
    assert torch.equal(torch.stack([stepped(x_t) for x_t in x]), fused)
    assert fused_calls == ["cpu"]


@pytest.mark.parametrize("backend", FUSED)
def test_batch_first_and_per_channel_threshold_match_the_loop_module(backend):
    x = torch.randn(2, 5, 3, 4, 4)  # [B, T, C, H, W]
    modules = [LIF(tau=0.5, batch_first=True, T=5, surrogate="sigmoid", backend=name) for name in (backend, "reference")]
    for module in modules:
        module.threshold = torch.nn.Parameter(torch.tensor([0.3, 0.8, 1.3]).reshape(3, 1, 1))
    results = []
    for module in modules:
        xi = x.clone().requires_grad_(True)
        spikes = module(xi)
        (spikes * torch.linspace(-1, 1, spikes.numel()).reshape(spikes.shape)).sum().backward()
        results.append((spikes, xi.grad, module.threshold.grad))
    (spikes, gx, g_theta), (ref_spikes, ref_gx, ref_theta) = results
    assert spikes.shape == x.shape and same_spikes(spikes, ref_spikes)
    assert_relative(gx, ref_gx)
    assert_relative(g_theta, ref_theta)


@pytest.mark.parametrize("backend", FUSED)
@pytest.mark.parametrize("bad", [torch.ones(5), torch.ones(4, 2, dtype=torch.int32), torch.ones(3, 2, 2)],
                         ids=["rank", "int", "T"])
def test_module_errors_are_the_loops(backend, bad):
    def error(module):
        with pytest.raises(Exception) as info:
            module(bad)
        return type(info.value), str(info.value)

    assert error(LIF(T=4, backend=backend)) == error(LIF(T=4, backend="reference"))


def test_autocast_bfloat16_trains_through_the_fused_op(fused_calls):
    layer, neuron = torch.nn.Linear(6, 6), LIF(T=4)
    x = torch.randn(4, 3, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        drive = layer(x)
        spikes = neuron(drive)
    assert fused_calls == ["cpu"] and spikes.dtype == torch.bfloat16
    assert same_spikes(spikes, lif(drive.float(), 1.0).spikes)
    spikes.float().sum().backward()
    assert layer.weight.grad is not None and float(neuron.threshold.grad.abs()) > 0


@pytest.mark.parametrize("backend", FUSED)
def test_opcheck(backend):
    x = torch.randn(3, 2, 5, requires_grad=True)
    for threshold in (torch.tensor(0.7, requires_grad=True), torch.rand(5, requires_grad=True)):
        torch.library.opcheck(torch.ops.mpe_psn.lif.default, (x, threshold, 0.25, 1, 4.0, backend), test_utils=ALL_UTILS)
    torch.library.opcheck(
        torch.ops.mpe_psn.lif_backward.default, (x.detach(), torch.rand(2, 5), torch.randn(3, 2, 5), 0.25, 0, 1.0, backend)
    )


@pytest.mark.slow
def test_compile_fullgraph_matches_eager():
    eager = LIF(T=4, tau=0.5, surrogate="arctan")
    compiled_module = LIF(T=4, tau=0.5, surrogate="arctan")
    compiled = torch.compile(compiled_module, fullgraph=True, dynamic=False)
    x = torch.randn(4, 2, 9)
    outs = []
    for model in (eager, compiled):
        xi = x.clone().requires_grad_(True)
        y = model(xi)
        (y * torch.arange(y.numel()).reshape(y.shape)).sum().backward()
        outs.append((y, xi.grad))
    assert torch.equal(outs[0][0], outs[1][0])
    torch.testing.assert_close(outs[0][1], outs[1][1])
    assert torch.equal(eager.threshold.grad, compiled_module.threshold.grad)


def test_export_sees_the_custom_op(fused_calls):
    neuron = LIF(T=4).eval()
    x = torch.randn(4, 2, 8)
    eager = neuron(x)
    assert fused_calls == ["cpu"]
    exported = torch.export.export(neuron, (x,))
    assert any("mpe_psn.lif" in str(node.target) for node in exported.graph.nodes)
    assert torch.equal(exported.module()(x), eager)


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::torch.jit.TracerWarning")  # torch.jit.trace's own notes
def test_onnx_export_and_the_torchscript_tracer_get_the_loop_and_leave_the_kernel_on(tmp_path, fused_calls):
    """They need standard ops: the loop runs there, nothing fails, and eager calls stay fused."""
    pytest.importorskip("onnx")
    from mpe_psn.export.onnx_export import to_onnx
    from mpe_psn.ops import fallback

    net = torch.nn.Sequential(torch.nn.Linear(3, 2), LIF(T=4)).eval()
    x = torch.randn(4, 2, 3)
    info = to_onnx(net, tmp_path / "lif.onnx", x, dynamo=False, dynamic_batch=False)
    assert "Greater" in info["ops"]  # the loop's strict comparison, unrolled
    traced = torch.jit.trace(net, (x,), check_trace=False)
    assert torch.equal(traced(x), net(x))
    assert fused_calls == ["cpu"]  # only the eager call above ran the kernel
    assert not any(key.startswith("lif ") for key in fallback.fallbacks())
