"""The integer codes the fused kernels are specialised on: one definition for every backend.

Imported by the host code, the numba kernels (as compile-time globals) and the Triton kernels
(as ``tl.constexpr``); this module imports nothing, so every kernel module can use it.
"""

#: how the Bernoulli sample b = 1[u < sigmoid(x)] gets its uniform u
EST_HASH = 0  # u = hash(seed, flat index), recomputed in the backward (noise.py)
EST_NOISE = 1  # u read from a caller's noise tensor
EST_EXPECTED = 2  # no sample: vhat = (1 - sigmoid(x)) * x
EST_MASK = 3  # CPU backward only: b read from the forward's one-byte record

#: surrogate gradient of the spike, dS/du
SURROGATE_CODES = {"triangular": 0, "sigmoid": 1, "arctan": 2}
