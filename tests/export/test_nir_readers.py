"""Our NIR graphs in other readers: Sinabs, Spyx, Rockpool (scripts/nir_readers/).

Each reader lives in its own virtual environment (``bash scripts/nir_readers/setup_envs.sh``
makes ``.venv-nir/<reader>``; ``MPE_PSN_NIR_VENVS`` points elsewhere). A reader's tests skip,
saying so, when its environment does not exist, and run the real reader when it does. The
tests of the comparison's own models (the interpreter, each reader's neuron equations) run
everywhere.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mpe_psn import LIF

pytestmark = pytest.mark.nir_readers
nir = pytest.importorskip("nir")
from mpe_psn.export import to_nir  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
VENVS = Path(os.environ.get("MPE_PSN_NIR_VENVS", ROOT / ".venv-nir"))
T, B = 8, 24


def _load_compare():
    spec = importlib.util.spec_from_file_location("nir_readers_compare", ROOT / "scripts/nir_readers/compare.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


compare = _load_compare()


def _net() -> nn.Sequential:
    """Two conv layers (a max pool after the second), a dense layer, a readout: the small net's kinds of node."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1), LIF(tau=0.25, threshold=0.6),
        nn.Conv2d(4, 6, 3, padding=1), LIF(tau=0.5, threshold=0.5), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(6 * 4 * 4, 12), LIF(tau=0.25, threshold=0.4), nn.Linear(12, 3),
    )
    with torch.no_grad():  # enough drive that every layer fires, not always
        for layer in (net[0], net[2], net[6]):
            layer.weight.mul_(2.5)
    return net.eval()


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    work = tmp_path_factory.mktemp("nir-readers")
    graph = to_nir(_net(), input_shape=(2, 16, 16))
    g = torch.Generator().manual_seed(3)
    frames = torch.poisson(torch.full((T, B, 2, 16, 16), 0.4), generator=g)  # event counts, as the built-in data
    result = compare.prepare(graph, frames, work)
    result.update(graph=graph, frames=frames, work=work, labels=np.zeros(B, dtype=np.int64))
    return result


def _compared(case, reader: str) -> dict:
    python = compare.reader_python(reader, VENVS)
    if not python.exists():
        pytest.skip(f"no {reader} environment at {python}: run `bash scripts/nir_readers/setup_envs.sh {reader}`")
    status = compare.run_reader(reader, case["work"], VENVS, timeout=600)
    assert status["status"] == "ran", status
    return compare.compare_reader(reader, case["work"], status["report"], case["ref"], case["ref_logits"],
                                  case["labels"], case["graphs"], case["layers"], case["inputs"])


# -- the comparison's own models (no reader needed) ------------------------------------------------

def test_every_layer_fires_and_the_interpreter_is_the_exact_lif(case):
    for neuron in case["layers"]:
        assert 0.02 < case["ref"][neuron].mean() < 0.9, neuron
    with torch.no_grad():
        logits = compare.interpret(case["graph"], case["frames"]).numpy()
    np.testing.assert_allclose(logits, case["ref_logits"], atol=1e-5)


def test_reader_neuron_equations_on_a_hand_computed_sequence():
    current = torch.tensor([0.6, 0.6, 2.5, 0.0])
    steps = compare.neuron_steps
    # this project: decay 0.5, hard reset: v = 0.6, 0.9, 2.95 (spike, to 0), 0
    assert steps(current, 0.5, 1.0).tolist() == [0, 0, 1, 0]
    # Sinabs: subtract, trunc(v / theta) spikes: 2.95 gives 2 spikes and keeps 0.95
    assert steps(current, 0.5, 1.0, reset="subtract", multi="trunc").tolist() == [0, 0, 2, 0]
    # Spyx: the spike of step t is decided on v of step t - 1: one step late
    assert steps(current, 0.5, 1.0, delayed=True).tolist() == [0, 0, 0, 1]
    # without leak, subtract: 0.6, 1.2 (spike, 0.2), 2.7 (spike, 1.7), 1.7 (spike)
    assert steps(current, 1.0, 1.0, reset="subtract").tolist() == [0, 1, 1, 1]


def test_reader_variants_keep_each_layers_decay(case):
    dt = float(case["graph"].metadata["dt"])
    taus = {name: 1 - dt / float(np.ravel(case["graph"].nodes[name].tau)[0]) for name in case["layers"]}
    exp_graph, cuba = case["graphs"]["one_value_exp_decay"][0], case["graphs"]["cuba"][0]
    for name, tau in taus.items():
        node = exp_graph.nodes[name]
        assert node.tau.shape == (1,) and np.exp(-1 / node.tau[0]) == pytest.approx(tau, rel=1e-5)
        c = cuba.nodes[name]
        assert np.exp(-dt / c.tau_mem).ravel()[0] == pytest.approx(tau, rel=1e-5)
        assert (c.tau_mem / (1 + c.r)).min() == pytest.approx(dt, rel=1e-4)  # the dt Rockpool reads back


def test_chip_style_neurons_change_the_network(case):
    with torch.no_grad():
        exact = compare.interpret(case["graph"], case["frames"])
        same = compare.interpret(case["graph"], case["frames"], weight_bits=16)
        variants = [compare.interpret(case["graph"], case["frames"], **o) for o in (
            {"leak": False}, {"reset": "subtract"}, {"weight_bits": 3})]
    assert (same.mean(0).argmax(-1) == exact.mean(0).argmax(-1)).float().mean() > 0.9
    for other in variants:
        assert not torch.equal(other, exact)


# -- the readers -------------------------------------------------------------------------------------

def test_spyx_runs_every_layer_as_its_own_equations(case):
    result = _compared(case, "spyx")
    entry = result["sets"]["exported"]
    assert result["versions"]["spyx"] == "1.0.0"
    assert set(entry["node_kinds"]["Threshold"]["refused"].values()) == {
        "the reader maps this node to nothing (returns None)"}
    assert not entry["node_kinds"]["LIF"]["refused"] and not entry["node_kinds"]["Conv2d"]["refused"]
    first = next(iter(case["layers"]))
    for neuron, row in entry["layers"].items():
        # XLA's convolution rounds differently from torch's: a spike exactly at threshold may flip
        assert row["forced_agreement_with_reader_semantics"] >= 0.999, (neuron, row)
        assert row["reader_values_above_1"] == 0
    # its spikes come one step late: shifting them back agrees better than comparing as they are
    assert entry["layers"][first]["forced_agreement_shifted_one_step"] > entry["layers"][first]["forced_agreement"]
    # the whole graph: what it computes is explained by its neuron, the dropped Threshold and
    # a channels-last Flatten
    full = entry["full_output"]["reader_semantics_model"]
    assert full["options"] == {"drop_threshold": True, "flatten_channels_last": True}
    assert full["class_agreement_with_reader"] == 1.0 and full["max_abs_logit_difference_to_reader"] < 1e-3


def test_sinabs_needs_one_value_lif_parameters_and_then_runs_its_own_neuron(case):
    result = _compared(case, "sinabs")
    exported = result["sets"]["exported"]
    assert any("v_reset" in note for note in exported["load_notes"])  # nir 1.0.4 has no v_reset
    conv_lifs = [n for n, w in case["layers"].items() if isinstance(case["graph"].nodes[w], nir.Conv2d)]
    refused = exported["node_kinds"]["LIF"]["refused"]
    assert sorted(refused) == sorted(conv_lifs)
    assert all("truth value of an array" in error for error in refused.values())
    assert exported["node_kinds"]["Threshold"]["refused"]
    assert "full" in exported["errors"]
    equivalent = result["sets"]["one_value_exp_decay"]
    for neuron, row in equivalent["layers"].items():
        assert row["forced_agreement_with_reader_semantics"] == 1.0, (neuron, row)
        assert "chain_agreement" in row
    chain = equivalent["chain_output"]["reader_semantics_model"]
    assert chain["class_agreement_with_reader"] == 1.0 and chain["max_abs_logit_difference_to_reader"] < 1e-3


def test_rockpool_refuses_lif_and_conv_and_runs_a_cuba_dense_layer(case):
    result = _compared(case, "rockpool")
    exported = result["sets"]["exported"]
    assert all("tau_mem" in e for e in exported["node_kinds"]["LIF"]["refused"].values())
    assert not exported["node_kinds"]["LIF"]["accepted"]
    assert all("Cannot convert" in e for e in exported["node_kinds"]["Conv2d"]["refused"].values())
    dense = [n for n, w in case["layers"].items() if isinstance(case["graph"].nodes[w], (nir.Affine, nir.Linear))]
    rows = result["sets"]["cuba"]["layers"]
    for neuron in dense:
        assert rows[neuron]["forced_agreement_with_reader_semantics"] == 1.0, rows[neuron]
