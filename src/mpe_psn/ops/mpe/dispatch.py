"""Choose the implementation of the MPE-PSN layer and call it: MPE-PSN's policy on the shared
backend registry (``ops/registry.py``) and fallback (``ops/fallback.py``).

``backend`` is one of :data:`BACKENDS`: ``"auto"``, ``"reference"`` or a fused backend
registered for op ``"mpe"`` (``ops/mpe/backends.py``: ``"cpu"``, ``"triton"``):

* ``"auto"``: the environment variable ``MPE_PSN_BACKEND`` if set, else the first fused backend
  that runs on the data's device and dtype (the numba kernel for CPU tensors, Triton for CUDA
  tensors), else the reference (``mpe_psn.functional``).
* a fused backend named by the caller (or by ``MPE_PSN_BACKEND``) that cannot run on the
  device or dtype (Triton on a CPU tensor outside the Triton interpreter, numba missing, the
  CPU kernel on a CUDA tensor, float64 on Triton) is an error
  (:class:`~mpe_psn.ops.registry.BackendUnavailable`, a ``ValueError``) naming why and what
  runs there. It never falls back silently.
* limits of one call, whatever the backend: a per-channel threshold (more than one value) and,
  on Triton, more than 2**31 - 1 neurons per time step run the reference, with a one-time
  warning (the kernels take one scalar threshold and an int32 neuron count; ``T * N`` may
  pass 2**31); an empty input runs the reference.
* never break a user: under ``"auto"`` (without ``MPE_PSN_BACKEND``) a fused kernel that fails
  to compile or launch is tried once on a small probe per setting (backend, device, dtype,
  estimator, refinement, surrogate: :func:`_setting_key`) before it runs a real layer. A
  failure there or in a real forward sends *that setting only* to the reference for the rest
  of the process, with one warning naming the error (``ops.fallback.guarded``;
  :func:`fallbacks` lists the settings that fell back). The probe runs with gradients on even
  under ``torch.no_grad()`` or ``torch.inference_mode()``, so evaluating a model never costs its
  training steps the fused path. Inside ``torch.compile`` nothing is caught.

The path taken is logged once per (request, device type) at INFO on ``logging.getLogger("mpe_psn")``
(by the first eager call: inside ``torch.compile`` a logger call would break the graph).

Per call the fused path reads nothing on the host and dispatches few torch ops: the seed is one
``randint`` on the data's device (from ``generator`` or the device's default generator, so
``torch.manual_seed`` reproduces a run), a float threshold is a cached 0-dim tensor, and kappa,
the threshold and the seed reach the kernels as memory. Once a call signature (request,
device, dtype, estimator, refinement, surrogate, tau, which optional tensors) has run fused,
its decisions are kept (``_plans``): later eager calls with it go straight to the kernels, and
only an exception sends one back through the whole policy above.
"""

from __future__ import annotations

import logging
import os
from typing import Callable

import torch

from mpe_psn.functional.mpe import MPEResult, check_mpe_args, membrane_loss_terms, mpe_psn_unchecked
from mpe_psn.functional.surrogate import Surrogate, get_surrogate
from mpe_psn.ops import registry
from mpe_psn.ops.fallback import failed as fallback_failed
from mpe_psn.ops.fallback import fallbacks, guarded, warn_once
from mpe_psn.ops.mpe.backends import OP
from mpe_psn.ops.mpe.codes import EST_HASH, EST_NOISE, ESTIMATOR_NAMES, SURROGATE_CODES, SURROGATE_NAMES, estimator_code
from mpe_psn.ops.mpe.noise import draw_cpu_seed, draw_seed
from mpe_psn.ops.mpe.op import Setting, potentials, run_eager, run_layer, setting

__all__ = ["BACKENDS", "fallbacks", "mpe_psn", "mpe_psn_layer", "mpe_psn_potentials", "resolve_backend"]

#: every name a caller may pass: "auto", "reference", then the registered fused backends
BACKENDS = registry.choices(OP)
ENV_VAR = registry.ENV_VAR
#: the Triton kernels' neuron count per step is an int32
MAX_NEURONS = 2**31 - 1

logger = logging.getLogger("mpe_psn")
#: (request, env value, device, dtype) -> (chosen, strict) of eager calls
_routes: dict[tuple, tuple[str, bool]] = {}
_logged: set[tuple[str, str, str]] = set()
#: (value, device) -> the 0-dim float32 tensor of a threshold given as a number (eager calls)
_thresholds: dict[tuple[float, torch.device], torch.Tensor] = {}
#: call signature (:func:`_signature`) -> its fast path (:func:`_planned`) once it ran fused
_plans: dict[tuple, Callable[..., "tuple[torch.Tensor, torch.Tensor] | None"]] = {}
#: ``os.environ``'s own mapping, read without encoding the name on every call (eager calls)
_ENVIRON = getattr(os.environ, "_data", None)
_ENV_KEY = os.environ.encodekey(ENV_VAR) if hasattr(os.environ, "encodekey") else ENV_VAR


def _requested_env() -> "str | bytes | None":
    """The raw value of ``MPE_PSN_BACKEND`` (None when unset); a key, not parsed."""
    if _ENVIRON is None or torch.compiler.is_compiling():
        return os.environ.get(ENV_VAR)
    return _ENVIRON.get(_ENV_KEY)


def resolve_backend(backend: str, device: "torch.device | str", dtype: torch.dtype = torch.float32) -> str:
    """The concrete backend (``"reference"`` or a fused one) for tensors on ``device`` of ``dtype``.

    Raises ``ValueError`` for an unknown name and :class:`~mpe_psn.ops.registry.BackendUnavailable`
    for a named backend that cannot run there.
    """
    return _route(backend, torch.device(device), dtype)[0]


def _route(backend: str, device: torch.device, dtype: torch.dtype) -> tuple[str, bool]:
    """``(chosen, strict)`` (``registry.select``), remembered per request, device and dtype."""
    key = (backend, _requested_env() if backend == registry.AUTO else None, device, dtype)
    route = _routes.get(key)
    if route is None:
        route = registry.select(OP, backend, device, dtype)
        if not torch.compiler.is_compiling():  # a logger call breaks the graph; log from an eager call
            _routes[key] = route
            env = os.environ.get(ENV_VAR, "").strip().lower()
            requested = backend if backend != registry.AUTO or not env else f"{ENV_VAR}={env}"
            if (requested, device.type, route[0]) not in _logged:
                _logged.add((requested, device.type, route[0]))
                logger.info("MPE-PSN layer: %s path for %s tensors (requested %s)", route[0], device.type, requested)
    return route


def _fused_or_reference(x: torch.Tensor, threshold, backend: str) -> tuple[str, bool]:
    """Resolve, then check the limits of the fused kernels for this call: ``(chosen, strict)``."""
    chosen, strict = _route(backend, x.device, x.dtype)
    if chosen == registry.REFERENCE:
        return chosen, strict
    if isinstance(threshold, torch.Tensor) and threshold.numel() != 1:
        warn_once(
            "mpe threshold-shape",
            f"the fused MPE-PSN kernels take one scalar threshold, got shape {tuple(threshold.shape)}; "
            f"using the reference implementation for this layer",
        )
        return registry.REFERENCE, strict
    if chosen == "triton" and x.numel() // max(x.shape[0], 1) > MAX_NEURONS:
        warn_once(
            "mpe too-large",
            f"the Triton MPE-PSN kernels take up to {MAX_NEURONS} neurons per time step, got "
            f"{x.numel() // x.shape[0]} (input shape {tuple(x.shape)}); using the reference implementation",
        )
        return registry.REFERENCE, strict
    if x.numel() == 0:
        return registry.REFERENCE, strict
    return chosen, strict


def _setting_key(s: Setting, x: torch.Tensor) -> tuple:
    """The key of one kernel setting: what a probe compiles and a fallback applies to."""
    return (s.backend, x.device, x.dtype, s.cfg.est_mode, min(s.passes, 3), s.cfg.surrogate)


def _describe(key: tuple) -> str:
    chosen, device, dtype, code, passes, surrogate_code = key
    estimator, surrogate = ESTIMATOR_NAMES.get(code, code), SURROGATE_NAMES.get(surrogate_code, surrogate_code)
    return f"{chosen} {device} {str(dtype).replace('torch.', '')} {estimator} passes={passes} {surrogate}"


def _probe(s: Setting, x: torch.Tensor) -> None:
    """Forward and backward of the fused op on a small input with this call's setting, once.

    The same kernel specialisations as the real layer (dtype, estimator, refinement passes,
    surrogate) compile and launch here, so a failure in the backward surfaces before the
    real forward, while a fallback is still possible. Raises what the kernels raise.
    """
    T, N = 4, 1031  # more than one program, and N not a multiple of any block
    # inference_mode(False): under torch.inference_mode() enable_grad alone still makes
    # inference tensors, which cannot require grad, and the probe's backward would fail
    with torch.inference_mode(False), torch.enable_grad():
        xp = torch.linspace(-2.0, 3.0, T * N, device=x.device).reshape(T, N).to(x.dtype).requires_grad_(True)
        noise = torch.rand(T, N, device=x.device) if s.cfg.est_mode == EST_NOISE else None
        theta = torch.ones((), dtype=torch.float32, device=x.device, requires_grad=True)
        kappa = torch.full((T,), 0.5, device=x.device, requires_grad=True)
        seed = torch.zeros((), dtype=torch.int64, device=x.device) if s.cfg.est_mode == EST_HASH else None
        probe = setting(s.backend, s.cfg.est_mode, min(s.passes, 3), s.cfg.surrogate, s.cfg.alpha, s.cfg.tau,
                        s.kappa_softmax)
        spikes, mem_loss = run_layer(xp, theta, kappa, noise, seed, probe)
        torch.autograd.grad(spikes.float().sum() + mem_loss, [xp, theta, kappa])


def _threshold_tensor(threshold: "float | torch.Tensor", device: torch.device) -> torch.Tensor:
    """The threshold as the kernels take it: a 0-dim float32 tensor on ``device`` (gradients
    flow back through the conversion). A number becomes a cached constant in eager mode."""
    if isinstance(threshold, torch.Tensor):
        if threshold.dtype == torch.float32 and threshold.dim() == 0 and threshold.device == device:
            return threshold
        return threshold.to(device=device, dtype=torch.float32).reshape(())
    if torch.compiler.is_compiling():
        return torch.full((), float(threshold), dtype=torch.float32, device=device)
    key = (float(threshold), device)
    found = _thresholds.get(key)
    if found is None:
        if len(_thresholds) >= 256:  # callers keep their own reference: clearing frees nothing in use
            _thresholds.clear()
        with torch.inference_mode(False):  # a normal tensor, which a later training call may save
            found = _thresholds[key] = torch.full((), key[0], dtype=torch.float32, device=device)
    return found


def _kappa_tensor(kappa: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    """kappa as the kernels take it: float32 [T], contiguous, on x's device (None: uniform)."""
    if kappa is None:
        return None
    T = x.shape[0]
    if kappa.shape != (T,):
        raise ValueError(f"kappa must have one weight per time step, shape ({T},), got {tuple(kappa.shape)}")
    if kappa.dtype != torch.float32 or kappa.device != x.device:
        kappa = kappa.to(device=x.device, dtype=torch.float32)
    return kappa.contiguous()


def _setting_of(x, estimator, refine_steps, noise, surrogate: Surrogate, chosen: str, tau, kappa_softmax=False) -> Setting:
    """The kernel setting of one fused call."""
    return setting(chosen, estimator_code(estimator, noise is not None), 1 + min(refine_steps, x.shape[0] - 1),
                   SURROGATE_CODES[surrogate.name], float(surrogate.alpha), float(tau), kappa_softmax)


def _prepare(s: Setting, x, threshold, kappa, noise, generator, reuse_seed: bool = False):
    """The tensors of one fused call as the kernels take them: ``(x, threshold, kappa, noise, seed)``.

    ``reuse_seed``: the layer reads its seed only in the forward (``Setting.seed_read_once``), so
    it is drawn into this thread's seed buffer (eager calls)."""
    code = s.cfg.est_mode
    noise = noise.to(torch.float32).contiguous() if code == EST_NOISE else None
    seed = draw_seed(generator, x.device, reuse_seed) if code == EST_HASH else None
    return x.contiguous(), _threshold_tensor(threshold, x.device), _kappa_tensor(kappa, x), noise, seed


def _signature(backend, x, estimator, refine_steps, noise, surrogate, tau, kappa, kappa_logits) -> tuple:
    """What the decisions of a call depend on, besides values (see ``_plans``)."""
    return (backend, _requested_env() if backend == registry.AUTO else None, x.device, x.dtype, estimator,
            refine_steps, x.shape[0] if refine_steps else 0, surrogate, tau, noise is None, kappa is None,
            kappa_logits is None)


def _fast_path_fits(x: torch.Tensor, threshold) -> bool:
    """The per-call limits (``_fused_or_reference``) that depend on values: the fast path runs
    only calls within them (a Triton layer past 2**31 neurons never gets a plan)."""
    return 0 < x.numel() <= MAX_NEURONS * x.shape[0] and (not isinstance(threshold, torch.Tensor) or
                                                        threshold.numel() == 1) and not torch.compiler.is_compiling()


def _planned(s: Setting, strict: bool, device: torch.device):
    """The fast path of a call signature that ran fused on ``device``: ``run(x, threshold, kappa,
    noise, generator) -> (spikes, mem_loss)``, or None for a call it leaves to the whole policy
    (a value past the kernels' limits, :func:`_fast_path_fits`; a tensor subclass; under
    ``"auto"``, a failure). Eager calls only. As few Python steps as a call allows: on a small
    layer they are most of its time (docs/benchmarks.md, "fixed cost of a call")."""
    hashed, noisy = s.cfg.est_mode == EST_HASH, s.cfg.est_mode == EST_NOISE
    reuse = s.seed_read_once and device.type == "cpu"
    bounded = s.backend == "triton"  # the Triton kernels' int32 neuron count
    thetas: dict[float, torch.Tensor] = {}  # this plan's number thresholds (one device: the signature's)

    def run(x, threshold, kappa, noise, generator):
        if type(x) is not torch.Tensor:
            return None
        numel = x.numel()
        if numel == 0 or (bounded and numel > MAX_NEURONS * x.shape[0]):
            return None
        if type(threshold) is float:
            theta = thetas.get(threshold)
            if theta is None:
                if len(thetas) >= 16:
                    thetas.clear()
                theta = thetas[threshold] = _threshold_tensor(threshold, device)
        elif isinstance(threshold, torch.Tensor) and threshold.numel() != 1:
            return None
        else:
            theta = _threshold_tensor(threshold, device)
        try:
            return run_eager(
                x.contiguous(), theta, None if kappa is None else _kappa_tensor(kappa, x),
                noise.to(torch.float32).contiguous() if noisy else None,
                (draw_cpu_seed(generator) if reuse else draw_seed(generator, device)) if hashed else None, s,
            )
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception:
            if strict:
                raise
            return None  # a failure under "auto": the whole policy decides (and records the fallback)

    return run


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

    if chosen == registry.REFERENCE:
        return reference()
    s = _setting_of(x, estimator, refine_steps, noise, surrogate, chosen, tau)
    xc, theta, _, noise_c, seed = _prepare(s, x, threshold, None, noise, generator)
    key = _setting_key(s, xc)

    def fused() -> MPEResult:
        c = s.cfg
        return MPEResult(*potentials(xc, theta, seed, noise_c, c.tau, c.est_mode, s.passes, c.surrogate, c.alpha,
                                     s.backend))

    return guarded(OP, key, lambda: _describe(key), strict, fused, reference, lambda: _probe(s, xc))


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
    kappa_logits: torch.Tensor | None = None,
    estimator: str = "bernoulli",
    refine_steps: int = 0,
    noise: torch.Tensor | None = None,
    surrogate: "str | Surrogate" = "triangular",
    generator: torch.Generator | None = None,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """What a network layer needs: ``(spikes, L_mem)``.

    ``L_mem = mean over all elements of kappa[t] * (vhat - V)**2`` (kappa [T], or None for
    uniform 1/T; :func:`mpe_psn.functional.kappa_weighted_mean`). ``kappa_logits`` [T] instead
    of ``kappa``: the weights are their softmax (a learned kappa, as ``MPEPSN`` keeps it), taken
    inside the fused layer. Fused paths never store vhat or V: the kernels reduce the membrane
    loss (``ops/mpe/passes.py``) and the backward recomputes everything from ``x`` and the
    seed. Gradients reach ``x``, ``threshold`` (tensor) and ``kappa`` (or ``kappa_logits``).
    """
    if isinstance(tau, torch.Tensor) or not isinstance(tau, (int, float)):
        raise TypeError(
            f"tau must be a number (the decay factor), got {type(tau).__name__}; the argument order is "
            f"mpe_psn_layer(x, threshold, tau, kappa, ...)"
        )
    if kappa_logits is not None and kappa is not None:
        raise ValueError("pass kappa (weights) or kappa_logits (their softmax weighs the steps), not both")
    compiling = torch.compiler.is_compiling()
    signature = None if compiling else _signature(backend, x, estimator, refine_steps, noise, surrogate, tau, kappa,
                                                  kappa_logits)
    plan = None if compiling else _plans.get(signature)
    if plan is not None:
        result = plan(x, threshold, kappa if kappa_logits is None else kappa_logits, noise, generator)
        if result is not None:
            return result
    surrogate = get_surrogate(surrogate)
    chosen, strict = _fused_or_reference(x, threshold, backend)

    def reference() -> tuple[torch.Tensor, torch.Tensor]:
        result = mpe_psn_unchecked(x, threshold, tau, estimator, refine_steps, noise, surrogate, generator)
        weights = torch.softmax(kappa_logits, dim=0) if kappa_logits is not None else kappa
        return result.spikes, membrane_loss_terms(result.v_hat, result.v, weights)

    if chosen == registry.REFERENCE:
        return reference()
    softmax = kappa_logits is not None
    s = _setting_of(x, estimator, refine_steps, noise, surrogate, chosen, tau, softmax)
    xc, theta, weights, noise_c, seed = _prepare(s, x, threshold, kappa_logits if softmax else kappa, noise, generator,
                                                 s.seed_read_once and not torch.compiler.is_compiling())
    key = _setting_key(s, xc)
    result = guarded(OP, key, lambda: _describe(key), strict, lambda: run_layer(xc, theta, weights, noise_c, seed, s),
                     reference, lambda: _probe(s, xc))
    if fallback_failed(OP, key):
        _plans.pop(signature, None)
    elif _fast_path_fits(x, threshold):
        if len(_plans) >= 256:  # many signatures (surrogates made per call, say): start over
            _plans.clear()
        _plans[signature] = _planned(s, strict, x.device)
    return result
