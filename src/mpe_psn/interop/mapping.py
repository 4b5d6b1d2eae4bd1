"""The common target of every conversion: this project's LIF,

    H[t] = decay * V[t-1] + X[t],   S[t] = 1[H[t] > theta],   V[t] = (1 - S[t]) * H[t],

and the small exact arithmetic that puts another library's neuron into that form.

Input scale. A neuron whose charge scales its input, ``H = decay * V + k * X`` (SpikingJelly's
``decay_input=True`` has k = 1/tau, Norse's box LIF k = dt/tau_mem), is the same neuron in units
of ``1/k``: with ``H' = H / k`` and ``V' = V / k`` the charge is ``H' = decay * V' + X`` and it fires
at ``H' > theta / k``. The spikes are equal; only the membrane is read in other units. So the input
scale moves into the threshold (``theta' = theta / k``), and the surrogate's width with it
(``alpha' = alpha * k``) so that dS/dX is unchanged as well.

Firing rule. SpikingJelly fires at ``H >= theta``; this project at ``H > theta``. For a float32
membrane both agree when the threshold is the largest float32 strictly below theta
(``nextafter(theta, -inf)``): no float32 lies between the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["LIFMapping", "threshold_for_greater_equal", "to_float32"]


def to_float32(value: float) -> float:
    """``value`` rounded to the nearest float32 (as torch rounds a Python scalar)."""
    return float(np.float32(value))


def threshold_for_greater_equal(theta: float) -> float:
    """The float32 threshold t with ``h > t  <=>  h >= theta`` for every float32 ``h``.

    ``theta`` is first rounded to float32 the way a float32 kernel compares against it.
    """
    return float(np.nextafter(np.float32(theta), np.float32(-np.inf)))


@dataclass
class LIFMapping:
    """Another library's neuron expressed as this project's LIF (see the module docstring)."""

    source: str  # e.g. "spikingjelly.LIFNode"
    old_params: dict[str, Any]
    decay: float
    threshold: float
    surrogate: str | None = None  # None: keep this project's default
    alpha: float | None = None
    learn_threshold: bool = False
    interface: str = "multi-step"  # "multi-step" [T, B, ...], "snntorch-step" or "norse-step"
    notes: list[str] = field(default_factory=list)

    def neuron_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"tau": self.decay, "threshold": self.threshold, "learn_threshold": self.learn_threshold}
        if self.surrogate is not None:
            kwargs["surrogate"] = self.surrogate
            kwargs["alpha"] = self.alpha
        return kwargs
