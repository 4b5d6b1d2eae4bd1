"""Kernel tests: import the Triton kernels in interpreter mode at collection time.

``TRITON_INTERPRET`` is read when a kernel is decorated, so ``kernel_helpers`` sets it only
while ``triton_kernels`` is imported (before any test runs) and restores it right after:
other test folders in the same (xdist) process never see it.
"""

import tests.ops.kernel_helpers  # noqa: F401  (imports the interpreted Triton kernels)


import pytest  # noqa: E402

from mpe_psn.ops import fallback  # noqa: E402
from mpe_psn.ops.mpe import dispatch  # noqa: E402


@pytest.fixture
def fresh_dispatch_state(monkeypatch):
    """A process with no backend choice, probe, warning or fallback remembered yet."""
    for name in ("_warned", "_probed"):
        monkeypatch.setattr(fallback, name, set())
    monkeypatch.setattr(fallback, "_failed", {})
    monkeypatch.setattr(dispatch, "_logged", set())
    monkeypatch.setattr(dispatch, "_routes", {})
    monkeypatch.setattr(dispatch, "_plans", {})
    monkeypatch.delenv("MPE_PSN_BACKEND", raising=False)
