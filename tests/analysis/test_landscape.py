import numpy as np
import pytest
import torch

from mpe_psn.models.batches import time_major_batches
from mpe_psn.analysis.landscape import (
    evaluate_loss,
    filter_normalized_direction,
    load_landscape_npz,
    loss_landscape,
    save_landscape_npz,
)
from mpe_psn.losses import tet_loss

from .conftest import TinyNet


def test_filter_normalised_direction_matches_filter_norms():
    w = [torch.randn(4, 3, 3, 3), torch.randn(5), torch.randn(6, 2)]
    d = filter_normalized_direction(w, torch.Generator().manual_seed(0))
    for wi, di in zip(w, d):
        assert di.shape == wi.shape
    assert torch.allclose(d[0].reshape(4, -1).norm(dim=1), w[0].reshape(4, -1).norm(dim=1))
    assert torch.allclose(d[2].norm(dim=1), w[2].norm(dim=1))
    assert torch.equal(d[1], torch.zeros(5))  # biases and BN: zero direction


@pytest.mark.parametrize("kind", ["mpe", "lif"])
def test_landscape_centre_equals_model_loss_and_weights_are_restored(kind, batches):
    torch.manual_seed(0)
    model = TinyNet(kind).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = loss_landscape(model, batches, steps=3, span=0.5, max_batches=2)
    # the model's loss computed directly on the same two batches
    total, n = 0.0, 0
    with torch.no_grad():
        for x, y in batches[:2]:
            total += tet_loss(model(x.transpose(0, 1)), y).item() * len(y)
            n += len(y)
    assert result["loss"][1][1] == pytest.approx(total / n, rel=1e-6)
    assert result["center_loss"] == result["loss"][1][1]
    assert result["alphas"] == [-0.5, 0.0, 0.5] and result["samples"] == 10
    assert len(result["loss"]) == 3 and all(len(row) == 3 for row in result["loss"])
    assert np.ptp(np.asarray(result["loss"])) > 0  # moving the weights changes the loss
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_landscape_npz_round_trip_without_pickle(tiny_mpe, batches, tmp_path):
    result = loss_landscape(tiny_mpe, batches, steps=2, span=1.0, max_batches=1)
    save_landscape_npz(tmp_path / "grid.npz", result)
    grid = load_landscape_npz(tmp_path / "grid.npz")
    assert np.array_equal(grid["loss"], np.asarray(result["loss"]))
    assert grid["alphas"].tolist() == [-1.0, 1.0]
    np.save(tmp_path / "bad.npy", np.zeros(2))
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a landscape grid"):
        load_landscape_npz(tmp_path / "other.npz")


def test_landscape_bad_options(tiny_mpe, batches):
    with pytest.raises(ValueError, match="steps"):
        loss_landscape(tiny_mpe, batches, steps=1)
    with pytest.raises(ValueError, match="span"):
        loss_landscape(tiny_mpe, batches, span=0.0)
    with pytest.raises(ValueError, match="no batches"):
        loss_landscape(tiny_mpe, [])


def test_evaluate_loss_is_repeatable_with_bernoulli_eval(batches):
    torch.manual_seed(0)
    model = TinyNet("mpe", eval_estimator="bernoulli").eval()
    data = list(time_major_batches(batches))
    assert evaluate_loss(model, data, seed=1) == evaluate_loss(model, data, seed=1)
