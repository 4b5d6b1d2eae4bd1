"""Helpers shared by the kernel tests (imported by conftest at collection).

The Triton kernels run here on CPU tensors under Triton's interpreter. ``TRITON_INTERPRET``
is read when a kernel is decorated, so it is set only while ``triton_kernels`` is imported
(at collection, before any test runs) and restored right after: other test folders in the
same (xdist) process never see it.
"""

from __future__ import annotations

import os

import pytest
import torch


def _import_interpreted_triton() -> bool:
    """Import the Triton kernels interpreted (a CPU machine), or compiled where CUDA is there:
    on a GPU machine ``test_gpu.py`` must launch the real kernels, so nothing is interpreted."""
    if torch.cuda.is_available():
        import mpe_psn.ops.mpe.triton_kernels  # noqa: F401  (compiled kernels for the GPU tests)

        return False
    old = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        from mpe_psn.ops.mpe import triton_kernels
    except Exception:
        return False
    finally:
        if old is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = old
    return triton_kernels.INTERPRETED


#: the Triton kernels run here on CPU tensors, interpreted (False on a machine with CUDA)
TRITON_ON_CPU = _import_interpreted_triton()

#: the fused backends testable on this machine
FUSED = ["cpu"] + (["triton"] if TRITON_ON_CPU else [])
needs_triton = pytest.mark.skipif(not TRITON_ON_CPU, reason="triton is not installed (interpreter tests)")


def reference_layer(x, threshold, kappa, estimator, refine_steps, noise, surrogate="triangular", alpha=None):
    """Spikes, L_mem and the reference's potentials in float32 (the fused paths' math)."""
    from mpe_psn.functional.mpe import membrane_loss_terms, mpe_psn_unchecked
    from mpe_psn.functional.surrogate import get_surrogate

    out = mpe_psn_unchecked(
        x.float(), threshold, 0.25, estimator, refine_steps, None if noise is None else noise.float(),
        get_surrogate(surrogate, alpha),
    )
    return out, membrane_loss_terms(out.v_hat, out.v, kappa)


def same_spikes(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-for-bit equal spike tensors (NaN where the other has NaN)."""
    a, b = a.float(), b.float()
    return bool(((a == b) | (a.isnan() & b.isnan())).all())
