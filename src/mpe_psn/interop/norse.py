"""Norse's ``LIFBoxCell`` as this project's LIF, and the adapter that runs it in the user's loop.

Norse's box LIF (no synaptic current) takes one Euler step per call::

    v' = v + dt / tau_mem * (v_leak - v + x),   z = 1[v' > v_th],   v = (1 - z) v' + z v_reset

Measured from ``v_leak`` (``w = v - v_leak``, which starts at 0 because Norse starts v at
``v_leak``) and with ``k = dt / tau_mem``: ``w' = (1 - k) w + k x``, firing at
``w' > v_th - v_leak``, reset to ``v_reset - v_leak``. When ``v_reset == v_leak`` that is this
project's LIF with decay ``1 - k`` and threshold ``(v_th - v_leak) / k`` (the input scale moves
into the threshold, see :mod:`mpe_psn.interop.mapping`); both fire at a strict ``>``. With
``to="mpe"`` the cell becomes MPE-PSN streaming one step per call. Norse's
other LIF modules (``LIFCell``, ``LIF``, ``LIFRefracCell``, ``LIFAdEx*``...) carry a synaptic
current, refractory or adaptation state: no single-state LIF reproduces them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from mpe_psn.functional.lif import lif
from mpe_psn.interop.mapping import LIFMapping, to_float32
from mpe_psn.interop.report import UnsupportedNeuronError
from mpe_psn.neurons import LIF, MPEPSN

__all__ = ["LIFBoxStep", "LIFBoxStepState", "classify"]


class LIFBoxStepState(NamedTuple):
    """The adapter's state: the post-reset potential, in this project's units."""

    v: torch.Tensor


class LIFBoxStep(nn.Module):
    """One time step of this project's LIF per call, called like Norse's ``LIFBoxCell``:
    ``forward(x, state=None) -> (z, state)``.

    With an :class:`~mpe_psn.MPEPSN` neuron (``to="mpe"``) the neuron streams in
    ``step_mode="s"``: ``state=None`` (Norse's first step) starts a new sequence, and the state
    returned holds MPE-PSN's estimate of the potential (the neuron keeps what it needs itself).
    """

    def __init__(self, neuron: "LIF | MPEPSN") -> None:
        super().__init__()
        self.neuron = neuron
        if isinstance(neuron, MPEPSN):
            neuron.step_mode = "s"

    def forward(self, input_tensor: torch.Tensor, state: Any = None) -> "tuple[torch.Tensor, LIFBoxStepState]":
        if isinstance(self.neuron, MPEPSN):
            if state is None:
                self.neuron.reset()
            z = self.neuron(input_tensor)
            return z, LIFBoxStepState(self.neuron._state[0])
        v = torch.zeros_like(input_tensor) if state is None else state.v
        result = lif(input_tensor.unsqueeze(0), self.neuron.threshold, self.neuron.tau, self.neuron.surrogate, v_init=v)
        return result.spikes[0], LIFBoxStepState(result.v[0])


def classify(module: nn.Module, name: str) -> "LIFMapping | str | None":
    """As :func:`mpe_psn.interop.spikingjelly.classify`, for Norse neurons."""
    if not type(module).__module__.startswith("norse.torch.module"):
        return None
    from norse.torch.functional.reset import reset_value
    from norse.torch.module.lif_box import LIFBoxCell
    from norse.torch.module.snn import SNN, SNNCell, SNNRecurrent, SNNRecurrentCell

    if type(module) is not LIFBoxCell:
        if isinstance(module, (SNN, SNNCell, SNNRecurrent, SNNRecurrentCell)):
            return f"{type(module).__name__} has synaptic, refractory or adaptation state with no equivalent here (supported: LIFBoxCell)"
        return None
    where = f"{name or '<root>'} (norse LIFBoxCell)"
    p, dt = module.p, float(module.dt)
    tau_mem_inv, v_leak, v_th, v_reset = (_scalar(getattr(p, f), f, where) for f in ("tau_mem_inv", "v_leak", "v_th", "v_reset"))
    if p.reset_method is not reset_value:
        raise UnsupportedNeuronError(f"{where}: reset_method={getattr(p.reset_method, '__name__', p.reset_method)} has no equivalent here; this project's LIF resets to a value")
    if v_reset != v_leak:
        raise UnsupportedNeuronError(
            f"{where}: v_reset={v_reset} differs from v_leak={v_leak}; this project's LIF resets to its resting potential"
        )
    k = to_float32(dt * tau_mem_inv)
    if not 0.0 < k <= 1.0:
        raise UnsupportedNeuronError(f"{where}: dt * tau_mem_inv = {k:g} is outside (0, 1]; the decay 1 - dt/tau_mem would leave [0, 1]")
    mapping = LIFMapping(
        source="norse.LIFBoxCell",
        old_params={"tau_mem_inv": tau_mem_inv, "dt": dt, "v_leak": v_leak, "v_th": v_th, "v_reset": v_reset, "method": p.method},
        decay=1.0 - k,
        threshold=to_float32((v_th - v_leak) / k),
        interface="norse-step",
    )
    mapping.notes.append(f"input scale dt/tau_mem = {k:g} moved into the threshold (state read in units of dt/tau_mem)")
    mapping.notes.append(f"surrogate method {p.method!r} has no equivalent here: this project's default is used")
    return mapping


def _scalar(value: Any, field: str, where: str) -> float:
    tensor = torch.as_tensor(value)
    if tensor.numel() != 1:
        raise UnsupportedNeuronError(f"{where}: p.{field} has {tensor.numel()} values (one per neuron); this project's LIF takes one")
    return float(tensor)
