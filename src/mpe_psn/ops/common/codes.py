"""The surrogate codes every fused kernel is specialised on: the one table for every op and backend.

The surrogate gradient of the spike, dS/du, is passed to the kernels as an integer
(``functional.surrogate`` names them). Imported by the host code, the numba kernels (as
compile-time globals) and the Triton kernels (as ``tl.constexpr``). This module imports
nothing, so every kernel module can use it; an op's own codes (MPE-PSN's estimators) live in
that op's ``codes.py``, which imports these.
"""

#: surrogate name -> code
SURROGATE_CODES = {"triangular": 0, "sigmoid": 1, "arctan": 2}
SURROGATE_NAMES = {code: name for name, code in SURROGATE_CODES.items()}
SURR_TRIANGULAR = SURROGATE_CODES["triangular"]
SURR_SIGMOID = SURROGATE_CODES["sigmoid"]
SURR_ARCTAN = SURROGATE_CODES["arctan"]
