"""The integer codes the fused MPE-PSN kernels are specialised on: the one table for every backend.

The estimator codes are MPE-PSN's own; the surrogate codes are shared by every fused op and
are defined in ``ops/common/codes.py`` (imported here, never typed twice). Imported by the host
code, the numba kernels (as compile-time globals) and the Triton kernels (as ``tl.constexpr``);
messages and the custom ops' docs read the names from here too. This module imports nothing
but ``common.codes``, so every kernel module can use it.
"""

from mpe_psn.ops.common.codes import SURROGATE_CODES, SURROGATE_NAMES  # noqa: F401  (MPE-PSN's table has both)

#: how the Bernoulli sample b = 1[u < sigmoid(x)] gets its uniform u
EST_HASH = 0  # u = hash(seed, flat index), recomputed in the backward (noise.py)
EST_NOISE = 1  # u read from a caller's noise tensor
EST_EXPECTED = 2  # no sample: vhat = (1 - sigmoid(x)) * x
EST_MASK = 3  # CPU backward only: b read from the forward's one-byte record

#: estimator code -> its name in messages (``fallbacks()``, errors)
ESTIMATOR_NAMES = {EST_HASH: "bernoulli", EST_NOISE: "bernoulli(noise)", EST_EXPECTED: "expected",
                   EST_MASK: "bernoulli(mask)"}


def estimator_code(estimator: str, has_noise: bool) -> int:
    """The code of ``estimator`` (``"bernoulli"`` or ``"expected"``), given a noise tensor or not."""
    if estimator == "expected":
        return EST_EXPECTED
    return EST_NOISE if has_noise else EST_HASH

