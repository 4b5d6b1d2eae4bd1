"""convert() against the real Norse: LIFBoxCell inside the user's own time loop."""

import copy

import pytest
import torch
from torch import nn

from mpe_psn.interop import convert
from mpe_psn.interop.norse import LIFBoxStep

norse = pytest.importorskip("norse.torch")
from norse.torch.functional.lif_box import LIFBoxParameters  # noqa: E402


class BoxNet(nn.Module):
    def __init__(self, p1: LIFBoxParameters, p2: LIFBoxParameters) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2 = nn.Linear(10, 64), nn.Linear(64, 16)
        self.cell1, self.cell2 = norse.LIFBoxCell(p1), norse.LIFBoxCell(p2, dt=0.002)

    def forward(self, x):
        s1 = s2 = None
        out1, out2 = [], []
        for x_t in x:
            z1, s1 = self.cell1(self.fc1(x_t), s1)
            z2, s2 = self.cell2(8.0 * self.fc2(z1), s2)
            out1.append(z1)
            out2.append(z2)
        return torch.stack(out1), torch.stack(out2)


def params(**fields) -> LIFBoxParameters:
    return LIFBoxParameters(**{k: torch.as_tensor(v) for k, v in fields.items()})


def test_lif_box_cell_converts_with_norse_spikes_layer_by_layer():
    net = BoxNet(params(tau_mem_inv=200.0, v_th=0.3), params(v_leak=0.2, v_reset=0.2, v_th=0.5))
    converted, report = convert(net, to="lif")
    assert isinstance(converted.cell1, LIFBoxStep)
    assert report.replaced[0].new_params["tau"] == pytest.approx(0.8)  # 1 - dt / tau_mem
    assert report.replaced[0].new_params["threshold"] == pytest.approx(1.5)  # v_th / (dt / tau_mem)
    x = 3.0 * torch.randn(30, 4, 10)
    with torch.no_grad():
        expected, got = net(x), converted(x)
    for layer_expected, layer_got in zip(expected, got):
        assert layer_expected.sum() >= 10
        assert torch.equal(layer_got, layer_expected)


def test_reset_other_than_rest_is_a_clear_error():
    net = nn.Sequential(norse.LIFBoxCell(params(v_reset=-0.5)))
    with pytest.raises(ValueError, match=r"^0 \(norse LIFBoxCell\): v_reset=-0.5 differs from v_leak=0.0"):
        convert(net, to="lif")


def test_norse_cells_with_current_are_left_alone():
    net = nn.Sequential(norse.LIFBoxCell(), norse.LIFCell())
    _, report = convert(net, to="lif")
    assert [(s.name, s.type) for s in report.left_alone] == [("1", "norse.LIFCell")]


def test_mpe_streams_in_the_users_loop_like_a_whole_sequence():
    net = BoxNet(params(tau_mem_inv=200.0, v_th=0.3), params(v_th=0.5))
    converted, _ = convert(net, to="mpe", estimator="expected", backend="reference")
    x = 3.0 * torch.randn(20, 4, 10)
    with torch.no_grad():
        got1, _ = converted(x)
        reference = copy.deepcopy(converted.cell1.neuron)
        reference.step_mode = "m"
        expected1 = reference(converted.fc1(x))
    assert expected1.sum() >= 10 and torch.equal(got1, expected1)
    with torch.no_grad():
        assert torch.equal(converted(x)[0], got1)  # state=None at the first step starts a new sequence
