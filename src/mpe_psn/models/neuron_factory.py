"""Make a spiking neuron layer by name, so that every network can swap its neuron.

Names: ``"mpe"`` (MPE-PSN), ``"lif"`` (exact sequential LIF), ``"psn"`` (Fang et al.'s PSN),
``"sj-lif"`` (SpikingJelly's fused multi-step LIF with the same dynamics, when installed),
``"snntorch"`` (snnTorch's ``Leaky`` in a step loop, the same LIF, when installed).
Every neuron takes and returns time-major [T, B, ...].
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
from torch import nn

from mpe_psn.neurons import LIF, MPEPSN, PSN

__all__ = ["NEURONS", "make_neuron", "neuron_option_names", "SpikingJellyLIF", "SnnTorchLeaky"]


class SpikingJellyLIF(nn.Module):
    """SpikingJelly's multi-step ``LIFNode`` configured as this project's LIF.

    SpikingJelly's charge without input decay is ``H = V - (V - v_reset) / tau_sj + X``;
    with ``v_reset = 0`` and ``tau_sj = 1 / (1 - tau)`` that is ``H = tau * V + X`` (tau = 0.25
    gives tau_sj = 4/3). Its state is reset before every forward, so each call is one sequence.
    SpikingJelly picks its own kernel (fused Triton on CUDA when available).
    """

    def __init__(self, tau: float = 0.25, threshold: float = 1.0, T: int | None = None) -> None:
        super().__init__()
        try:
            from spikingjelly.activation_based import neuron as sj_neuron
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError(
                "neuron 'sj-lif' needs SpikingJelly, which is not installed; "
                "install it with `pip install 'mpe-psn[rivals]'` (or `pip install spikingjelly`), "
                "or choose --neuron mpe, lif or psn"
            ) from error
        if not 0.0 <= tau < 1.0:
            raise ValueError(f"sj-lif needs a decay tau in [0, 1), got {tau}")
        self.T = T
        self.tau = tau
        self.node = sj_neuron.LIFNode(
            tau=1.0 / (1.0 - tau), decay_input=False, v_threshold=float(threshold), v_reset=0.0,
            detach_reset=False, step_mode="m",
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.T is not None and x.shape[0] != self.T:
            raise ValueError(f"sj-lif was built for T = {self.T} time steps but got T = {x.shape[0]}")
        self.node.reset()
        return self.node(x)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, T={self.T}"


class SnnTorchLeaky(nn.Module):
    """snnTorch's ``Leaky`` over [T, ...] in a step loop: ``H = beta V + x`` with ``beta = tau``,
    hard reset to 0 (``reset_mechanism="zero"``): this project's LIF. State starts at 0 each call."""

    def __init__(self, tau: float = 0.25, threshold: float = 1.0, T: int | None = None) -> None:
        super().__init__()
        try:
            import snntorch
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError(
                "neuron 'snntorch' needs snnTorch, which is not installed; install it with "
                "`pip install 'mpe-psn[rivals]'` (or `pip install snntorch`), or choose --neuron mpe, lif or psn"
            ) from error
        if not 0.0 <= tau <= 1.0:
            raise ValueError(f"snntorch needs a decay tau in [0, 1], got {tau}")
        self.T, self.tau = T, tau
        self.leaky = snntorch.Leaky(beta=tau, threshold=float(threshold), reset_mechanism="zero")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.T is not None and x.shape[0] != self.T:
            raise ValueError(f"snntorch was built for T = {self.T} time steps but got T = {x.shape[0]}")
        mem = self.leaky.reset_mem()
        out = []
        for x_t in x:
            spk, mem = self.leaky(x_t, mem)
            out.append(spk)
        return torch.stack(out)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, T={self.T}"


def _make_mpe(T: int, **options: Any) -> nn.Module:
    return MPEPSN(T=T, **options)


def _make_lif(T: int, **options: Any) -> nn.Module:
    return LIF(T=T, **options)


def _make_psn(T: int, **options: Any) -> nn.Module:
    return PSN(T=T, **options)


def _make_sj_lif(T: int, **options: Any) -> nn.Module:
    return SpikingJellyLIF(T=T, **options)


#: name -> (factory, the class whose constructor defines the accepted options)
NEURONS: dict[str, tuple[Callable[..., nn.Module], type]] = {
    "mpe": (_make_mpe, MPEPSN),
    "lif": (_make_lif, LIF),
    "psn": (_make_psn, PSN),
    "sj-lif": (_make_sj_lif, SpikingJellyLIF),
    "snntorch": (lambda T, **options: SnnTorchLeaky(T=T, **options), SnnTorchLeaky),
}


def neuron_option_names(neuron: str) -> tuple[str, ...]:
    """The keyword options a neuron accepts (``T`` and layout are set by the network)."""
    if neuron not in NEURONS:
        raise ValueError(f"unknown neuron {neuron!r}; choose one of {list(NEURONS)}")
    params = inspect.signature(NEURONS[neuron][1].__init__).parameters
    return tuple(name for name in params if name not in ("self", "T", "batch_first"))


def make_neuron(neuron: str, T: int, options: dict[str, Any] | None = None) -> nn.Module:
    """A neuron layer ``neuron`` for ``T`` steps; ``options`` go to its constructor.

    Options a neuron does not take are an error naming them and the accepted ones, so a typo
    never passes silently.
    """
    options = dict(options or {})
    accepted = neuron_option_names(neuron)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"neuron {neuron!r} does not take option(s) {unknown}; it accepts {list(accepted)}")
    factory, _ = NEURONS[neuron]
    return factory(T, **options)
