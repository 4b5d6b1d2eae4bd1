"""Every place the project runs the exact LIF takes the fused kernel (``ops/lif``): the path
taken is counted, not timed. Training with ``--neuron lif``, converting MPE-PSN to the LIF,
the deployment gap, importing a NIR graph as LIF, and benchmark rows."""

from __future__ import annotations

import torch
from torch import nn

from mpe_psn import LIF, MPEPSN
from mpe_psn.interop import convert
from mpe_psn.models.deployment_gap import as_lif, deployment_gap
from tests.ops.test_lif_module import fused_calls  # noqa: F401  (the fixture counting fused LIF calls)

T = 4


def _net(neuron) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 16), neuron(tau=0.5, threshold=0.5, T=T), nn.Linear(16, 3)).eval()


def _run(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net(x)


def test_train_with_neuron_lif_runs_the_fused_lif(tmp_path, fused_calls):  # noqa: F811
    from mpe_psn.training.config import TrainConfig
    from mpe_psn.training.loop import train

    config = TrainConfig.from_dict(dict(
        dataset="synthetic", dataset_options={"num_train": 16, "num_test": 16}, cache_dir=str(tmp_path / "cache"),
        model="small", T=T, input_size=16, epochs=1, batch_size=8, out=str(tmp_path / "runs"), name="lif",
        device="cpu", neuron="lif"))
    train(config, progress=False, log=lambda m: None)
    assert fused_calls and set(fused_calls) == {"cpu"}


def test_convert_and_as_lif_give_fused_lifs(fused_calls):  # noqa: F811
    x = torch.randn(T, 5, 12)
    mpe = _net(lambda **kw: MPEPSN(backend="reference", **kw))
    for lifted in (convert(mpe, to="lif")[0], as_lif(mpe)):
        (layer,) = [m for m in lifted.modules() if isinstance(m, LIF)]
        assert layer.backend == "auto"
        before = len(fused_calls)
        _run(lifted, x)
        assert len(fused_calls) == before + 1


def test_the_deployment_gap_measures_the_lif_on_the_fused_kernel(fused_calls):  # noqa: F811
    mpe = _net(lambda **kw: MPEPSN(backend="reference", **kw))
    batches = [(torch.randn(T, 6, 12), torch.randint(0, 3, (6,)))]
    deployment_gap(mpe, batches, seeds=1, refine_levels=[])
    assert fused_calls == ["cpu"]


def test_a_nir_graph_imported_as_lif_runs_the_fused_kernel(fused_calls):  # noqa: F811
    from mpe_psn.export import from_nir, to_nir

    imported = from_nir(to_nir(_net(LIF), input_shape=(12,)), neuron="lif", T=T).eval()
    assert [m.backend for m in imported.modules() if isinstance(m, LIF)] == ["auto"]
    before = len(fused_calls)
    _run(imported, torch.randn(T, 5, 12))
    assert fused_calls[before:] == ["cpu"]


def test_bench_rows_of_the_fused_lif():
    from mpe_psn.bench.net import _native
    from mpe_psn.bench.rivals import make_layer

    assert _native("lif") == ("lif", None) and _native("lif-loop") == ("lif", {"backend": "reference"})
    x = torch.randn(T, 64)
    fused, _ = make_layer("lif-fused", T, torch.device("cpu"))(x)
    loop, _ = make_layer("loop-lif", T, torch.device("cpu"))(x)
    assert torch.equal(fused, loop)


def test_mpe_psn_refined_to_the_exact_lif_runs_the_fused_lif(fused_calls):  # noqa: F811
    """refine_steps >= T - 1 (fine-tuning as the LIF, the refinement dial's far end): one fused
    LIF pass instead of T refinement passes, the same spikes as the passes, and no L_mem."""
    x = torch.randn(T, 7, 12)
    refined = _net(lambda **kw: MPEPSN(refine_steps=T - 1, **kw))
    passes = _net(lambda **kw: MPEPSN(refine_steps=T - 1, backend="reference", **kw))
    assert torch.equal(_run(refined, x), _run(passes, x))
    assert fused_calls == ["cpu"]
    assert refined[1].mem_loss is None and passes[1].mem_loss is not None
    _run(_net(lambda **kw: MPEPSN(refine_steps=T - 2, **kw)), x)  # one pass short of exact: MPE-PSN's kernel
    assert fused_calls == ["cpu"]
