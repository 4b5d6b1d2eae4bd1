"""``analyze neurobench`` against the real NeuroBench, and both tools' counting rules side by side.

Where the rules agree the numbers are equal (exactly; ActivationSparsity to float rounding,
as NeuroBench sums per-batch fractions); where they do not, the difference is asserted to be
exactly what the stated rules say (docs/analyses.md, "NeuroBench").
"""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from mpe_psn.analysis.energy import energy
from mpe_psn.analysis.neurobench import INSTALL_HINT, NeuroBenchMissing, lif_membrane_updates, neurobench
from mpe_psn.analysis.spike_rates import spike_rates
from mpe_psn.analysis.tables import neurobench_table
from mpe_psn.models.batches import model_input, predict
from mpe_psn.neurons import LIF, MPEPSN

from .conftest import TinyNet

nb = pytest.importorskip("neurobench", reason="NeuroBench is not installed (pip install 'mpe-psn[neurobench]')")
NB_2_3_0 = nb.__version__ == "2.3.0"


def _ops(result: dict) -> dict:
    return result["workload"]["SynapticOperations"]


def _count(per_sample: float, samples: int) -> int:
    """A per-sample count back as the integer total it was divided from (differences of per-sample
    floats are compared as integers, free of rounding)."""
    total = per_sample * samples
    assert abs(total - round(total)) < 1e-6
    return round(total)


# ---------------------------------------------------------------------------------------------
# the small conv net on the built-in data: the numbers, as tests


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The small net (MPE-PSN, T = 8, 10 classes, 32 x 32) with fixed weights strong enough that
    all four layers fire, and 16 test samples of the built-in dataset in batches of 8."""
    from mpe_psn.data import build_dataset, build_loader
    from mpe_psn.models import build_model

    dataset = build_dataset("synthetic", "test", T=8, size=32, num_test=16,
                            cache_dir=str(tmp_path_factory.mktemp("synthetic")))
    loader = build_loader(dataset, batch_size=8, shuffle=False)
    torch.manual_seed(0)
    model = build_model("small", neuron="mpe", T=8, num_classes=10, input_size=32).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.fill_(3.0)
        model.body[8][1].weight.mul_(4.0)
    return model, loader, neurobench(model, loader)


def test_small_net_activation_sparsity_is_one_minus_the_pooled_spike_rate(small):
    model, loader, result = small
    rates = spike_rates(model, loader)
    assert all(0 < layer["rate"] < 0.5 for layer in rates["layers"])  # every layer fires
    assert result["workload"]["ActivationSparsity"] == pytest.approx(1 - rates["total"]["rate"], rel=0, abs=1e-12)
    assert [l["activation_sparsity"] for l in result["layers"]] == [1 - l["rate"] for l in rates["layers"]]
    assert result["activation_layers"] == [l["name"] for l in rates["layers"]]
    assert result["non_spiking_activation_layers"] == []
    assert result["samples"] == 16 and result["T"] == 8


def test_small_net_operations_equal_where_the_rules_agree_and_differ_by_the_first_layer(small):
    model, loader, result = small
    dense = energy(model, loader)
    effective = energy(model, loader, counting="effective")
    ops = _ops(result)
    # after the first spiking layer (max pools only: inputs stay 0/1) both rules count ACs alike
    assert ops["Effective_ACs"] == dense["total"]["acs_per_sample"] == effective["total"]["acs_per_sample"]
    assert ops["Dense"] == dense["total"]["dense_ops_per_sample"] == dense["total"]["ann_macs_per_sample"] * 8
    assert ops["Effective_MACs"] == effective["total"]["macs_per_sample"]
    # the first layer takes event counts (0..9): mpe-psn counts it dense, NeuroBench its non-zero inputs
    first_dense, first_effective = dense["layers"][0], effective["layers"][0]
    assert first_dense["name"] == "body.0.0" and first_dense["op"] == first_effective["op"] == "MAC"
    assert dense["total"]["macs_per_sample"] == first_dense["dense_ops_per_sample"] == 565_504
    assert ops["Effective_MACs"] == first_effective["macs_per_sample"] < first_dense["macs_per_sample"] / 10
    x = torch.cat([x for x, _ in loader])
    assert x.max() > 1  # event counts, not spikes: so NeuroBench counts MACs, not ACs


def test_small_net_accuracy_static_metrics_and_membrane_updates(small):
    model, loader, result = small
    with torch.no_grad():
        correct = sum(int((predict(model(model_input(x))) == y).sum()) for x, y in loader)
    assert result["workload"]["ClassificationAccuracy"] == pytest.approx(correct / 16, abs=1e-12)
    assert result["static"]["ParameterCount"] == sum(p.numel() for p in model.parameters())
    assert result["static"]["Footprint"] == sum(t.numel() * t.element_size()
                                                for t in [*model.parameters(), *model.buffers()])
    assert result["static"]["ConnectionSparsity"] == 0.0
    # NeuroBench reads ``mem`` of snnTorch neurons only: MPE-PSN has none, the parallel neuron none either
    assert result["workload"]["MembraneUpdates"] == 0
    assert result["membrane_updates_per_sample"] is None
    for layer in result["layers"]:
        assert layer["membrane_updates_per_sample"] is None
        # an exact LIF on the same currents: every neuron at step 0, at most every neuron at each step
        assert layer["neurons"] <= layer["exact_lif_membrane_updates_per_sample"] <= 8 * layer["neurons"]
    assert "LIF membrane updates" in neurobench_table([("mpe", "mpe", result)])


# ---------------------------------------------------------------------------------------------
# fixed nets where the two rules disagree: average pools, event counts, binary input channels


class PooledNet(nn.Module):
    """conv3x3 (event counts in) - LIF - avgpool2 - linear - LIF - linear on [T, B, 1, 6, 6]."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.n1 = LIF(T=4)
        self.pool = nn.AvgPool2d(2)
        self.fc1 = nn.Linear(4 * 3 * 3, 8)
        self.n2 = LIF(T=4)
        self.fc2 = nn.Linear(8, 3)
        with torch.no_grad():
            self.conv.weight.uniform_(-0.2, 0.5)
            self.fc1.weight.uniform_(-0.3, 0.9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b = x.shape[:2]
        y = self.n1(self.conv(x.flatten(0, 1)).unflatten(0, (t, b)))
        y = self.pool(y.flatten(0, 1)).flatten(1)
        return self.fc2(self.n2(self.fc1(y).unflatten(0, (t, b))))


def _event_counts(batches: int = 2, batch: int = 4, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)  # counts 0..3, about half zero
    return [(torch.randint(0, 4, (batch, 4, 1, 6, 6), generator=g).float() * (torch.rand(batch, 4, 1, 6, 6, generator=g) < 0.6),
             torch.randint(0, 3, (batch,), generator=g)) for _ in range(batches)]


def test_average_pooled_layer_is_ac_here_and_mac_in_neurobench():
    torch.manual_seed(0)
    model, batches = PooledNet().eval(), _event_counts()
    result = neurobench(model, batches)
    dense, effective = energy(model, batches), energy(model, batches, counting="effective")
    d, e = ({l["name"]: l for l in r["layers"]} for r in (dense, effective))
    assert [d[n]["op"] for n in ("conv", "fc1", "fc2")] == ["MAC", "AC", "AC"]
    assert [e[n]["op"] for n in ("conv", "fc1", "fc2")] == ["MAC", "MAC", "AC"]
    assert 0 < d["fc1"]["acs_per_sample"] == e["fc1"]["macs_per_sample"]  # the same count, another class
    assert 0 < e["conv"]["macs_per_sample"] < d["conv"]["macs_per_sample"]  # zero counts do not count
    ops = _ops(result)
    assert ops["Effective_MACs"] == effective["total"]["macs_per_sample"]
    assert ops["Effective_ACs"] == effective["total"]["acs_per_sample"] == d["fc2"]["acs_per_sample"]
    assert ops["Dense"] == dense["total"]["dense_ops_per_sample"]
    # the differences, rule by rule (as integer totals over the 8 samples)
    n = 8
    assert _count(dense["total"]["acs_per_sample"], n) - _count(ops["Effective_ACs"], n) == _count(d["fc1"]["acs_per_sample"], n)
    assert _count(ops["Effective_MACs"], n) == _count(e["conv"]["macs_per_sample"], n) + _count(d["fc1"]["acs_per_sample"], n)
    assert dense["total"]["macs_per_sample"] == d["conv"]["dense_ops_per_sample"]
    assert result["workload"]["ActivationSparsity"] == pytest.approx(
        1 - spike_rates(model, batches)["total"]["rate"], rel=0, abs=1e-12)


class ChannelNet(nn.Module):
    """Linear(20, 16) - LIF - Linear(16, 3) on spike channels [T, B, 20] (rank 3, like the mlp)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(20, 16)
        self.lif = LIF(T=5)
        self.fc2 = nn.Linear(16, 3)
        with torch.no_grad():
            self.fc1.weight.uniform_(-0.2, 0.8)
            self.fc1.weight[:, :4] = 0.0  # four input channels unconnected: zero weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.lif(self.fc1(x)))


def test_binary_input_channels_are_acs_in_neurobench_and_dense_macs_here():
    torch.manual_seed(1)
    model = ChannelNet().eval()
    g = torch.Generator().manual_seed(2)
    batches = [((torch.rand(6, 5, 20, generator=g) < 0.3).float(), torch.randint(0, 3, (6,), generator=g))
               for _ in range(2)]
    result = neurobench(model, batches)
    dense, effective = energy(model, batches), energy(model, batches, counting="effective")
    ops = _ops(result)
    assert ops["Effective_MACs"] == effective["total"]["macs_per_sample"] == 0  # 0/1 input spikes: ACs
    assert ops["Effective_ACs"] == effective["total"]["acs_per_sample"]
    assert dense["layers"][0]["op"] == "MAC" and dense["total"]["macs_per_sample"] == 5 * 20 * 16
    x = torch.cat([x for x, _ in batches])
    inputs_per_sample = float((x != 0).sum()) / 12
    fc1_effective = effective["layers"][0]["acs_per_sample"]
    # zero weights do not count under NeuroBench's rule: 16 outputs, 4 of 16 unconnected ...
    on_connected = float((x[..., 4:] != 0).sum()) / 12
    assert fc1_effective == on_connected * 16 < inputs_per_sample * 16
    assert _count(ops["Effective_ACs"], 12) - _count(fc1_effective, 12) == _count(dense["total"]["acs_per_sample"], 12)
    assert result["T"] == 5


# ---------------------------------------------------------------------------------------------
# MembraneUpdates: NeuroBench's definition, checked against NeuroBench on snnTorch's Leaky


class LeakyNet(nn.Module):
    """The same net as ``ChannelNet`` but with snnTorch's ``Leaky`` run step by step, taking
    batch-major [B, T, 20] and returning [T, B, 3] (reset-to-zero applied in the step, as LIF)."""

    def __init__(self, source: ChannelNet) -> None:
        import snntorch

        super().__init__()
        self.fc1, self.fc2 = source.fc1, source.fc2
        self.leaky = snntorch.Leaky(beta=0.25, threshold=1.0, reset_mechanism="zero", reset_delay=False,
                                    init_hidden=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from snntorch import utils

        utils.reset(self)
        return torch.stack([self.fc2(self.leaky(self.fc1(x_t))) for x_t in x.transpose(0, 1)])


def test_lif_membrane_updates_equal_neurobench_on_snntorch_leaky():
    import snntorch
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.workload import ActivationSparsity, MembraneUpdates
    from neurobench.models import TorchModel

    torch.manual_seed(1)
    ours = ChannelNet().eval()
    theirs = LeakyNet(ours).eval()
    g = torch.Generator().manual_seed(3)
    batches = [(torch.rand(6, 5, 20, generator=g) * 2, torch.randint(0, 3, (6,), generator=g)) for _ in range(2)]
    with torch.no_grad():
        for x, _ in batches:  # the same spikes and potentials, step by step
            assert torch.equal(theirs(x), ours(model_input(x)))
    result = neurobench(ours, batches)

    class Loader(list):
        dataset = range(12)

    model = TorchModel(theirs)
    model.add_activation_module(snntorch.SpikingNeuron)
    with torch.no_grad():
        reference = Benchmark(model, Loader(batches), [], [predict], [[], [MembraneUpdates, ActivationSparsity]]).run(quiet=True)
    assert reference["MembraneUpdates"] > 0 and result["workload"]["MembraneUpdates"] == 0
    assert result["membrane_updates_per_sample"] == reference["MembraneUpdates"]
    assert result["layers"][0]["membrane_updates_per_sample"] == reference["MembraneUpdates"]
    assert result["workload"]["ActivationSparsity"] == pytest.approx(reference["ActivationSparsity"], rel=0, abs=1e-12)


def test_lif_membrane_updates_by_hand():
    v = torch.tensor([[0.5, 0.0, 0.9], [0.0, 0.0, 0.9], [0.3, 0.0, 0.9], [0.3, 0.2, 0.0]])  # [T=4, N=3]
    assert lif_membrane_updates(v.unsqueeze(1)) == 3 + 1 + 1 + 2


# ---------------------------------------------------------------------------------------------
# plumbing: batches used, hooks left behind, NeuroBench missing, NeuroBench's own bug


def test_max_batches_normalises_by_the_samples_used_and_leaves_no_hooks(tiny, batches):
    result = neurobench(tiny, batches, max_batches=1)
    rates = spike_rates(tiny, batches, max_batches=1)
    assert result["samples"] == 5
    assert result["workload"]["ActivationSparsity"] == pytest.approx(1 - rates["total"]["rate"], rel=0, abs=1e-12)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in tiny.modules())
    assert not tiny.training
    tiny.train()
    neurobench(tiny, iter(batches), max_batches=2)  # a plain iterator works too
    assert tiny.training


def test_seed_gives_the_same_spikes_as_spike_rates_for_a_sampling_estimator(batches):
    torch.manual_seed(0)
    model = TinyNet("mpe", eval_estimator="bernoulli").eval()
    result = neurobench(model, batches, seed=7)
    rates = spike_rates(model, batches, seed=7)
    assert [l["activation_sparsity"] for l in result["layers"]] == [1 - l["rate"] for l in rates["layers"]]
    assert _ops(result)["Effective_ACs"] == energy(model, batches, seed=7)["total"]["acs_per_sample"]
    assert spike_rates(model, batches, seed=8)["total"] != rates["total"]


def test_missing_neurobench_names_the_extra(monkeypatch, tmp_path, tiny_mpe, batches):
    from mpe_psn.analysis.runner import AnalysisError, run_analysis

    monkeypatch.setitem(sys.modules, "neurobench", None)
    with pytest.raises(NeuroBenchMissing, match=r"pip install 'mpe-psn\[neurobench\]'"):
        neurobench(tiny_mpe, batches)
    with pytest.raises(AnalysisError, match=r"pip install 'mpe-psn\[neurobench\]'"):  # before loading anything
        run_analysis("neurobench", [tmp_path / "missing.pt"], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert "mpe-psn[neurobench]" in INSTALL_HINT


@pytest.mark.skipif(not NB_2_3_0, reason="a NeuroBench 2.3.0 bug")
def test_neurobench_2_3_0_activation_sparsity_by_layer_raises_attribute_error(tiny_mpe, batches):
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.workload import ActivationSparsityByLayer
    from neurobench.models import TorchModel

    with pytest.raises(AttributeError, match="_requires_hooks"):
        Benchmark(TorchModel(tiny_mpe), batches, [], [], [[], [ActivationSparsityByLayer]])


def test_errors(tiny_mpe):
    with pytest.raises(ValueError, match="no spiking layers"):
        neurobench(nn.Sequential(nn.Linear(2, 2)), [(torch.zeros(1, 4, 2), torch.zeros(1))])
    with pytest.raises(ValueError, match="data split is empty"):
        neurobench(tiny_mpe, [])
    with pytest.raises(ValueError, match="max_batches"):
        neurobench(tiny_mpe, [], max_batches=0)
    assert isinstance(tiny_mpe.n1, MPEPSN)


def test_an_error_inside_a_neurobench_metric_is_raised_not_written_as_zero(tiny_mpe, batches):
    # labels [B, 1] instead of [B]: NeuroBench's ClassificationAccuracy fails its shape check,
    # prints one line and would report 0.0
    odd = [(x, y.unsqueeze(1)) for x, y in batches]
    with pytest.raises(RuntimeError, match="Error running workload metric 'ClassificationAccuracy'"):
        neurobench(tiny_mpe, odd)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in tiny_mpe.modules())
