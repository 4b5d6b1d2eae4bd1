"""``nn.Module`` faces of the neurons: parameters, layout, train/eval behaviour, ``mem_loss``.

Every neuron takes time-major input [T, B, ...] (SpikingJelly's multi-step layout) or, with
``batch_first=True``, batch-major [B, T, ...], and returns spikes in the same layout.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from mpe_psn.functional.checks import check_estimator, check_refine_steps, check_tau, check_time_major
from mpe_psn.functional.lif import lif
from mpe_psn.functional.psn import psn
from mpe_psn.functional.surrogate import get_surrogate
from mpe_psn.ops import BACKENDS, mpe_psn_layer

__all__ = ["MPEPSN", "LIF", "PSN", "SpikingNeuron"]


class SpikingNeuron(nn.Module):
    """Shared plumbing: layout, threshold parameter, surrogate, T check."""

    def __init__(
        self,
        threshold: float = 1.0,
        learn_threshold: bool = True,
        surrogate: str = "triangular",
        alpha: float | None = None,
        T: int | None = None,
        batch_first: bool = False,
    ) -> None:
        super().__init__()
        if not (isinstance(threshold, (int, float)) and math.isfinite(threshold)):
            raise ValueError(f"threshold must be a finite number, got {threshold!r}")
        if T is not None and (isinstance(T, bool) or not isinstance(T, int) or T < 1):
            raise ValueError(f"T must be a positive int or None, got {T!r}")
        value = torch.tensor(float(threshold))
        if learn_threshold:
            self.threshold = nn.Parameter(value)
        else:
            self.register_buffer("threshold", value)
        self.surrogate = get_surrogate(surrogate, alpha)
        self.T = T
        self.batch_first = batch_first

    def _to_time_major(self, x: torch.Tensor) -> torch.Tensor:
        name = "input [B, T, ...]" if self.batch_first else "input [T, B, ...]"
        check_time_major(x, name)
        if self.batch_first:
            x = x.transpose(0, 1)
        if self.T is not None and x.shape[0] != self.T:
            raise ValueError(
                f"{type(self).__name__} was built for T = {self.T} time steps but got T = {x.shape[0]} "
                f"(input shape {tuple(x.shape)}, batch_first={self.batch_first})"
            )
        return x

    def _from_time_major(self, y: torch.Tensor) -> torch.Tensor:
        return y.transpose(0, 1) if self.batch_first else y

    def extra_repr(self) -> str:
        return f"T={self.T}, surrogate={self.surrogate.name}(alpha={self.surrogate.alpha}), batch_first={self.batch_first}"


class MPEPSN(SpikingNeuron):
    """The MPE-PSN layer (see :func:`mpe_psn.functional.mpe_psn` for the math).

    Args:
        tau: decay factor (0.25 in the paper).
        threshold, learn_threshold: initial threshold, and whether it is a parameter.
        estimator: estimator in training mode, ``"bernoulli"`` (paper) or ``"expected"``.
        eval_estimator: estimator in eval mode; ``"expected"`` makes predictions deterministic.
        refine_steps: extra correction passes; ``>= T - 1`` computes the exact LIF.
        kappa: per-step weights of the membrane loss. ``"learned"`` (``softmax`` of a free
            parameter: non-negative, summing to 1, initially uniform ``1/T``; needs ``T``),
            ``"uniform"`` (fixed ``1/T``), or a sequence of ``T`` non-negative fixed weights.
            ``None`` (default) means ``"learned"`` when ``T`` is given and ``"uniform"`` otherwise.
        T: number of time steps, checked on every call when given.
        backend: ``"auto"``, ``"reference"``, ``"triton"`` or ``"cpu"`` (see ``mpe_psn.ops``).

    After each forward, ``self.mem_loss`` holds that call's L_mem (a scalar tensor).
    """

    def __init__(
        self,
        tau: float = 0.25,
        threshold: float = 1.0,
        learn_threshold: bool = True,
        estimator: str = "bernoulli",
        eval_estimator: str = "expected",
        refine_steps: int = 0,
        kappa: "str | Sequence[float] | None" = None,
        T: int | None = None,
        surrogate: str = "triangular",
        alpha: float | None = None,
        batch_first: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(threshold, learn_threshold, surrogate, alpha, T, batch_first)
        self.tau = check_tau(tau)
        self.estimator = check_estimator(estimator)
        self.eval_estimator = check_estimator(eval_estimator)
        self.refine_steps = check_refine_steps(refine_steps)
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
        self.backend = backend
        self.kappa_mode = self._init_kappa(kappa, T)
        self.mem_loss: torch.Tensor | None = None

    def _init_kappa(self, kappa, T: int | None) -> str:
        if kappa is None:
            kappa = "learned" if T is not None else "uniform"
        if isinstance(kappa, str):
            if kappa == "uniform":
                return "uniform"
            if kappa != "learned":
                raise ValueError(f"unknown kappa {kappa!r}; use 'learned', 'uniform' or a sequence of T weights")
            if T is None:
                raise ValueError("kappa='learned' has one parameter per time step, so it needs T at construction")
            self.kappa_logits = nn.Parameter(torch.zeros(T))  # softmax(0) = uniform 1/T
            return "learned"
        weights = torch.as_tensor(kappa, dtype=torch.float32)
        if weights.dim() != 1 or (T is not None and weights.numel() != T):
            raise ValueError(f"fixed kappa must be a sequence of T = {T} weights, got shape {tuple(weights.shape)}")
        if not bool(torch.isfinite(weights).all()) or bool((weights < 0).any()):
            raise ValueError(f"kappa weights must be finite and non-negative, got {weights.tolist()}")
        if self.T is None:
            self.T = weights.numel()
        self.register_buffer("kappa_fixed", weights)
        return "fixed"

    @property
    def kappa(self) -> torch.Tensor | None:
        """Per-step weights [T] of the membrane loss (``None``: uniform 1/T)."""
        if self.kappa_mode == "learned":
            return torch.softmax(self.kappa_logits, dim=0)
        if self.kappa_mode == "fixed":
            return self.kappa_fixed
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._to_time_major(x)
        spikes, self.mem_loss = mpe_psn_layer(
            x,
            self.threshold,
            self.kappa,
            tau=self.tau,
            estimator=self.estimator if self.training else self.eval_estimator,
            refine_steps=self.refine_steps,
            surrogate=self.surrogate,
            backend=self.backend,
        )
        return self._from_time_major(spikes)

    def extra_repr(self) -> str:
        return (
            f"tau={self.tau}, estimator={self.estimator}, eval_estimator={self.eval_estimator}, "
            f"refine_steps={self.refine_steps}, kappa={self.kappa_mode}, backend={self.backend}, "
            + super().extra_repr()
        )


class LIF(SpikingNeuron):
    """The exact sequential LIF (hard reset to 0), computed step by step."""

    def __init__(
        self,
        tau: float = 0.25,
        threshold: float = 1.0,
        learn_threshold: bool = True,
        surrogate: str = "triangular",
        alpha: float | None = None,
        T: int | None = None,
        batch_first: bool = False,
    ) -> None:
        super().__init__(threshold, learn_threshold, surrogate, alpha, T, batch_first)
        self.tau = check_tau(tau)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._to_time_major(x)
        return self._from_time_major(lif(x, self.threshold, self.tau, self.surrogate).spikes)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, " + super().extra_repr()


class PSN(nn.Module):
    """Parallel spiking neuron (Fang et al. 2023): ``H = W X + B``, ``S = 1[H > 0]``, no reset.

    ``W`` [T, T] starts like an ``nn.Linear`` weight and ``B`` at -1 (a threshold of 1).
    """

    def __init__(self, T: int, surrogate: str = "triangular", alpha: float | None = None, batch_first: bool = False) -> None:
        super().__init__()
        if isinstance(T, bool) or not isinstance(T, int) or T < 1:
            raise ValueError(f"PSN needs a positive int T, got {T!r}")
        self.T = T
        self.batch_first = batch_first
        self.surrogate = get_surrogate(surrogate, alpha)
        self.weight = nn.Parameter(torch.empty(T, T))
        self.bias = nn.Parameter(torch.full((T,), -1.0))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    _to_time_major = SpikingNeuron._to_time_major
    _from_time_major = SpikingNeuron._from_time_major

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._to_time_major(x)
        weight, bias = self.weight, self.bias
        if x.dtype != weight.dtype and not torch.is_autocast_enabled():
            weight, bias = weight.to(x.dtype), bias.to(x.dtype)
        return self._from_time_major(psn(x, weight, bias, self.surrogate))

    def extra_repr(self) -> str:
        return f"T={self.T}, surrogate={self.surrogate.name}(alpha={self.surrogate.alpha}), batch_first={self.batch_first}"
