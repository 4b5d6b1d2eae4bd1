"""Choose the implementation of the MPE-PSN layer and call it.

``backend`` is one of ``"auto"``, ``"reference"``, ``"triton"``, ``"cpu"``:

* ``"auto"``: the environment variable ``MPE_PSN_BACKEND`` if set, else ``"triton"`` for CUDA
  tensors when Triton imports, ``"cpu"`` (numba) for CPU tensors when numba imports, else the
  reference (``mpe_psn.functional``).
* an explicit fused backend that cannot run here (Triton on a CPU tensor outside the Triton
  interpreter, numba missing, the CPU kernel on a CUDA tensor) falls back to the reference
  with a one-time warning, never silently to something slower.
* whatever the backend, a per-channel threshold (more than one value) and, on Triton, more
  than 2**31 - 1 neurons per time step run the reference, with a one-time warning (the
  kernels take one scalar threshold and an int32 neuron count; ``T * N`` may pass 2**31).
* never break a user: under ``"auto"`` (without ``MPE_PSN_BACKEND``) a fused kernel that fails
  to compile or launch is tried once on a small probe per setting (backend, device, dtype,
  estimator, refinement, surrogate) before it runs a real layer. A failure there or in a real
  forward sends *that setting only* to the reference for the rest of the process, with one
  warning naming the error, what is now slower and how to see the error raised; every other
  setting keeps its fused kernel (:func:`fallbacks` lists the settings that fell back). The
  probe runs with gradients on even under ``torch.no_grad()`` or ``torch.inference_mode()``,
  so evaluating a model never costs its training steps the fused path. A backend named by the
  caller (or the environment variable) raises instead. Inside ``torch.compile`` nothing is
  caught (the probe ran in eager mode).

The path taken is logged once per (request, device type) at INFO on ``logging.getLogger("mpe_psn")``
(by the first eager call: inside ``torch.compile`` a logger call would break the graph).
"""

from __future__ import annotations

import logging
import os
import warnings

import torch

from mpe_psn.functional.mpe import MPEResult, check_mpe_args, kappa_weighted_mean, membrane_loss_terms, mpe_psn_unchecked
from mpe_psn.functional.surrogate import Surrogate, get_surrogate

BACKENDS = ("auto", "reference", "triton", "cpu")
ENV_VAR = "MPE_PSN_BACKEND"
#: the Triton kernels' neuron count per step is an int32
MAX_NEURONS = 2**31 - 1

logger = logging.getLogger("mpe_psn")
_logged: set[tuple[str, str, str]] = set()
_warned: set[str] = set()
#: settings (as in ``_probed``) that failed under "auto" in this process -> the error, one line
_failed: dict[tuple, str] = {}
#: settings whose probe (a small forward + backward) passed: (backend, device, dtype, codes...)
_probed: set[tuple] = set()


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


def _auto_choice(device: torch.device) -> str:
    """What "auto" runs on ``device``: the fused kernel of that device unless it is missing.

    A setting whose kernel failed is sent to the reference by :func:`_guarded`, not here: one
    failed setting does not cost the others their fused path.
    """
    if device.type == "cuda" and _unavailable("triton", device) is None:
        return "triton"
    if device.type == "cpu" and _unavailable("cpu", device) is None:
        return "cpu"
    return "reference"


def fallbacks() -> dict[str, str]:
    """The settings that fell back to the reference under ``"auto"`` in this process.

    ``{"triton cuda:0 float32 bernoulli passes=1 triangular": "RuntimeError: ...", ...}``; empty
    when every call so far ran its fused kernel. Benchmarks record it next to their timings.
    """
    return {_describe(key): reason for key, reason in _failed.items()}


def _setting(chosen: str, x: torch.Tensor, code: int, passes: int, surrogate_code: int) -> tuple:
    """The key of one kernel setting: what a probe compiles and a fallback applies to."""
    return (chosen, x.device, x.dtype, code, min(passes, 3), surrogate_code)


def _describe(key: tuple) -> str:
    from mpe_psn.ops.mpe import passes as P

    chosen, device, dtype, code, passes, surrogate_code = key
    estimator = {P.EST_HASH: "bernoulli", P.EST_NOISE: "bernoulli(noise)", P.EST_EXPECTED: "expected"}.get(code, code)
    surrogate = {c: n for n, c in P.SURROGATE_CODES.items()}.get(surrogate_code, surrogate_code)
    return f"{chosen} {device} {str(dtype).replace('torch.', '')} {estimator} passes={passes} {surrogate}"


def resolve_backend(backend: str, device: "torch.device | str") -> str:
    """The concrete backend (``"reference"``, ``"triton"`` or ``"cpu"``) for tensors on ``device``."""
    return _resolve(backend, device)[0]


def _resolve(backend: str, device: "torch.device | str") -> tuple[str, bool]:
    """``(chosen, strict)``: strict when the caller (or ``MPE_PSN_BACKEND``) named the backend."""
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
    strict = backend != "auto"
    if backend == "auto":
        chosen = _auto_choice(device)
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
    return chosen, strict


def _fused_or_reference(x: torch.Tensor, threshold, backend: str) -> tuple[str, bool]:
    """Resolve, then check the limits of the fused kernels for this call: ``(chosen, strict)``."""
    chosen, strict = _resolve(backend, x.device)
    if chosen == "reference":
        return chosen, strict
    if isinstance(threshold, torch.Tensor) and threshold.numel() != 1:
        _warn_once(
            "threshold-shape",
            f"the fused MPE-PSN kernels take one scalar threshold, got shape {tuple(threshold.shape)}; "
            f"using the reference implementation for this layer",
        )
        return "reference", strict
    if chosen == "triton" and x.numel() // max(x.shape[0], 1) > MAX_NEURONS:
        _warn_once(
            "too-large",
            f"the Triton MPE-PSN kernels take up to {MAX_NEURONS} neurons per time step, got "
            f"{x.numel() // x.shape[0]} (input shape {tuple(x.shape)}); using the reference implementation",
        )
        return "reference", strict
    if x.numel() == 0:
        return "reference", strict
    return chosen, strict


def _give_up(key: tuple, error: BaseException) -> None:
    """Record that one setting failed under "auto" and warn once for it, naming the error."""
    reason = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
    _failed[key] = reason
    chosen = key[0]
    _warn_once(
        f"failed/{key}",
        f"the fused MPE-PSN kernel failed for {_describe(key)} ({reason}); backend='auto' runs layers "
        f"with this setting on the reference implementation from now on (several times slower; other "
        f"settings keep their fused kernel). Pass backend={chosen!r} to see the error raised, and "
        f"mpe_psn.ops.fallbacks() lists the settings that fell back",
    )


def _guarded(chosen: str, strict: bool, fused, reference, probe_args: tuple | None):
    """Run ``fused()``; under "auto", fall back to ``reference()`` if it (or its probe) fails,
    for this setting only."""
    if strict or torch.compiler.is_compiling():
        return fused()
    key = _setting(chosen, *probe_args[:4]) if probe_args is not None else (chosen,)
    if key in _failed:
        return reference()
    try:
        if probe_args is not None:
            _probe(key, *probe_args)
        return fused()
    except torch.cuda.OutOfMemoryError:
        raise  # the reference needs more memory, not less
    except Exception as error:  # a compile or launch failure of the fused kernels
        _give_up(key, error)
        return reference()


def _probe(key: tuple, x: torch.Tensor, code: int, passes: int, surrogate_code: int, alpha: float, tau: float) -> None:
    """Forward and backward of the fused op on a small input with this call's setting
    (``key``, from :func:`_setting`), once.

    The same kernel specialisations as the real layer (dtype, estimator, refinement passes,
    surrogate) compile and launch here, so a failure in the backward surfaces before the
    real forward, while a fallback is still possible. Raises what the kernels raise.
    """
    if key in _probed:
        return
    chosen = key[0]
    from mpe_psn.ops.mpe import passes as P
    from mpe_psn.ops.mpe.op import layer

    T, N = 4, 1031  # more than one program, and N not a multiple of any block
    # inference_mode(False): under torch.inference_mode() enable_grad alone still makes
    # inference tensors, which cannot require grad, and the probe's backward would fail
    with torch.inference_mode(False), torch.enable_grad():
        xp = torch.linspace(-2.0, 3.0, T * N, device=x.device).reshape(T, N).to(x.dtype).requires_grad_(True)
        noise = torch.rand(T, N, device=x.device) if code == P.EST_NOISE else None
        theta = torch.ones((), dtype=torch.float32, device=x.device, requires_grad=True)
        spikes, step_err, _ = layer(xp, theta, torch.zeros((), dtype=torch.int64), noise, tau, code, min(passes, 3),
                                    surrogate_code, alpha, chosen)
        torch.autograd.grad(spikes.float().sum() + step_err.sum(), [xp, theta])
    _probed.add(key)


def _op_args(x, threshold, tau, estimator, refine_steps, noise, surrogate: Surrogate, generator):
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


def _probe_args(args: tuple) -> tuple:
    x, _, _, _, tau, code, passes, surrogate_code, alpha = args
    return (x, code, passes, surrogate_code, alpha, tau)


def mpe_psn_potentials(
    x: torch.Tensor,
    threshold: "float | torch.Tensor",
    tau: float,
    *,
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
    chosen, strict = _fused_or_reference(x, threshold, backend)

    def reference() -> MPEResult:
        return mpe_psn_unchecked(x, threshold, tau, estimator, refine_steps, noise, surrogate, generator)

    if chosen == "reference":
        return reference()
    from mpe_psn.ops.mpe.op import potentials

    args = _op_args(x, threshold, tau, estimator, refine_steps, noise, surrogate, generator)
    return _guarded(chosen, strict, lambda: MPEResult(*potentials(*args, chosen)), reference, _probe_args(args))


def mpe_psn(
    x: torch.Tensor,
    threshold: "float | torch.Tensor" = 1.0,
    tau: float = 0.25,
    estimator: str = "bernoulli",
    refine_steps: int = 0,
    noise: torch.Tensor | None = None,
    surrogate: "str | Surrogate" = "triangular",
    alpha: float | None = None,
    generator: torch.Generator | None = None,
    backend: str = "auto",
) -> MPEResult:
    """:func:`mpe_psn.functional.mpe_psn` (same arguments, same checks) on a chosen ``backend``.

    Returns ``MPEResult(spikes, v_hat, v)``. On a fused backend the Bernoulli sample comes from
    the counter hash of ``ops.mpe.noise`` (or ``noise``), so the values equal the reference's
    given that noise; gradients are eager-only (train through :func:`mpe_psn_layer`).
    """
    tau, refine_steps, surrogate = check_mpe_args(x, threshold, tau, estimator, refine_steps, noise, surrogate, alpha)
    return mpe_psn_potentials(
        x, threshold, tau, estimator=estimator, refine_steps=refine_steps, noise=noise, surrogate=surrogate,
        generator=generator, backend=backend,
    )


def mpe_psn_layer(
    x: torch.Tensor,
    threshold: "float | torch.Tensor",
    tau: float = 0.25,
    kappa: torch.Tensor | None = None,
    *,
    estimator: str = "bernoulli",
    refine_steps: int = 0,
    noise: torch.Tensor | None = None,
    surrogate: "str | Surrogate" = "triangular",
    generator: torch.Generator | None = None,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """What a network layer needs: ``(spikes, L_mem)``.

    ``L_mem = mean over all elements of kappa[t] * (vhat - V)**2`` (kappa [T], or None for
    uniform 1/T; :func:`mpe_psn.functional.kappa_weighted_mean`). Fused paths never store vhat
    or V: the op returns the per-step mean squared error and the backward recomputes
    everything from ``x`` and the seed. Gradients reach ``x``, ``threshold`` (tensor) and ``kappa``.
    """
    if isinstance(tau, torch.Tensor) or not isinstance(tau, (int, float)):
        raise TypeError(
            f"tau must be a number (the decay factor), got {type(tau).__name__}; the argument order is "
            f"mpe_psn_layer(x, threshold, tau, kappa, ...)"
        )
    surrogate = get_surrogate(surrogate)
    chosen, strict = _fused_or_reference(x, threshold, backend)

    def reference() -> tuple[torch.Tensor, torch.Tensor]:
        result = mpe_psn_unchecked(x, threshold, tau, estimator, refine_steps, noise, surrogate, generator)
        return result.spikes, membrane_loss_terms(result.v_hat, result.v, kappa)

    if chosen == "reference":
        return reference()
    from mpe_psn.ops.mpe.op import run_layer

    args = _op_args(x, threshold, tau, estimator, refine_steps, noise, surrogate, generator)

    def fused() -> tuple[torch.Tensor, torch.Tensor]:
        spikes, step_err, _ = run_layer(*args, chosen)
        return spikes, kappa_weighted_mean(step_err, kappa)

    return _guarded(chosen, strict, fused, reference, _probe_args(args))
