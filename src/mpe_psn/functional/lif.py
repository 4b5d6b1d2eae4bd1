"""The exact sequential LIF neuron that MPE-PSN approximates (docs/design.md, "The LIF it approximates")::

    H[t] = tau * V[t-1] + x[t]      V[-1] = 0
    S[t] = 1[H[t] > theta]          surrogate gradient backward
    V[t] = (1 - S[t]) * H[t]        hard reset to 0

O(T) sequential steps; gradients flow through the reset (no detach), as in BPTT.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from mpe_psn.functional.checks import check_tau, check_threshold, check_time_major
from mpe_psn.functional.surrogate import Surrogate, get_surrogate

__all__ = ["LIFResult", "lif"]


class LIFResult(NamedTuple):
    spikes: torch.Tensor
    v: torch.Tensor


def lif(
    x: torch.Tensor,
    threshold: "float | torch.Tensor" = 1.0,
    tau: float = 0.25,
    surrogate: "str | Surrogate" = "triangular",
    alpha: float | None = None,
    v_init: torch.Tensor | None = None,
) -> LIFResult:
    """Run the LIF step by step over ``x`` [T, ...]; returns spikes and post-reset V, shaped like x."""
    check_time_major(x)
    check_threshold(threshold)
    tau = check_tau(tau)
    surrogate = get_surrogate(surrogate, alpha)
    v = torch.zeros_like(x[0]) if v_init is None else v_init
    spikes, potentials = [], []
    for x_t in x.unbind(0):
        h = tau * v + x_t
        s = surrogate(h - threshold)
        v = (1.0 - s) * h
        spikes.append(s)
        potentials.append(v)
    return LIFResult(torch.stack(spikes), torch.stack(potentials))
