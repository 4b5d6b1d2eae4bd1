"""The parallel spiking neuron (PSN) of Fang et al. 2023, for comparison::

    H = W X + B       W: [T, T] learnable, B: [T] learnable, X flattened to [T, N]
    S = 1[H > 0]      no reset: every step sees every other step through W

The threshold is folded into ``B`` (a bias of -1 is a threshold of 1).
"""

from __future__ import annotations

import torch

from mpe_psn.functional.checks import check_time_major
from mpe_psn.functional.surrogate import Surrogate, get_surrogate

__all__ = ["psn"]


def psn(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    surrogate: "str | Surrogate" = "triangular",
    alpha: float | None = None,
) -> torch.Tensor:
    """Spikes of the PSN for ``x`` [T, ...], ``weight`` [T, T], ``bias`` [T]."""
    check_time_major(x)
    T = x.shape[0]
    if weight.shape != (T, T) or bias.shape != (T,):
        raise ValueError(
            f"PSN with T = {T} needs weight ({T}, {T}) and bias ({T},), "
            f"got {tuple(weight.shape)} and {tuple(bias.shape)}"
        )
    h = torch.addmm(bias.unsqueeze(1), weight, x.reshape(T, -1)).reshape(x.shape)
    return get_surrogate(surrogate, alpha)(h)
