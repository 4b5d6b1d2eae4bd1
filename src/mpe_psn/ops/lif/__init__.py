"""The exact LIF (``functional.lif``), fused: one pass over T per neuron with the membrane
potential in registers, a backward through time in reverse, on numba (CPU) or Triton (GPU).

Files: ``backends.py`` (the ``"cpu"`` and ``"triton"`` records of op ``"lif"`` in the shared
registry), ``cpu_kernels.py`` + ``cpu_host.py``, ``triton_kernels.py`` + ``triton_host.py``,
``op.py`` (the ``torch.library`` custom ops and their autograd), ``dispatch.py`` (checks,
backend choice, fallback: :func:`lif_spikes`). Kept for backward: ``x`` only (4 bytes per
element for float32 input, 2 for float16/bfloat16), plus the threshold; docs/kernels.md,
"The fused exact LIF".
"""

from mpe_psn.ops.lif import backends  # noqa: F401  (registers the backends)
from mpe_psn.ops.lif.dispatch import check_lif_backend, lif_spikes

__all__ = ["check_lif_backend", "lif_spikes"]
