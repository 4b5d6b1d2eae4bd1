"""The integer codes the fused kernels are specialised on: the one table for every backend.

Imported by the host code, the numba kernels (as compile-time globals) and the Triton kernels
(as ``tl.constexpr``); messages and the custom ops' docs read the names from here too. This
module imports nothing, so every kernel module can use it.
"""

#: how the Bernoulli sample b = 1[u < sigmoid(x)] gets its uniform u
EST_HASH = 0  # u = hash(seed, flat index), recomputed in the backward (noise.py)
EST_NOISE = 1  # u read from a caller's noise tensor
EST_EXPECTED = 2  # no sample: vhat = (1 - sigmoid(x)) * x
EST_MASK = 3  # CPU backward only: b read from the forward's one-byte record

#: estimator code -> its name in messages (``fallbacks()``, errors)
ESTIMATOR_NAMES = {EST_HASH: "bernoulli", EST_NOISE: "bernoulli(noise)", EST_EXPECTED: "expected",
                   EST_MASK: "bernoulli(mask)"}

#: surrogate gradient of the spike, dS/du: name -> code (``functional.surrogate`` names them)
SURROGATE_CODES = {"triangular": 0, "sigmoid": 1, "arctan": 2}
SURROGATE_NAMES = {code: name for name, code in SURROGATE_CODES.items()}
SURR_TRIANGULAR = SURROGATE_CODES["triangular"]
SURR_SIGMOID = SURROGATE_CODES["sigmoid"]
SURR_ARCTAN = SURROGATE_CODES["arctan"]


def estimator_code(estimator: str, has_noise: bool) -> int:
    """The code of ``estimator`` (``"bernoulli"`` or ``"expected"``), given a noise tensor or not."""
    if estimator == "expected":
        return EST_EXPECTED
    return EST_NOISE if has_noise else EST_HASH

