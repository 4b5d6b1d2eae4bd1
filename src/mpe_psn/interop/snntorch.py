"""snnTorch 1.0 ``Leaky`` as this project's LIF, and the adapter that runs it inside the user's loop.

snnTorch's ``Leaky`` with ``reset_mechanism="zero"`` computes, one call per time step::

    reset = 1[mem > theta]  (detached)        mem = beta * (1 - reset) * mem + x
    spk   = 1[mem > theta]

where ``mem`` is the potential before the reset (the reset is applied at the next call). That is
this project's LIF with decay ``beta`` and threshold ``theta``; both fire at a strict ``>``, so no
threshold shift is needed. The time loop lives in the user's ``forward`` (``spk, mem = lif(x_t,
mem)``), so the converted module is :class:`LeakyStep`: one step per call, with snnTorch's call
signature and return values, computing this project's LIF; with ``to="mpe"`` it runs MPE-PSN in
streaming mode (``step_mode="s"``), whose state is kept in the neuron between calls.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mpe_psn.functional.surrogate import heaviside
from mpe_psn.interop.mapping import LIFMapping
from mpe_psn.interop.report import UnsupportedNeuronError
from mpe_psn.neurons import LIF, MPEPSN

__all__ = ["LeakyStep", "classify"]

_SURROGATES = {"atan": "arctan", "sigmoid": "sigmoid"}  # snntorch.surrogate factory -> ours


class LeakyStep(nn.Module):
    """One time step of this project's LIF per call, called like snnTorch's ``Leaky``.

    ``forward(x, mem=None) -> (spk, mem)`` (or ``spk`` alone when ``init_hidden=True`` and
    ``output=False``), where ``mem`` is the potential before the reset, as snnTorch returns it.
    Without ``mem`` the module keeps it in ``self.mem``; :meth:`reset_mem` zeroes it.

    With an :class:`~mpe_psn.MPEPSN` neuron (``to="mpe"``) the neuron streams in
    ``step_mode="s"``: a ``mem`` passed in is ignored, the returned ``mem`` is MPE-PSN's estimate
    of the potential after the step (not a LIF membrane), and :meth:`reset_mem` (or
    ``init_leaky``) starts a new sequence, as snnTorch loops call it before the first step.
    """

    def __init__(self, neuron: "LIF | MPEPSN", init_hidden: bool = False, output: bool = False) -> None:
        super().__init__()
        self.neuron = neuron
        self.init_hidden = init_hidden
        self.output = output
        self.mem = torch.zeros(0)
        if isinstance(neuron, MPEPSN):
            neuron.step_mode = "s"

    def reset_mem(self) -> torch.Tensor:
        self.mem = torch.zeros_like(self.mem)
        if isinstance(self.neuron, MPEPSN):
            self.neuron.reset()
        return self.mem

    init_leaky = reset_mem

    def forward(self, input_: torch.Tensor, mem: torch.Tensor | None = None):
        if isinstance(self.neuron, MPEPSN):
            spk = self.neuron(input_)
            self.mem = self.neuron._state[0]  # the estimate vhat[t] the next step starts from
            return spk if self.init_hidden and not self.output else (spk, self.mem)
        if mem is not None:
            self.mem = mem
        if self.mem.shape != input_.shape:
            self.mem = torch.zeros_like(input_)
        threshold = self.neuron.threshold
        reset = heaviside(self.mem - threshold).detach()
        h = self.neuron.tau * ((1.0 - reset) * self.mem) + input_
        spk = self.neuron.surrogate(h - threshold)
        self.mem = h
        if self.init_hidden and not self.output:
            return spk
        return spk, h


def classify(module: nn.Module, name: str) -> "LIFMapping | str | None":
    """As :func:`mpe_psn.interop.spikingjelly.classify`, for snnTorch neurons."""
    if not type(module).__module__.startswith("snntorch._neurons"):
        return None
    from snntorch import Leaky

    if type(module) is not Leaky:
        return f"{type(module).__name__} has no equivalent neuron here (supported: Leaky with reset_mechanism='zero')"
    where = f"{name or '<root>'} (snntorch.Leaky)"
    mechanism = {0: "subtract", 1: "zero", 2: "none"}[int(module.reset_mechanism_val)]
    if mechanism != "zero":
        raise UnsupportedNeuronError(
            f"{where}: reset_mechanism={mechanism!r} has no equivalent here; this project's neurons reset to 0 "
            "(build it with reset_mechanism='zero' to convert it)"
        )
    beta, threshold = _scalar(module.beta, "beta", where), _scalar(module.threshold, "threshold", where)
    if module.inhibition:
        raise UnsupportedNeuronError(f"{where}: inhibition=True (winner-take-all firing) has no equivalent here")
    if module.state_quant:
        raise UnsupportedNeuronError(f"{where}: state_quant (quantised membrane) has no equivalent here")
    graded = _scalar(module.graded_spikes_factor, "graded_spikes_factor", where)
    if graded != 1.0:
        raise UnsupportedNeuronError(f"{where}: graded_spikes_factor={graded} (spikes other than 0/1) has no equivalent here")
    mapping = LIFMapping(
        source="snntorch.Leaky",
        old_params={
            "beta": beta,
            "threshold": threshold,
            "reset_mechanism": mechanism,
            "spike_grad": getattr(module.spike_grad, "__qualname__", type(module.spike_grad).__name__),
            "init_hidden": module.init_hidden,
        },
        decay=min(max(beta, 0.0), 1.0),  # snnTorch clamps beta to [0, 1] in every step
        threshold=threshold,
        learn_threshold=isinstance(module.threshold, nn.Parameter),
        interface="snntorch-step",
    )
    surrogate = _surrogate_of(module.spike_grad)
    if surrogate is None:
        mapping.notes.append("its spike_grad has no equivalent here: this project's default surrogate is used")
    else:
        mapping.surrogate, mapping.alpha = surrogate
    if isinstance(module.beta, nn.Parameter):
        mapping.notes.append("learn_beta: the decay is frozen at its current value")
    mapping.notes.append("its reset is detached from the graph as in snnTorch")
    return mapping


def _scalar(value: Any, field: str, where: str) -> float:
    tensor = torch.as_tensor(value)
    if tensor.numel() != 1:
        raise UnsupportedNeuronError(f"{where}: {field} has {tensor.numel()} values (one per neuron); this project's LIF takes one")
    return float(tensor)


def _surrogate_of(spike_grad: Any) -> "tuple[str, float] | None":
    """snnTorch's ``atan(alpha)`` / ``sigmoid(slope)`` closures have the same derivative as ours."""
    qualname = getattr(spike_grad, "__qualname__", "")
    factory = qualname.split(".<locals>")[0] if ".<locals>.inner" in qualname else None
    cells = getattr(spike_grad, "__closure__", None) or ()
    if factory in _SURROGATES and len(cells) == 1 and isinstance(cells[0].cell_contents, (int, float)):
        return _SURROGATES[factory], float(cells[0].cell_contents)
    return None
