"""The neurons as pure functions of time-major tensors [T, ...]: no state, no kernels, no I/O."""

from mpe_psn.functional.lif import LIFResult, lif
from mpe_psn.functional.mpe import (
    MPEResult,
    estimate_potential,
    kappa_weighted_mean,
    membrane_loss_terms,
    mpe_psn,
    shift_in_time,
)
from mpe_psn.functional.psn import psn
from mpe_psn.functional.surrogate import SURROGATES, Surrogate, get_surrogate, heaviside, spike

__all__ = [
    "LIFResult",
    "MPEResult",
    "SURROGATES",
    "Surrogate",
    "estimate_potential",
    "get_surrogate",
    "heaviside",
    "kappa_weighted_mean",
    "lif",
    "membrane_loss_terms",
    "mpe_psn",
    "psn",
    "shift_in_time",
    "spike",
]
