"""NIR export and import: the neuron mapping, layer folding, bad input, file round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import mpe_psn
from mpe_psn import LIF, MPEPSN, PSN
from mpe_psn.models import build_model

nir = pytest.importorskip("nir")
from mpe_psn.export import from_nir, read_nir, to_nir, write_nir  # noqa: E402

T = 6


def _conv_net(neuron=LIF) -> nn.Sequential:
    torch.manual_seed(0)
    if neuron is MPEPSN:  # the reference path: no kernel compilation in a unit test
        neuron = lambda **kw: MPEPSN(backend="reference", **kw)  # noqa: E731
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), neuron(tau=0.25, threshold=0.5),
        nn.AvgPool2d(2), nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.BatchNorm2d(6), neuron(tau=0.5, threshold=0.4),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(6 * 2 * 2, 5), nn.BatchNorm1d(5), neuron(tau=0.0, threshold=0.3),
        nn.Linear(5, 3),
    )
    with torch.no_grad():  # statistics far from the defaults, so that folding them matters
        for bn in (net[1], net[5], net[10]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.3, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    return net.eval()


def _time_merged(net: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Run a plain Sequential on [T, B, ...]: layers per step, neurons on the sequence."""
    for layer in net:
        if isinstance(layer, (LIF, MPEPSN)):
            x = layer(x)
        else:
            x = layer(x.flatten(0, 1)).unflatten(0, x.shape[:2])
    return x


def _frames(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, 3, 2, 8, 8, generator=g) < 0.4).float() * 1.5


def test_lif_mapping_is_forward_euler_of_the_nir_equation():
    """Simulate NIR's tau dv/dt = (v_leak - v) + r I by forward Euler from the exported fields."""
    dt, tau, theta = 1e-3, 0.6, 0.8
    graph = to_nir(nn.Sequential(nn.Linear(4, 4), LIF(tau=tau, threshold=theta)), dt=dt)
    node = next(n for n in graph.nodes.values() if isinstance(n, nir.LIF))
    assert np.allclose(node.tau, dt / (1 - tau)) and np.allclose(node.r, 1 / (1 - tau))
    assert np.all(node.v_leak == 0) and np.all(node.v_reset == 0) and np.allclose(node.v_threshold, theta)
    assert node.metadata["dt"] == dt and node.tau.shape == (4,)
    current = torch.randn(40, 7, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) + 0.5
    v = np.zeros((7, 4))
    euler = []
    for i_t in current.numpy():
        v = v + dt / node.tau * ((node.v_leak - v) + node.r * i_t)
        z = v > node.v_threshold
        v = np.where(z, node.v_reset, v)
        euler.append(z)
    ours = mpe_psn.functional.lif(current, theta, tau).spikes.numpy().astype(bool)
    assert np.array_equal(np.stack(euler), ours)
    assert 0.05 < ours.mean() < 0.95


def test_tau_one_exports_an_if_node():
    graph = to_nir(nn.Sequential(nn.Linear(3, 2), LIF(tau=1.0)), dt=1e-3)
    node = next(n for n in graph.nodes.values() if isinstance(n, nir.IF))
    assert np.allclose(node.r, 1e3)
    back = from_nir(graph, neuron="lif")
    assert next(m for m in back.modules() if isinstance(m, LIF)).tau == pytest.approx(1.0)


@pytest.mark.parametrize("neuron", [LIF, MPEPSN])
def test_export_folds_batch_norm_and_imports_back_to_the_same_network(neuron):
    net = _conv_net(neuron)
    if neuron is MPEPSN:
        assert any(isinstance(m, MPEPSN) for m in net.modules())
        for m in net.modules():
            if isinstance(m, MPEPSN):
                m.refine_steps = T - 1  # the exact LIF, which is what NIR holds
    graph = to_nir(net, input_shape=(2, 8, 8))
    kinds = [type(n).__name__ for n in graph.nodes.values()]
    assert "BatchNorm" not in " ".join(kinds) and kinds.count("LIF") == 3 and "AvgPool2d" in kinds
    assert graph.nodes["9"].weight.shape == (5, 24)  # the Linear, BatchNorm1d folded in
    back = from_nir(graph, neuron="lif", T=T).eval()
    x = _frames()
    with torch.no_grad():
        expected = _time_merged(net, x)
        got = back(x)
    assert torch.allclose(got, expected, atol=1e-5)
    assert back.layers["11"].tau == 0.0 and back.layers["6"].threshold.item() == pytest.approx(0.4)


def test_project_network_exports_and_mpe_import_trains():
    model = build_model("vggsnn", neuron="mpe", T=4, num_classes=3, input_size=16,
                        neuron_options={"backend": "reference"}).eval()
    graph = to_nir(model)
    assert graph.nodes["input"].input_type["input"].tolist() == [2, 16, 16]
    assert sum(isinstance(n, nir.LIF) for n in graph.nodes.values()) == 8
    lif = next(n for n in graph.nodes.values() if isinstance(n, nir.LIF))
    assert lif.metadata["mpe_psn_neuron"] == "MPEPSN" and lif.metadata["dt"] == 1e-4
    imported = from_nir(graph, neuron="mpe", T=4, neuron_options={"backend": "reference"})
    assert sum(isinstance(m, MPEPSN) for m in imported.modules()) == 8
    again = to_nir(imported)  # and back out: the same weights
    assert np.allclose(again.nodes["body_0_0"].weight, graph.nodes["body_0_0"].weight)


def test_imported_network_trains_with_mpe_psn():
    graph = to_nir(_conv_net(), input_shape=(2, 8, 8))
    imported = from_nir(graph, neuron="mpe", T=T, neuron_options={"backend": "reference"}).train()
    before = imported.layers["0"].weight.detach().clone()
    optimizer = torch.optim.SGD(imported.parameters(), lr=0.1)
    loss = imported(_frames()).mean(0).logsumexp(-1).mean()
    loss.backward()
    optimizer.step()
    assert imported.layers["0"].weight.grad.abs().sum() > 0 and not torch.equal(imported.layers["0"].weight, before)
    assert imported.layers["2"].mem_loss is not None  # MPE-PSN's membrane loss is there to train with


def test_voting_average_is_folded_into_the_last_linear():
    from mpe_psn.models.nets import VotingPool

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), LIF(), nn.Linear(6, 3 * 2), VotingPool(2))
    graph = to_nir(net)
    back = from_nir(graph, neuron="lif")
    x = torch.randn(T, 2, 4) * 2
    with torch.no_grad():
        assert torch.allclose(back(x), _time_merged(net[:3], x).unflatten(-1, (3, 2)).mean(-1), atol=1e-6)


@pytest.mark.parametrize(
    "layer, message",
    [
        (nn.MaxPool2d(2), r"layer '1' \(MaxPool2d\).*no max pooling"),
        (PSN(T=T), r"layer '1' \(PSN\)"),
        (nn.ReLU(), r"layer '1' \(ReLU\).*not a supported layer"),
    ],
)
def test_unsupported_layers_are_named(layer, message):
    with pytest.raises(ValueError, match=message):
        to_nir(nn.Sequential(nn.Conv2d(2, 2, 3), layer), input_shape=(2, 8, 8))


def test_small_net_names_its_max_pool_when_max_pools_are_refused():
    with pytest.raises(ValueError, match=r"'body.4.0' \(MaxPool2d\)"):
        to_nir(build_model("small", neuron="mpe", T=2, num_classes=2, input_size=16), max_pool="error")


def test_the_default_net_exports_by_default_and_a_max_pool_on_non_spikes_is_named():
    graph = to_nir(build_model("small", neuron="mpe", T=2, num_classes=2, input_size=16))
    kinds = {type(node).__name__ for node in graph.nodes.values()}
    assert {"SumPool2d", "Threshold", "LIF"} <= kinds
    with pytest.raises(ValueError, match=r"'1' \(MaxPool2d\).*right after a neuron"):
        to_nir(nn.Sequential(nn.Conv2d(2, 2, 3), nn.MaxPool2d(2)), input_shape=(2, 8, 8))


def test_resnet_blocks_export_as_two_edges_into_the_last_neuron():
    torch.manual_seed(0)
    model = build_model("resnet19", neuron="lif", T=2, num_classes=3, input_size=8, neuron_options={"threshold": 0.1}).eval()
    graph = to_nir(model)
    into = lambda node: sorted(a for a, b in graph.edges if b == node)  # noqa: E731
    assert into("body_2_neuron2") == ["body_2_conv2_0", "body_2_shortcut_0"]  # 64 -> 128: a conv shortcut
    assert into("body_3_neuron2") == ["body_2_neuron2", "body_3_conv2_0"]  # identity shortcut
    assert sum(isinstance(n, nir.LIF) for n in graph.nodes.values()) == 18
    back = from_nir(graph, neuron="lif", T=2)
    x = torch.rand(2, 2, 2, 8, 8, generator=torch.Generator().manual_seed(0)) * 3
    with torch.no_grad():
        out = model(x)
        assert torch.allclose(back(x), out, atol=1e-4)
    assert not torch.allclose(out[:, 0], out[:, 1])  # spikes reach the output: the samples differ


def test_other_bad_export_input():
    with pytest.raises(ValueError, match="dt must be a positive"):
        to_nir(nn.Sequential(nn.Linear(2, 2), LIF()), dt=0)
    with pytest.raises(ValueError, match=r"BatchNorm2d\).*follows no Conv2d or Linear"):
        to_nir(nn.Sequential(nn.BatchNorm2d(2), LIF()), input_shape=(2, 4, 4))
    with pytest.raises(ValueError, match="needs input_shape"):
        to_nir(nn.Sequential(nn.Conv2d(2, 2, 3), LIF()))
    with pytest.raises(ValueError, match=r"layer '0' expects 5 input features"):
        to_nir(nn.Sequential(nn.Linear(5, 2), LIF()), input_shape=(4,))
    with pytest.raises(ValueError, match="fold_r: neuron layer '0'"):
        to_nir(nn.Sequential(LIF(), nn.Linear(2, 2)), input_shape=(2,), fold_r=True)


def test_fold_r_moves_the_input_scale_into_the_weights():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), LIF(tau=0.75))
    graph = to_nir(net, fold_r=True)
    lif = graph.nodes["1"]
    assert np.all(lif.r == 1) and np.allclose(graph.nodes["0"].weight, net[0].weight.detach().numpy() * 4)
    x = torch.randn(T, 5, 3) * 2
    with torch.no_grad():  # the same neuron: equal up to float rounding at the threshold
        assert (from_nir(graph, neuron="lif")(x) == _time_merged(net, x)).float().mean() > 0.99


def test_write_and_read_a_file_atomically(tmp_path, monkeypatch):
    net = _conv_net()
    path = tmp_path / "net.nir"
    write_nir(to_nir(net, input_shape=(2, 8, 8)), path)
    back = from_nir(path, neuron="lif")
    with torch.no_grad():
        assert torch.allclose(back(_frames()), _time_merged(net, _frames()), atol=1e-5)
    before = path.read_bytes()

    def broken_write(target, graph, **kwargs):
        target.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(nir, "write", broken_write)
    with pytest.raises(OSError, match="disk full"):
        write_nir(to_nir(net, input_shape=(2, 8, 8)), path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["net.nir"]


def _graph(nodes: dict, edges: list) -> "nir.NIRGraph":
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _lif(n: int, **changes) -> "nir.LIF":
    fields = dict(tau=np.full(n, 4e-4), r=np.full(n, 4.0), v_leak=np.zeros(n), v_threshold=np.ones(n))
    fields.update(changes)
    return nir.LIF(**fields)


def _affine(n_out: int, n_in: int) -> "nir.Affine":
    return nir.Affine(np.ones((n_out, n_in), np.float32), np.zeros(n_out, np.float32))


def test_import_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        from_nir(tmp_path / "missing.nir")
    (tmp_path / "text.nir").write_text("not a graph")
    with pytest.raises(ValueError, match=r"text.nir is not a NIR file"):
        read_nir(tmp_path / "text.nir")
    with pytest.raises(TypeError, match="nir.NIRGraph or a path"):
        from_nir(42)
    with pytest.raises(ValueError, match="neuron must be 'mpe' or 'lif'"):
        from_nir(tmp_path / "text.nir", neuron="psn")


def _chain(*nodes, n_in: int = 3) -> "nir.NIRGraph":
    names = [f"n{i}" for i in range(len(nodes))]
    all_nodes = {"input": nir.Input(np.array([n_in])), **dict(zip(names, nodes)), "output": nir.Output(np.array([2]))}
    path = ["input", *names, "output"]
    return _graph(all_nodes, list(zip(path[:-1], path[1:])))


def test_import_rejects_what_is_not_exact():
    with pytest.raises(ValueError, match=r"node 'n1'.*v_leak must be 0"):
        from_nir(_chain(_affine(2, 3), _lif(2, v_leak=np.full(2, 0.1))))
    with pytest.raises(ValueError, match=r"node 'n1'.*tau differs between neurons"):
        from_nir(_chain(_affine(2, 3), _lif(2, tau=np.array([4e-4, 5e-4]))))
    with pytest.raises(ValueError, match=r"node 'n1' is a LI"):
        from_nir(_chain(_affine(2, 3), nir.LI(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2))))
    cuba = dict(tau_mem=np.full(2, 4e-4), r=np.full(2, 4.0), v_leak=np.zeros(2), v_threshold=np.ones(2))
    with pytest.raises(ValueError, match=r"node 'n1' \(CubaLIF\).*tau_syn"):
        from_nir(_chain(_affine(2, 3), nir.CubaLIF(tau_syn=np.full(2, 5e-4), **cuba)))
    # a synaptic current that forgets in one step is the plain LIF: decay 1 - 1e-4/4e-4 = 0.75, scale 1
    exact = from_nir(_chain(_affine(2, 3), nir.CubaLIF(tau_syn=np.full(2, 1e-4), **cuba)), neuron="lif")
    assert exact.layers["n1"].tau == pytest.approx(0.75) and exact.layers["n1"].threshold.item() == pytest.approx(1.0)


def test_import_shapes_that_do_not_chain_name_the_node():
    with pytest.raises(ValueError, match=r"NIR node 'n1' \(Affine\) takes shape \(4,\) but node 'n0' gives \(2,\)"):
        from_nir(_chain(_affine(2, 3), _affine(2, 4)))
    conv = nir.Conv2d(None, np.ones((2, 5, 3, 3), np.float32), 1, 1, 1, 1, np.zeros(2, np.float32))
    nodes = {"input": nir.Input(np.array([3, 6, 6])), "conv": conv, "output": nir.Output(np.array([2, 6, 6]))}
    with pytest.raises(ValueError, match=r"NIR node 'conv' \(Conv2d\)"):
        from_nir(_graph(nodes, [("input", "conv"), ("conv", "output")]))
    cycle = _chain(_affine(3, 3), _lif(3))
    cycle.edges.append(("n1", "n0"))
    with pytest.raises(ValueError, match="cycle"):
        from_nir(cycle)


def test_imported_network_checks_T_and_shapes_at_run_time():
    net = from_nir(_chain(_affine(2, 3), _lif(2)), T=4)
    assert net(torch.zeros(4, 1, 3)).shape == (4, 1, 2)
    with pytest.raises(ValueError, match=r"NIR node 'input' \(Input\): this network was imported for T = 4"):
        net(torch.zeros(5, 1, 3))
    with pytest.raises(ValueError, match=r"NIR node 'input' \(Input\) takes \[T, B, ...\] with sample shape \(3,\)"):
        net(torch.zeros(4, 1, 7))


def test_imported_network_streams():
    graph = to_nir(_conv_net(), input_shape=(2, 8, 8))
    net = from_nir(graph, neuron="mpe", neuron_options={"estimator": "expected", "backend": "reference"}).eval()
    x = _frames(3)
    with torch.no_grad():
        multi = net(x)
        mpe_psn.set_step_mode(net, "s")
        streamed = torch.stack([net(x_t) for x_t in x])
    assert torch.allclose(streamed, multi, atol=1e-5)


def test_sums_where_edges_meet():
    nodes = {"input": nir.Input(np.array([3])), "a": _affine(2, 3), "b": _affine(2, 3), "lif": _lif(2),
             "output": nir.Output(np.array([2]))}
    net = from_nir(_graph(nodes, [("input", "a"), ("input", "b"), ("a", "lif"), ("b", "lif"), ("lif", "output")]),
                   neuron="lif")
    x = torch.full((3, 1, 3), 0.2)  # each branch gives 0.6: alone below the threshold 1, together above
    assert net(x)[0].tolist() == [[1.0, 1.0]]


def test_max_pool_after_a_neuron_exports_exactly_as_sum_pool_and_threshold():
    model = build_model("small", neuron="mpe", T=4, num_classes=3, input_size=20,
                        neuron_options={"refine_steps": 3, "backend": "reference"}).eval()
    graph = to_nir(model, max_pool="spikes")
    kinds = [type(n).__name__ for n in graph.nodes.values()]
    assert kinds.count("SumPool2d") == 2 and kinds.count("Threshold") == 2 and "MaxPool2d" not in kinds
    assert graph.nodes["body_4_0_sum"].output_type["output"].tolist() == [32, 5, 5]
    back = from_nir(graph, neuron="lif", T=4)
    x = (torch.rand(4, 3, 2, 20, 20, generator=torch.Generator().manual_seed(0)) < 0.3).float() * 2
    with torch.no_grad():
        assert torch.equal(back(x), model(x))
    assert [type(n).__name__ for n in to_nir(back).nodes.values()] == kinds  # and out again
    with pytest.raises(ValueError, match=r"layer '1' \(MaxPool2d\).*right after a neuron"):
        to_nir(nn.Sequential(nn.Conv2d(2, 2, 3), nn.MaxPool2d(2)), input_shape=(2, 8, 8), max_pool="spikes")
    with pytest.raises(ValueError, match="max_pool must be 'error' or 'spikes'"):
        to_nir(model, max_pool="avg")


def test_dvs_gesture_net_exports_with_its_voting_folded():
    from collections import Counter

    model = build_model("dvsgesture-net", neuron="mpe", T=2, num_classes=4, input_size=32,
                        neuron_options={"backend": "reference"}).eval()
    graph = to_nir(model, max_pool="spikes")
    counts = Counter(type(n).__name__ for n in graph.nodes.values())
    assert counts["LIF"] == 6 and counts["SumPool2d"] == counts["Threshold"] == 5 and counts["Affine"] == 2
    assert graph.nodes["output"].output_type["output"].tolist() == [4]  # 10 votes per class averaged away


# ---- one entry per layer type and direction ------------------------------------------------


class _Skip(nn.Module):
    """A test-only layer: a delay of zero steps (the identity), written as NIR's ``Delay``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_a_new_layer_type_is_one_entry_per_direction(monkeypatch):
    from mpe_psn.export import nir_export, nir_import

    net = nn.Sequential(nn.Linear(4, 5), _Skip(), LIF(tau=0.5, threshold=0.3), nn.Linear(5, 2)).eval()
    with pytest.raises(ValueError, match=r"layer '1' \(_Skip\).*not a supported layer \(supported: SpikingNetwork, "):
        to_nir(net)
    delay = nir.Delay(np.zeros(4, np.float32))
    graph = nir.NIRGraph(nodes={"input": nir.Input(np.array([4])), "d": delay, "output": nir.Output(np.array([4]))},
                         edges=[("input", "d"), ("d", "output")])
    with pytest.raises(ValueError, match=r"NIR node 'd' is a Delay, .*\(supported: LIF, IF, CubaLIF, Affine"):
        from_nir(graph, neuron="lif")

    monkeypatch.setattr(nir_export, "EXPORTERS", dict(nir_export.EXPORTERS))  # the registrations end with the test
    monkeypatch.setattr(nir_import, "IMPORTERS", dict(nir_import.IMPORTERS))

    @nir_export.exporter(_Skip)  # the export direction: one entry
    def _export_skip(builder, name, module, preds):
        return [builder.add(name, preds, lambda node, shape: (nir.Delay(np.zeros(shape, np.float32)), shape))]

    @nir_import.importer("Delay")  # the import direction: one entry
    def _import_skip(name, node, how):
        if np.any(np.asarray(node.delay) != 0):
            raise ValueError(f"NIR node {name!r} delays by more than 0 steps")
        return _Skip()

    graph = to_nir(net)
    assert [type(n).__name__ for n in graph.nodes.values()] == ["Input", "Affine", "Delay", "LIF", "Affine", "Output"]
    assert graph.nodes["1"].delay.shape == (5,)
    back = from_nir(graph, neuron="lif", T=T).eval()
    assert isinstance(back.layers["1"], _Skip)
    x = torch.randn(T, 3, 4, generator=torch.Generator().manual_seed(2)) * 2
    with torch.no_grad():
        assert torch.allclose(back(x), _time_merged(net, x), atol=1e-6)
    assert "_Skip" in nir_export.supported_layers() and "Delay" in nir_import.supported_nodes()


def test_deploy_md_lists_the_types_of_both_converter_maps():
    """docs/deploy.md names exactly the keys of EXPORTERS and IMPORTERS, in their order."""
    import re
    from pathlib import Path

    from mpe_psn.export.nir_export import supported_layers
    from mpe_psn.export.nir_import import supported_nodes

    text = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text(encoding="utf-8")
    for what, names in (("EXPORTERS", supported_layers()), ("IMPORTERS", supported_nodes())):
        listed = re.search(rf"`mpe_psn\.export\.nir_\w+\.{what}`[^:]*:\n(.*?)\.\n", text, flags=re.S)
        assert listed, f"docs/deploy.md has no list of {what}"
        assert re.findall(r"`([\w.]+)`", listed[1]) == names, f"docs/deploy.md's list of {what} is not {names}"
