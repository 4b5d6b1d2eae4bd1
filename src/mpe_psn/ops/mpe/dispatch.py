"""Choose the implementation of the MPE-PSN layer and call it.

``backend`` is one of ``"auto"``, ``"reference"``, ``"triton"``, ``"cpu"``:

* ``"auto"``: the environment variable ``MPE_PSN_BACKEND`` if set, else ``"triton"`` for CUDA
  tensors when Triton imports, ``"cpu"`` (numba) for CPU tensors when numba imports, else the
  reference (``mpe_psn.functional``).
* an explicit fused backend that cannot run here (Triton on a CPU tensor outside the Triton
  interpreter, numba missing, the CPU kernel on a CUDA tensor, a per-channel threshold, more
  than 2**31 - 1 elements) falls back to the reference with a one-time warning, never
  silently to something slower.

The path taken is logged once per (request, device type) at INFO on ``logging.getLogger("mpe_psn")``
(by the first eager call: inside ``torch.compile`` a logger call would break the graph).
"""

from __future__ import annotations

import logging
import os
import warnings

import torch

from mpe_psn.functional.mpe import MPEResult, membrane_loss_terms, mpe_psn_unchecked
from mpe_psn.functional.surrogate import Surrogate, get_surrogate

BACKENDS = ("auto", "reference", "triton", "cpu")
ENV_VAR = "MPE_PSN_BACKEND"
MAX_ELEMENTS = 2**31 - 1

logger = logging.getLogger("mpe_psn")
_logged: set[tuple[str, str, str]] = set()
_warned: set[str] = set()


_status: dict[str, tuple] = {}  # a plain dict (not lru_cache) so torch.compile traces through


def triton_status() -> tuple[bool, bool, str]:
    """``(importable, interpreted, reason)`` for the Triton kernels (imported once)."""
    if "triton" not in _status:
        try:
            from mpe_psn.ops.mpe import triton_kernels

            _status["triton"] = (True, triton_kernels.INTERPRETED, "")
        except Exception as error:  # ImportError, or a broken Triton install
            _status["triton"] = (False, False, f"Triton is not importable ({type(error).__name__}: {error})")
    return _status["triton"]


def cpu_status() -> tuple[bool, str]:
    """``(importable, reason)`` for the numba CPU kernels (imported once)."""
    if "cpu" not in _status:
        try:
            from mpe_psn.ops.mpe import cpu_host  # noqa: F401

            _status["cpu"] = (True, "")
        except Exception as error:
            _status["cpu"] = (False, f"the CPU kernel needs numba ({type(error).__name__}: {error}); pip install numba")
    return _status["cpu"]


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=5)
        logger.warning(message)


def _unavailable(backend: str, device: torch.device) -> str | None:
    """Why ``backend`` cannot run on ``device`` (None if it can)."""
    if backend == "triton":
        ok, interpreted, reason = triton_status()
        if not ok:
            return reason
        if device.type == "cpu" and not interpreted:
            return "the Triton kernels need a CUDA tensor (or TRITON_INTERPRET=1 set before import, for tests)"
        if device.type not in ("cpu", "cuda"):
            return f"the Triton kernels do not run on {device.type} tensors"
        return None
    if backend == "cpu":
        ok, reason = cpu_status()
        if not ok:
            return reason
        if device.type != "cpu":
            return f"the 'cpu' kernel runs on CPU tensors, got a {device.type} tensor; use 'triton' or 'auto'"
    return None


def resolve_backend(backend: str, device: "torch.device | str") -> str:
    """The concrete backend (``"reference"``, ``"triton"`` or ``"cpu"``) for tensors on ``device``."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
    device = torch.device(device)
    requested = backend
    if backend == "auto":
        backend = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
        if backend not in BACKENDS:
            raise ValueError(f"{ENV_VAR}={backend!r} is not one of {list(BACKENDS)}; unset it or pick one of those")
        if backend != "auto":
            requested = f"{ENV_VAR}={backend}"
    if backend == "auto":
        if device.type == "cuda" and _unavailable("triton", device) is None:
            chosen = "triton"
        elif device.type == "cpu" and _unavailable("cpu", device) is None:
            chosen = "cpu"
        else:
            chosen = "reference"
    elif backend == "reference":
        chosen = "reference"
    else:
        reason = _unavailable(backend, device)
        if reason is None:
            chosen = backend
        else:
            _warn_once(
                f"{backend}/{device.type}",
                f"MPE-PSN backend {backend!r} is unavailable for {device.type} tensors: {reason}. "
                f"Falling back to the reference implementation (slower); pass backend='auto' to pick "
                f"the fastest available path.",
            )
            chosen = "reference"
    key = (requested, device.type, chosen)
    if key not in _logged and not torch.compiler.is_compiling():  # a logger call breaks the graph
        _logged.add(key)
        logger.info("MPE-PSN layer: %s path for %s tensors (requested %s)", chosen, device.type, requested)
    return chosen


def _fused_or_reference(x: torch.Tensor, threshold, backend: str) -> str:
    """Resolve, then check the limits of the fused kernels for this call."""
    chosen = resolve_backend(backend, x.device)
    if chosen == "reference":
        return chosen
    if isinstance(threshold, torch.Tensor) and threshold.numel() != 1:
        _warn_once(
            "threshold-shape",
            f"the fused MPE-PSN kernels take one scalar threshold, got shape {tuple(threshold.shape)}; "
            f"using the reference implementation for this layer",
        )
        return "reference"
    if x.numel() > MAX_ELEMENTS:
        _warn_once(
            "too-large",
            f"the fused MPE-PSN kernels index up to {MAX_ELEMENTS} elements, got {x.numel()}; "
            f"using the reference implementation (split the batch to stay fused)",
        )
        return "reference"
    if x.numel() == 0:
        return "reference"
    return chosen


def _op_args(x, threshold, estimator, refine_steps, noise, surrogate: Surrogate, generator, tau):
    """Tensors and codes for the custom ops; draws the sample's seed when one is needed."""
    from mpe_psn.ops.mpe import passes as P
    from mpe_psn.ops.mpe.noise import draw_seed

    if not isinstance(threshold, torch.Tensor):
        threshold = torch.tensor(float(threshold), dtype=torch.float32, device=x.device)
    threshold = threshold.to(device=x.device, dtype=torch.float32).reshape(())
    if estimator == "expected":
        code, seed = P.EST_EXPECTED, torch.zeros((), dtype=torch.int64)
    elif noise is not None:
        code, seed = P.EST_NOISE, torch.zeros((), dtype=torch.int64)
        noise = noise.to(torch.float32).contiguous()
    else:
        code, seed = P.EST_HASH, draw_seed(generator)
    passes = 1 + min(refine_steps, x.shape[0] - 1)
    x = x.contiguous()
    return (x, threshold, seed, noise if code == P.EST_NOISE else None, float(tau), code, passes,
            P.SURROGATE_CODES[surrogate.name], float(surrogate.alpha))


def mpe_psn_potentials(
    x: torch.Tensor,
    threshold: "float | torch.Tensor",
    *,
    tau: float,
    estimator: str,
    refine_steps: int,
    noise: torch.Tensor | None,
    surrogate: Surrogate,
    generator: torch.Generator | None = None,
    backend: str = "auto",
) -> MPEResult:
    """Spikes, estimate and corrected potential (arguments already checked by the caller).

    Fused paths compute in float32 and return ``v_hat`` and ``v`` in ``x``'s dtype;
    gradients flow to ``x`` and ``threshold`` through all three outputs.
    """
    surrogate = get_surrogate(surrogate)
    chosen = _fused_or_reference(x, threshold, backend)
    if chosen == "reference":
        return mpe_psn_unchecked(x, threshold, tau, estimator, refine_steps, noise, surrogate, generator)
    from mpe_psn.ops.mpe.op import potentials

    spikes, v_hat, v = potentials(*_op_args(x, threshold, estimator, refine_steps, noise, surrogate, generator, tau), chosen)
    return MPEResult(spikes, v_hat, v)


def weighted_step_loss(step_err: torch.Tensor, kappa: torch.Tensor | None) -> torch.Tensor:
    """``mean_t kappa[t] * step_err[t]`` (``None``: uniform ``1/T``), as ``functional.membrane_loss_terms``."""
    T = step_err.shape[0]
    if kappa is None:
        return step_err.mean() / T
    if kappa.shape != (T,):
        raise ValueError(f"kappa must have one weight per time step, shape ({T},), got {tuple(kappa.shape)}")
    return (kappa.to(step_err.dtype) * step_err).mean()


def mpe_psn_layer(
    x: torch.Tensor,
    threshold: "float | torch.Tensor",
    kappa: torch.Tensor | None,
    *,
    tau: float = 0.25,
    estimator: str = "bernoulli",
    refine_steps: int = 0,
    noise: torch.Tensor | None = None,
    surrogate: "str | Surrogate" = "triangular",
    generator: torch.Generator | None = None,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """What a network layer needs: ``(spikes, L_mem)``.

    ``L_mem = mean over all elements of kappa[t] * (vhat - V)**2`` (kappa [T], or None for
    uniform 1/T). Fused paths never store vhat or V: the op returns the per-step mean squared
    error and the backward recomputes everything from ``x`` and the seed. Gradients reach
    ``x``, ``threshold`` (tensor) and ``kappa``.
    """
    surrogate = get_surrogate(surrogate)
    chosen = _fused_or_reference(x, threshold, backend)
    if chosen == "reference":
        result = mpe_psn_unchecked(x, threshold, tau, estimator, refine_steps, noise, surrogate, generator)
        return result.spikes, membrane_loss_terms(result.v_hat, result.v, kappa)
    from mpe_psn.ops.mpe.op import layer

    args = _op_args(x, threshold, estimator, refine_steps, noise, surrogate, generator, tau)
    spikes, step_err, _ = layer(*args, chosen)
    return spikes, weighted_step_loss(step_err, kappa)
