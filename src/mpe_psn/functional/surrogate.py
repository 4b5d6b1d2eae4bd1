"""Heaviside spike functions with surrogate gradients.

Forward, every surrogate is the strict Heaviside step ``S = 1[u > 0]`` of ``u = H - theta``.
Backward, it passes ``dS/du = g(u)`` instead of the step's Dirac delta:

=============  ==========================================================  ==============
name           g(u)                                                        default alpha
=============  ==========================================================  ==============
triangular     ``max(0, alpha - |u|) / alpha**2``                          1.0
sigmoid        ``alpha * sigmoid(alpha u) * (1 - sigmoid(alpha u))``       4.0
arctan         ``(alpha / 2) / (1 + (pi/2 * alpha * u)**2)``               2.0
=============  ==========================================================  ==============

Non-finite input is not turned into a spike or a silence: where ``u`` is NaN or +-inf the
output is NaN (``step(u) + 0 * u``), so a broken input shows up in the loss instead of being
hidden in a valid-looking spike train.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

__all__ = [
    "Surrogate",
    "SURROGATES",
    "get_surrogate",
    "spike",
    "heaviside",
    "triangular_grad",
    "sigmoid_grad",
    "arctan_grad",
]


def heaviside(u: torch.Tensor) -> torch.Tensor:
    """Strict step ``1[u > 0]`` in ``u``'s dtype; NaN where ``u`` is not finite."""
    return (u > 0).to(u.dtype) + u * 0


def triangular_grad(u: torch.Tensor, alpha: float) -> torch.Tensor:
    return torch.clamp(alpha - u.abs(), min=0.0) / (alpha * alpha)


def sigmoid_grad(u: torch.Tensor, alpha: float) -> torch.Tensor:
    s = torch.sigmoid(alpha * u)
    return alpha * s * (1.0 - s)


def arctan_grad(u: torch.Tensor, alpha: float) -> torch.Tensor:
    return (alpha / 2.0) / (1.0 + (math.pi / 2.0 * alpha * u) ** 2)


class _SurrogateSpike(torch.autograd.Function):
    """Heaviside forward, the named surrogate's derivative backward."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, alpha: float, name: str) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.alpha = alpha
        ctx.name = name
        return heaviside(u)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (u,) = ctx.saved_tensors
        grad_u = None
        if ctx.needs_input_grad[0]:
            grad_fn = SURROGATES[ctx.name][0]
            grad_u = grad_output * grad_fn(u, ctx.alpha).to(grad_output.dtype)
        return grad_u, None, None


@dataclass(frozen=True)
class Surrogate:
    """A named surrogate: ``surrogate(u)`` spikes with the surrogate gradient ``grad(u)``."""

    name: str
    alpha: float

    @property
    def grad_fn(self) -> Callable[[torch.Tensor, float], torch.Tensor]:
        return SURROGATES[self.name][0]

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        # float(): under torch.compile(dynamic=True) alpha would otherwise stay a symbolic float
        # that is first read inside the backward, where dynamo cannot lift it into the graph
        return _SurrogateSpike.apply(u, float(self.alpha), self.name)

    def grad(self, u: torch.Tensor) -> torch.Tensor:
        """The surrogate derivative ``dS/du`` at ``u``."""
        return self.grad_fn(u, self.alpha)


#: name -> (derivative, default alpha)
SURROGATES: dict[str, tuple[Callable[[torch.Tensor, float], torch.Tensor], float]] = {
    "triangular": (triangular_grad, 1.0),
    "sigmoid": (sigmoid_grad, 4.0),
    "arctan": (arctan_grad, 2.0),
}


def get_surrogate(surrogate: "str | Surrogate" = "triangular", alpha: float | None = None) -> Surrogate:
    """Resolve a surrogate by name (or pass one through), checking ``alpha > 0``."""
    if isinstance(surrogate, Surrogate):
        if alpha is not None and alpha != surrogate.alpha:
            return get_surrogate(surrogate.name, alpha)
        return surrogate
    if not isinstance(surrogate, str) or surrogate not in SURROGATES:
        raise ValueError(
            f"unknown surrogate {surrogate!r}; choose one of {sorted(SURROGATES)}"
        )
    default_alpha = SURROGATES[surrogate][1]
    alpha = default_alpha if alpha is None else alpha
    if not (isinstance(alpha, (int, float)) and 0 < alpha < math.inf):  # refuses NaN too; traces a symbolic float
        raise ValueError(f"surrogate alpha must be a positive finite number, got {alpha!r}")
    return Surrogate(surrogate, float(alpha))


def spike(u: torch.Tensor, surrogate: "str | Surrogate" = "triangular", alpha: float | None = None) -> torch.Tensor:
    """``1[u > 0]`` with the chosen surrogate gradient."""
    return get_surrogate(surrogate, alpha)(u)
