"""Every analysis figure is a valid PNG, also with two checkpoints side by side."""

import json

import matplotlib.image
import pytest
import torch

from mpe_psn.analysis import plots
from mpe_psn.analysis.energy import energy
from mpe_psn.analysis.fidelity import fidelity
from mpe_psn.analysis.landscape import loss_landscape
from mpe_psn.analysis.refine import refinement_dial
from mpe_psn.analysis.spike_rates import spike_rates
from mpe_psn.analysis.registry import table

from .conftest import TinyNet, make_batches

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) < 300_000
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    mpe = TinyNet("mpe").eval()
    lif = TinyNet("lif").eval()
    lif.load_state_dict({k: v for k, v in mpe.state_dict().items() if "kappa" not in k})
    return mpe, lif


@pytest.mark.parametrize(
    "name, function, draw",
    [
        ("fidelity", lambda m, b: fidelity(m, b), plots.plot_fidelity),
        ("spike-rates", lambda m, b: spike_rates(m, b), plots.plot_spike_rates),
        ("energy", lambda m, b: energy(m, b), plots.plot_energy),
        ("landscape", lambda m, b: loss_landscape(m, b, steps=3, max_batches=1), plots.plot_landscape),
    ],
)
def test_side_by_side_figures_and_tables(nets, name, function, draw, tmp_path):
    batches = make_batches(1)
    runs = [(kind, kind, function(net, batches)) for kind, net in zip(("mpe", "lif"), nets)]
    json.dumps(runs)  # results are plain JSON
    draw(runs, tmp_path / "fig.png")
    check_png(tmp_path / "fig.png")
    text = table(name, runs)
    assert "mpe" in text and "lif" in text


def test_refinement_and_training_figures(nets, tmp_path):
    result = refinement_dial(nets[0], make_batches(1), repeats=1)
    plots.plot_refinement([("mpe", "mpe", result)], tmp_path / "refine.png")
    check_png(tmp_path / "refine.png")
    curves = [
        ("with L_mem", "mpe", {"epoch": [1, 2, 3], "v_hat_mse": [0.3, 0.2, 0.1], "spike_mismatch": [0.03, 0.02, 0.01]}),
        ("without", "mpe", {"epoch": [1, 2, 3], "v_hat_mse": [0.3, 0.35, 0.4], "spike_mismatch": [0.03, 0.03, 0.04]}),
    ]
    plots.plot_fidelity_training(curves, tmp_path / "train.png")
    check_png(tmp_path / "train.png")
    assert plots.run_colors(curves)[0] != plots.run_colors(curves)[1]
