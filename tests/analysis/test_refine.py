import pytest
import torch

from mpe_psn.analysis.refine import default_steps, refinement_dial
from mpe_psn.models.batches import predict

from .conftest import T, TinyNet


def test_default_steps():
    assert default_steps(4) == [0, 1, 2, 3]
    assert default_steps(16) == [0, 1, 2, 4, 15]
    assert default_steps(1) == [0]


def test_refinement_dial_rows(tiny_mpe, batches):
    tiny_mpe.n1.refine_steps = 1
    result = refinement_dial(tiny_mpe, batches)
    assert tiny_mpe.n1.refine_steps == 1 and tiny_mpe.n2.refine_steps == 0  # restored
    rows = {row["refine_steps"]: row for row in result["rows"]}
    assert list(rows) == [0, 1, 2, 3] and result["samples"] == 15 and result["T"] == T
    assert rows[T - 1]["spike_mismatch"] == 0.0  # T - 1 refinements are the exact LIF
    assert rows[0]["spike_mismatch"] > 0
    assert set(rows[0]["layer_mismatch"]) == {"n1", "n2"}
    assert rows[0]["relative_time"] == 1.0 and all(row["seconds"] > 0 for row in rows.values())
    # accuracy at k = T - 1 equals the same network with LIF neurons (same weights)
    lif_net = TinyNet("lif").eval()
    lif_net.load_state_dict({k: v for k, v in tiny_mpe.state_dict().items() if "kappa" not in k})
    with torch.no_grad():
        correct = sum(int((predict(lif_net(x.transpose(0, 1))) == y).sum()) for x, y in batches)
    assert rows[T - 1]["accuracy"] == correct / 15
    assert result["exact_lif"]["accuracy"] == correct / 15  # the swapped-in sequential LIF
    assert type(tiny_mpe.n1).__name__ == "MPEPSN"  # swapped back


def test_refinement_dial_needs_mpe_layers(batches):
    with pytest.raises(ValueError, match="needs a network with MPE-PSN layers"):
        refinement_dial(TinyNet("lif"), batches)
    with pytest.raises(ValueError, match="non-negative"):
        refinement_dial(TinyNet("mpe"), batches, steps=[-1])
