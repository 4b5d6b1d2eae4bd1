"""Kernel tests: import the Triton kernels in interpreter mode at collection time.

``TRITON_INTERPRET`` is read when a kernel is decorated, so ``kernel_helpers`` sets it only
while ``triton_kernels`` is imported (before any test runs) and restores it right after:
other test folders in the same (xdist) process never see it.
"""

import tests.ops.kernel_helpers  # noqa: F401  (imports the interpreted Triton kernels)
