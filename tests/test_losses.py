import math

import pytest
import torch
from torch import nn

from mpe_psn import MPEPSN, membrane_loss, tet_loss, total_loss


def _ce(logits, label):
    return -math.log(math.exp(logits[label]) / sum(math.exp(v) for v in logits))


def test_tet_loss_equals_its_formula_by_hand():
    # T = 2, B = 1, C = 2
    out = torch.tensor([[[1.0, 0.0]], [[0.0, 2.0]]])
    y = torch.tensor([1])
    ce = (_ce([1.0, 0.0], 1) + _ce([0.0, 2.0], 1)) / 2
    mse = ((1 - 1) ** 2 + (0 - 1) ** 2 + (0 - 1) ** 2 + (2 - 1) ** 2) / 4
    lamb = 0.1
    assert tet_loss(out, y, lamb=lamb, phi=1.0).item() == pytest.approx((1 - lamb) * ce + lamb * mse, rel=1e-6)


def test_tet_loss_averages_over_batch_and_steps():
    g = torch.Generator().manual_seed(0)
    out = torch.randn(3, 4, 5, generator=g)
    y = torch.tensor([0, 4, 2, 2])
    by_hand = sum(_ce(out[t, b].tolist(), int(y[b])) for t in range(3) for b in range(4)) / 12
    mse = ((out - 0.5) ** 2).mean().item()
    assert tet_loss(out, y, lamb=1e-3, phi=0.5).item() == pytest.approx((1 - 1e-3) * by_hand + 1e-3 * mse, rel=1e-5)


def test_tet_loss_accepts_soft_targets():
    out = torch.randn(2, 3, 4)
    y = torch.tensor([1, 0, 3])
    hard = tet_loss(out, y)
    soft = tet_loss(out, nn.functional.one_hot(y, 4).float())
    torch.testing.assert_close(hard, soft)


def test_tet_loss_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\[T, B, C\]"):
        tet_loss(torch.randn(3, 4), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="batch size"):
        tet_loss(torch.randn(2, 3, 4), torch.tensor([0, 1]))


def test_membrane_loss_sums_layers_and_total_combines():
    net = nn.Sequential(MPEPSN(T=3), nn.Linear(4, 4), MPEPSN(T=3), nn.Linear(4, 2))
    out = net(torch.randn(3, 5, 4))
    expected_mem = net[0].mem_loss + net[2].mem_loss
    torch.testing.assert_close(membrane_loss(net), expected_mem)
    y = torch.tensor([0, 1, 1, 0, 1])
    parts = total_loss(out, y, net, lambda_mem=0.01)
    torch.testing.assert_close(parts.total, 0.99 * tet_loss(out, y) + 0.01 * expected_mem)
    with pytest.raises(ValueError, match="lambda_mem"):
        total_loss(out, y, net, lambda_mem=1.5)


def test_membrane_loss_of_a_model_without_mpe_layers_is_zero():
    assert membrane_loss(nn.Linear(2, 2)).item() == 0.0


def test_tet_loss_with_lengths_counts_each_samples_own_steps_only():
    """Padded sequences: sample b averages CE and the MSE term over its first L_b steps, then the
    batch averages samples; checked against a per-sample loop by hand."""
    g = torch.Generator().manual_seed(1)
    out = torch.randn(5, 3, 4, generator=g)
    y = torch.tensor([2, 0, 3])
    lengths = torch.tensor([5, 2, 1])
    lamb, phi = 0.2, 0.7
    by_hand = 0.0
    for b in range(3):
        L = int(lengths[b])
        ce = sum(_ce(out[t, b].tolist(), int(y[b])) for t in range(L)) / L
        mse = ((out[:L, b] - phi) ** 2).mean().item()
        by_hand += ((1 - lamb) * ce + lamb * mse) / 3
    assert tet_loss(out, y, lamb=lamb, phi=phi, lengths=lengths).item() == pytest.approx(by_hand, rel=1e-5)
    # padding steps carry no gradient
    out.requires_grad_(True)
    tet_loss(out, y, lengths=lengths).backward()
    assert out.grad[2:, 1].abs().sum() == 0 and out.grad[1:, 2].abs().sum() == 0 and out.grad[:, 0].abs().sum() > 0


def test_tet_loss_with_full_lengths_is_the_plain_loss_and_bad_lengths_are_refused():
    out = torch.randn(4, 3, 5)
    y = torch.tensor([1, 4, 0])
    torch.testing.assert_close(tet_loss(out, y, lengths=torch.full((3,), 4)), tet_loss(out, y))
    for bad in (torch.tensor([0, 1, 2]), torch.tensor([1, 2, 5])):
        with pytest.raises(ValueError, match=r"lengths must be .* \[1, T = 4\]"):
            tet_loss(out, y, lengths=bad)
