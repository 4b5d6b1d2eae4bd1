"""Choose the implementation of the MPE-PSN layer.

``backend`` is one of ``"auto"``, ``"reference"``, ``"triton"``, ``"cpu"``; the environment
variable ``MPE_PSN_BACKEND`` overrides ``"auto"``.

Only the reference path exists so far; the fused kernels plug in here.
"""

from __future__ import annotations

import os

import torch

from mpe_psn.functional.mpe import MPEResult, membrane_loss_terms, mpe_psn_unchecked
from mpe_psn.functional.surrogate import Surrogate, get_surrogate

BACKENDS = ("auto", "reference", "triton", "cpu")


def resolve_backend(backend: str, device: torch.device) -> str:
    """The concrete backend for ``device`` ("reference" until fused kernels are registered)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
    if backend == "auto":
        backend = os.environ.get("MPE_PSN_BACKEND", "auto") or "auto"
        if backend not in BACKENDS:
            raise ValueError(f"MPE_PSN_BACKEND={backend!r} is not one of {list(BACKENDS)}")
    return "reference"


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
    """Spikes, estimate and corrected potential (arguments already checked by the caller)."""
    resolve_backend(backend, x.device)
    return mpe_psn_unchecked(x, threshold, tau, estimator, refine_steps, noise, surrogate, generator)


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
    """What a network layer needs: ``(spikes, L_mem)``; fused paths never store vhat or V."""
    surrogate = get_surrogate(surrogate)
    result = mpe_psn_potentials(
        x, threshold, tau=tau, estimator=estimator, refine_steps=refine_steps, noise=noise,
        surrogate=surrogate, generator=generator, backend=backend,
    )
    return result.spikes, membrane_loss_terms(result.v_hat, result.v, kappa)
