"""``nn.Module`` faces of the neurons: parameters, layout, train/eval behaviour, ``mem_loss``.

Every neuron takes time-major input [T, B, ...] (SpikingJelly's multi-step layout) or, with
``batch_first=True``, batch-major [B, T, ...], and returns spikes in the same layout.

Streaming (SpikingJelly's ``step_mode`` convention): ``step_mode = "m"`` (the default) is the
above, one whole sequence per call, no state kept between calls. ``step_mode = "s"`` takes one
time step [B, ...] per call and keeps what the next step needs inside the module until
:func:`reset`. Use :func:`set_step_mode` and :func:`reset` on a whole network. Feeding the T
steps of a sequence one by one gives the multi-step call's spikes bit for bit (MPE-PSN's
``"expected"`` estimator with any ``refine_steps``, and LIF, on the reference path). For
MPE-PSN the state is not a membrane potential: it is the previous step's estimate
``vhat[t-1]`` (plus, with ``refine_steps = k``, the previous step's corrected potential of
each of the k earlier passes). PSN cannot stream: its output at step t depends on all T inputs.

What ``tau`` means here (everywhere in this project): the paper's **decay factor** in [0, 1],
the share of the previous potential that the next step keeps,
``H[t] = tau * V[t-1] + x[t]``, ``S[t] = H[t] >= threshold``, ``V[t] = H[t] * (1 - S[t])``.
tau = 0 forgets at once; the paper uses 0.25. It is **not** SpikingJelly's time constant
``tau_sj`` (>= 1), whose decay per step is ``1 - 1 / tau_sj``: this tau equals
``1 - 1 / tau_sj``, so tau = 0.25 is ``tau_sj = 4/3`` (``models.neuron_factory.SpikingJellyLIF``
converts). See docs/training.md, "What tau means".
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from mpe_psn.functional.checks import check_tau, check_time_major
from mpe_psn.functional.mpe import estimate_potential
from mpe_psn.functional.psn import psn
from mpe_psn.functional.surrogate import get_surrogate
from mpe_psn.neurons.settings import LIFSettings, MPEPSNSettings, setting
from mpe_psn.ops import mpe_psn_layer
from mpe_psn.ops.lif import lif_spikes

__all__ = ["MPEPSN", "LIF", "PSN", "SpikingNeuron", "STEP_MODES", "set_step_mode", "reset"]

STEP_MODES = ("m", "s")


def _check_step_mode(mode: str) -> str:
    if mode not in STEP_MODES:
        raise ValueError(f"step_mode must be 'm' (multi-step, [T, B, ...]) or 's' (single step, [B, ...]), got {mode!r}")
    return mode


def set_step_mode(model: nn.Module, mode: str) -> nn.Module:
    """Set ``step_mode`` (``"m"`` or ``"s"``) on every module of ``model`` that has one; returns ``model``.

    Modules that cannot run step by step (PSN) are an error naming the layer; nothing is
    changed then. The state of every neuron is cleared (as :func:`reset`).
    """
    _check_step_mode(mode)
    named = [(name or type(model).__name__, m) for name, m in model.named_modules() if hasattr(m, "step_mode")]
    if mode == "s":
        for name, module in named:
            if "s" not in getattr(module, "SUPPORTED_STEP_MODES", STEP_MODES):
                raise ValueError(
                    f"layer {name!r} ({type(module).__name__}) cannot run step by step: its output at step t "
                    f"depends on all T inputs; use MPEPSN or LIF neurons for streaming"
                )
    for _, module in named:
        module.step_mode = mode
    reset(model)
    return model


def reset(model: nn.Module) -> nn.Module:
    """Clear the step-mode state of every neuron in ``model`` (call between sequences); returns ``model``."""
    for module in model.modules():
        if hasattr(module, "step_mode") and callable(getattr(module, "reset", None)):
            module.reset()
    return model


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
        self.step_mode = "m"
        self._state: tuple[torch.Tensor, ...] | None = None  # step mode: what the next step needs

    @property
    def step_mode(self) -> str:
        """``"m"``: [T, B, ...] per call, no state; ``"s"``: one step [B, ...] per call, state kept."""
        return self._step_mode

    @step_mode.setter
    def step_mode(self, mode: str) -> None:
        self._step_mode = _check_step_mode(mode)
        self._state = None

    def reset(self) -> None:
        """Forget the step-mode state: the next single-step call starts a new sequence."""
        self._state = None

    def _check_step(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 1:
            raise ValueError(f"{type(self).__name__} in step mode 's' takes one floating-point step [B, ...], got {x!r:.80}")
        if self._state is not None and self._state[0].shape != x.shape:
            raise ValueError(
                f"{type(self).__name__} in step mode 's' holds the state of a step shaped {tuple(self._state[0].shape)} "
                f"but got {tuple(x.shape)}; call mpe_psn.reset(model) before a new sequence"
            )

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
        threshold, learn_threshold: initial threshold, and whether it is a parameter.
        tau: decay factor in [0, 1], ``H[t] = tau * V[t-1] + x[t]`` (0.25 in the paper; not
            SpikingJelly's time constant, see the module docstring).
        estimator: estimator in training mode, ``"bernoulli"`` (paper) or ``"expected"``.
        eval_estimator: estimator in eval mode; ``"expected"`` makes predictions deterministic.
        refine_steps: extra correction passes; ``>= T - 1`` computes the exact LIF, and then (unless
            ``backend="reference"``, which runs the passes) the layer runs the fused exact LIF
            (``ops/lif``) with no membrane loss (``mem_loss`` is ``None``): nothing is estimated.
        kappa: per-step weights of the membrane loss. ``"learned"`` (``softmax`` of a free
            parameter: non-negative, summing to 1, initially uniform ``1/T``; needs ``T``),
            ``"uniform"`` (fixed ``1/T``), or a sequence of ``T`` non-negative fixed weights.
            ``None`` (default) means ``"learned"`` when ``T`` is given and ``"uniform"`` otherwise.
        T: number of time steps, checked on every call when given.
        backend: ``"auto"``, ``"reference"``, ``"cpu"`` or ``"triton"`` (see ``mpe_psn.ops``); a named
            fused backend that cannot run on the input's device or dtype raises, naming what can.

    After each forward, ``self.mem_loss`` holds that call's L_mem (a scalar tensor; ``None`` as the
    exact LIF (above) and in step mode ``"s"``, where the state between calls is the previous step's estimate, not a
    membrane potential: see the module docstring).

    ``estimator``, ``eval_estimator``, ``refine_steps`` and ``backend`` are the layer's settings:
    they live in one frozen record, ``self.settings`` (:class:`~mpe_psn.neurons.settings.MPEPSNSettings`);
    change them on a whole model with :func:`mpe_psn.configure`.
    """

    estimator = setting()
    eval_estimator = setting()
    refine_steps = setting()
    backend = setting()

    def __init__(
        self,
        threshold: float = 1.0,
        tau: float = 0.25,
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
        self.settings = MPEPSNSettings(estimator, eval_estimator, refine_steps, backend)
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
        if self.step_mode == "s":
            return self._single_step(x)
        x = self._to_time_major(x)
        settings = self.settings
        if 0 < x.shape[0] - 1 <= settings.refine_steps and settings.backend != "reference":
            # T - 1 refinement passes compute the exact LIF: its fused kernel walks T once instead
            # of T passes over it. No estimate is used, so there is no membrane loss to train.
            self.mem_loss = None
            return self._from_time_major(lif_spikes(x, self.threshold, self.tau, self.surrogate, backend=settings.backend))
        learned = self.kappa_mode == "learned"  # its softmax is taken inside the fused layer: no op here
        spikes, self.mem_loss = mpe_psn_layer(
            x,
            self.threshold,
            tau=self.tau,
            kappa=None if learned else self.kappa,
            kappa_logits=self.kappa_logits if learned else None,
            estimator=settings.estimator if self.training else settings.eval_estimator,
            refine_steps=settings.refine_steps,
            surrogate=self.surrogate,
            backend=settings.backend,
        )
        return self._from_time_major(spikes)

    def _single_step(self, x: torch.Tensor) -> torch.Tensor:
        """One step [B, ...]. State: the previous step's estimate vhat[t-1] and, for each of the
        ``refine_steps`` earlier passes, the previous step's corrected potential of that pass.

        The ``"bernoulli"`` estimator draws a fresh sample per step from the global RNG, so it
        cannot repeat a multi-step call's noise. ``mem_loss`` is not computed (it is ``None``).
        """
        self._check_step(x)
        estimator = self.estimator if self.training else self.eval_estimator
        passes = 1 + (self.refine_steps if self.T is None else min(self.refine_steps, self.T - 1))
        previous = self._state if self._state is not None else (torch.zeros_like(x),) * passes
        current = [estimate_potential(x, estimator)]  # vhat[t], from x[t] alone
        for level in range(passes):  # pass j: H = x[t] + tau * (pass j-1's potential at t-1)
            h = x + self.tau * previous[level]
            s = self.surrogate(h - self.threshold)
            current.append((1.0 - s) * h)
        self._state = tuple(current[:passes])
        self.mem_loss = None
        return s

    def extra_repr(self) -> str:
        return (
            f"tau={self.tau}, estimator={self.estimator}, eval_estimator={self.eval_estimator}, "
            f"refine_steps={self.refine_steps}, kappa={self.kappa_mode}, backend={self.backend}, "
            + super().extra_repr()
        )


class LIF(SpikingNeuron):
    """The exact sequential LIF (hard reset to 0): ``H[t] = tau * V[t-1] + x[t]`` with ``tau``
    the decay factor in [0, 1] (module docstring), ``S[t] = 1[H[t] > threshold]``.

    In step mode ``"m"`` the whole sequence runs on ``backend`` (one of
    ``mpe_psn.ops.registry.choices("lif")``): ``"auto"`` takes the fused kernel of the input's
    device (numba on the CPU, Triton on the GPU; ``mpe_psn.ops.lif``), ``"reference"`` the loop
    of :func:`mpe_psn.functional.lif`. Both give the same spikes (bit for bit in float32) and
    the same surrogate gradients. Step mode ``"s"`` runs one step per call (state: V[t-1]).
    ``backend`` is the layer's one setting (``self.settings``, :class:`~mpe_psn.neurons.settings.LIFSettings`).
    """

    backend = setting()

    def __init__(
        self,
        threshold: float = 1.0,
        tau: float = 0.25,
        learn_threshold: bool = True,
        surrogate: str = "triangular",
        alpha: float | None = None,
        T: int | None = None,
        batch_first: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(threshold, learn_threshold, surrogate, alpha, T, batch_first)
        self.tau = check_tau(tau)
        self.settings = LIFSettings(backend)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "s":  # state: the post-reset membrane potential V[t-1]
            self._check_step(x)
            v = self._state[0] if self._state is not None else torch.zeros_like(x)
            h = self.tau * v + x
            s = self.surrogate(h - self.threshold)
            self._state = ((1.0 - s) * h,)
            return s
        x = self._to_time_major(x)
        return self._from_time_major(lif_spikes(x, self.threshold, self.tau, self.surrogate, backend=self.backend))

    def extra_repr(self) -> str:
        return f"tau={self.tau}, backend={self.backend}, " + super().extra_repr()


class PSN(nn.Module):
    """Parallel spiking neuron (Fang et al. 2023): ``H = W X + B``, ``S = 1[H > 0]``, no reset.

    ``W`` [T, T] starts like an ``nn.Linear`` weight and ``B`` at -1 (a threshold of 1).
    Multi-step only (``step_mode = "m"``): step t needs all T inputs, so ``set_step_mode(model, "s")``
    on a network with a PSN is an error naming the layer.
    """

    SUPPORTED_STEP_MODES = ("m",)
    step_mode = "m"

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
