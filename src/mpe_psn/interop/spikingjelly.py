"""SpikingJelly 2.0 neurons (``spikingjelly.activation_based.neuron``) as this project's LIF.

SpikingJelly's charge with reset potential ``v_r`` and time constant ``tau`` (its ``LIFNode``)::

    decay_input=True:   H = V + (X - (V - v_r)) / tau
    decay_input=False:  H = V - (V - v_r) / tau + X

then ``S = 1[H >= theta]`` and the hard reset ``V = v_r`` where it fired. Measured from ``v_r``
(``W = V - v_r``, which starts at 0 because SpikingJelly starts V at ``v_r``) both are
``W' = (1 - 1/tau) W + k X`` with ``k = 1/tau`` or ``1``, firing at ``W' >= theta - v_r`` and
resetting to 0: this project's LIF with decay ``1 - 1/tau`` and threshold ``(theta - v_r) / k``
(see :mod:`mpe_psn.interop.mapping` for the input scale and for ``>=`` versus ``>``).
``IFNode`` is the same with decay 1; ``ParametricLIFNode`` with ``1/tau = sigmoid(w)`` at its
current value (the learned time constant is frozen). Soft reset (``v_reset=None``) subtracts
the threshold instead of resetting and has no equivalent here.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mpe_psn.interop.mapping import LIFMapping, threshold_for_greater_equal
from mpe_psn.interop.report import UnsupportedNeuronError

__all__ = ["classify"]

_NEURON_PACKAGE = "spikingjelly.activation_based.neuron"
# SpikingJelly surrogate class -> this project's surrogate with the same derivative form
_SURROGATES = {"Sigmoid": "sigmoid", "ATan": "arctan"}


def classify(module: nn.Module, name: str) -> "LIFMapping | str | None":
    """``None``: not a SpikingJelly neuron; a string: a neuron left alone (the reason);
    a :class:`LIFMapping`: a neuron to replace. Raises :class:`UnsupportedNeuronError` for a
    supported neuron whose settings have no equivalent here."""
    if not type(module).__module__.startswith(_NEURON_PACKAGE):
        return None
    from spikingjelly.activation_based.neuron import IFNode, LIFNode, ParametricLIFNode

    kind = type(module)
    if kind is LIFNode:
        return _map(module, name, "LIFNode", float(module.tau), module.decay_input, {"tau": module.tau})
    if kind is ParametricLIFNode:
        with torch.no_grad():
            inv_tau = float(torch.sigmoid(module.w.detach().double()))
        mapping = _map(module, name, "ParametricLIFNode", 1.0 / inv_tau, module.decay_input, {"tau": round(1.0 / inv_tau, 6)})
        mapping.notes.append("its learnable time constant is frozen at the current value (this LIF's decay is a constant)")
        return mapping
    if kind is IFNode:
        return _map(module, name, "IFNode", None, False, {})
    if isinstance(module, (LIFNode, IFNode, ParametricLIFNode)):
        return f"{kind.__name__} subclasses a SpikingJelly LIF/IF but changes its dynamics"
    return f"{kind.__name__} has no equivalent neuron here (supported: LIFNode, ParametricLIFNode, IFNode)"


def _map(module: nn.Module, name: str, kind: str, tau: float | None, decay_input: bool, params: dict[str, Any]) -> LIFMapping:
    where = f"{name or '<root>'} ({kind})"
    v_reset = module.v_reset
    if v_reset is None:
        raise UnsupportedNeuronError(
            f"{where}: soft reset (v_reset=None subtracts the threshold) has no equivalent here; "
            "this project's neurons reset to 0 (hard reset). Build the model with v_reset=0.0 to convert it"
        )
    surrogate_fn = module.surrogate_function
    if getattr(surrogate_fn, "spiking", True) is False:
        raise UnsupportedNeuronError(f"{where}: its surrogate has spiking=False (analog output), which no neuron here emits")
    decay = 1.0 if tau is None else 1.0 - 1.0 / tau
    scale = 1.0 / tau if (decay_input and tau is not None) else 1.0
    theta = float(module.v_threshold)
    mapping = LIFMapping(
        source=f"spikingjelly.{kind}",
        old_params=params
        | {
            "decay_input": decay_input if tau is not None else None,
            "v_threshold": theta,
            "v_reset": v_reset,
            "surrogate": type(surrogate_fn).__name__ + f"(alpha={getattr(surrogate_fn, 'alpha', '?')})",
            "detach_reset": module.detach_reset,
            "step_mode": module.step_mode,
        },
        decay=decay,
        threshold=threshold_for_greater_equal((theta - float(v_reset)) / scale),
        interface="multi-step" if module.step_mode == "m" else "spikingjelly-single-step",
    )
    if tau is None:
        mapping.old_params.pop("decay_input")
    ours = _SURROGATES.get(type(surrogate_fn).__name__)
    alpha = getattr(surrogate_fn, "alpha", None)
    if ours is not None and isinstance(alpha, (int, float)):
        mapping.surrogate, mapping.alpha = ours, float(alpha) * scale
    else:
        mapping.notes.append(
            f"surrogate {type(surrogate_fn).__name__} has no equivalent here: this project's default is used "
            "(spikes are unchanged, gradients differ)"
        )
    if scale != 1.0:
        mapping.notes.append(f"input scale 1/tau = {scale:g} moved into the threshold (membrane read in units of tau)")
    if float(v_reset) != 0.0:
        mapping.notes.append(f"membrane measured from v_reset = {v_reset} (threshold shifted by it)")
    if module.detach_reset:
        mapping.notes.append("detach_reset=True: here gradients flow through the reset")
    return mapping
