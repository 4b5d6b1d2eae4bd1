import pytest
import torch
from torch import nn

from mpe_psn.analysis.energy import E_AC_PJ, E_MAC_PJ, count_operations, energy, is_spike_like
from mpe_psn.neurons import LIF

T = 4


class TwoLayerFC(nn.Module):
    """Linear(4, 3) - LIF - Linear(3, 2) on [T, B, 4]."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.lif = LIF(T=T)
        self.fc2 = nn.Linear(3, 2)
        with torch.no_grad():
            self.fc1.weight.copy_(torch.tensor([[1.0, 0.5, 0, 0], [0, 0, 1.0, 1.0], [0.3, 0.3, 0.3, 0.3]]))
            self.fc1.bias.zero_()

    def forward(self, x):
        return self.fc2(self.lif(self.fc1(x)))


class TwoLayerConv(nn.Module):
    """Conv(1->2, 3x3, pad 1) - LIF - Conv(2->3, 3x3, pad 1, stride 2) - mean - on [T, B, 1, 5, 5]."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 2, 3, padding=1, bias=False)
        self.lif = LIF(T=T)
        self.c2 = nn.Conv2d(2, 3, 3, padding=1, stride=2)
        with torch.no_grad():
            self.c1.weight.uniform_(-0.2, 0.6)

    def forward(self, x):
        t, b = x.shape[:2]
        y = self.c1(x.flatten(0, 1))
        s = self.lif(y.reshape(t, b, *y.shape[1:]))
        self.last_spikes = s
        z = self.c2(s.flatten(0, 1))
        return z.mean(dim=(2, 3)).reshape(t, b, -1)


def test_fc_counts_equal_hand_count():
    model = TwoLayerFC().eval()
    x = torch.tensor([[[2.0, 0, 0, 0], [0, 0, 0.6, 0.6], [1.0, 1.0, 1.0, 1.0], [0, 0, 0, 0]]])  # [B=1, T, 4]
    batches = [(x, torch.tensor([0]))]
    # fc1 currents per step: [2, 0, 0.6], [0, 1.2, 0.36], [1.5, 2, 1.2], [0, 0, 0]. LIF (tau 0.25, theta 1):
    # n0: 2 spike, reset; 0; 1.5 spike; 0 -> 2 spikes. n1: 0; 1.2 spike; 2 spike; 0 -> 2 spikes.
    # n2: 0.6; 0.15 + 0.36 = 0.51; 0.1275 + 1.2 = 1.3275 spike; 0 -> 1 spike. Total 5 spikes.
    result = energy(model, batches)
    layers = {row["name"]: row for row in result["layers"]}
    assert layers["fc1"]["op"] == "MAC" and layers["fc1"]["ops_per_sample"] == T * 4 * 3
    assert layers["fc2"]["op"] == "AC" and layers["fc2"]["ops_per_sample"] == 5 * 2
    assert result["spiking_layers"][0]["spikes_per_sample"] == 5
    assert result["total"]["macs_per_sample"] == 48 and result["total"]["acs_per_sample"] == 10
    assert result["total"]["energy_uj_per_sample"] == pytest.approx((48 * E_MAC_PJ + 10 * E_AC_PJ) * 1e-6)
    assert result["total"]["ann_macs_per_sample"] == 4 * 3 + 3 * 2


def _hand_count_conv(spikes: torch.Tensor, out_channels: int, k: int, stride: int, pad: int) -> int:
    """Accumulates of a conv on binary spikes [N, C, H, W], counted connection by connection."""
    n, c, h, w = spikes.shape
    out_h = (h + 2 * pad - k) // stride + 1
    out_w = (w + 2 * pad - k) // stride + 1
    total = 0
    for b, ch, i, j in spikes.nonzero().tolist():
        for p in range(out_h):
            for q in range(out_w):
                if 0 <= i - (p * stride - pad) < k and 0 <= j - (q * stride - pad) < k:
                    total += out_channels
    return total


def test_conv_counts_equal_hand_count_including_borders():
    torch.manual_seed(0)
    model = TwoLayerConv().eval()
    x = torch.rand(2, T, 1, 5, 5) * 3  # [B, T, C, H, W]
    result = energy(model, [(x, torch.tensor([0, 1]))])
    spikes = model.last_spikes.flatten(0, 1)
    assert 0 < spikes.mean() < 1
    in_bounds = sum(1 for p in range(5) for q in range(5) for a in (-1, 0, 1) for b in (-1, 0, 1)
                    if 0 <= p + a < 5 and 0 <= q + b < 5)  # 3x3 windows with zero padding
    layers = {row["name"]: row for row in result["layers"]}
    assert layers["c1"]["ops_per_sample"] == T * 2 * in_bounds  # 2 output channels, 1 input channel
    assert layers["c2"]["ops_per_sample"] == _hand_count_conv(spikes, 3, 3, 2, 1) / 2
    assert result["samples"] == 2


def test_count_operations_sparse_counts_nonzero_inputs_only():
    layer = nn.Linear(5, 7)
    x = torch.tensor([[0.0, 0.25, 0, 1.0, 0]])
    assert count_operations(layer, x, dense=False) == 2 * 7
    assert count_operations(layer, x, dense=True) == 5 * 7


def test_energy_errors():
    with pytest.raises(ValueError, match="no spiking layers"):
        energy(nn.Sequential(nn.Linear(2, 2)), [(torch.zeros(1, T, 2), torch.zeros(1))])


def test_effective_counting_by_hand_non_zero_inputs_and_weights_only():
    model = TwoLayerFC().eval()
    x = torch.tensor([[[2.0, 0, 0, 0], [0, 0, 0.6, 0.6], [1.0, 1.0, 1.0, 1.0], [0, 0, 0, 0]]])  # [B=1, T, 4]
    result = energy(model, [(x, torch.tensor([0]))], counting="effective")
    layers = {row["name"]: row for row in result["layers"]}
    # fc1's weights have two non-zeros per input column (see TwoLayerFC); non-zero inputs per step: 1, 2, 4, 0
    assert layers["fc1"]["op"] == "MAC" and layers["fc1"]["macs_per_sample"] == (1 + 2 + 4 + 0) * 2
    assert layers["fc2"]["op"] == "AC" and layers["fc2"]["acs_per_sample"] == 5 * 2  # 5 spikes (test above)
    assert result["counting"] == "effective" and result["total"]["dense_ops_per_sample"] == T * (4 * 3 + 3 * 2)
    assert result["total"]["energy_uj_per_sample"] == pytest.approx((14 * E_MAC_PJ + 10 * E_AC_PJ) * 1e-6)
    # a batch of 0/1 inputs makes the same layer ACs under this rule: the row says both
    both = energy(model, [(x, torch.tensor([0])), ((x > 0.9).float(), torch.tensor([0]))], counting="effective")
    assert {row["name"]: row["op"] for row in both["layers"]}["fc1"] == "MAC+AC"
    dense = energy(model, [(x, torch.tensor([0]))])
    assert dense["counting"] == "dense" and dense["total"]["macs_per_sample"] == 48


def test_is_spike_like():
    assert is_spike_like(torch.tensor([0.0, 1.0, -1.0, 1.0]))
    assert not is_spike_like(torch.tensor([0.0, 1.0, 2.0]))
    assert not is_spike_like(torch.tensor([0.25, 0.0]))


def test_unknown_counting_rule():
    with pytest.raises(ValueError, match=r"counting must be one of \['dense', 'effective'\]"):
        energy(TwoLayerFC(), [(torch.zeros(1, T, 4), torch.zeros(1))], counting="neurobench")
