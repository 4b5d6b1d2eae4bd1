import os
import tempfile
from pathlib import Path

# A fresh TorchInductor cache for every test run: a cache left by an older build of the custom
# ops can hand back a stale compiled graph (seen after a schema change).
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="mpe-psn-inductor-"))

import pytest

# On a machine without CUDA the Triton kernels can only run under Triton's interpreter. Triton
# reads TRITON_INTERPRET when it decorates a kernel and again in parts of itself that it imports
# lazily, so a worker whose first lazy import happened without it (a test of another folder
# touching Triton first) later failed inside the interpreted kernels. Set it for the whole
# session, before anything imports Triton; the compile check strips it from its subprocess.
if not os.path.exists("/dev/nvidiactl"):  # no NVIDIA driver on this machine
    os.environ.setdefault("TRITON_INTERPRET", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
# Real event recordings (nmnist_sample.bin, sample.aedat4) are not part of the repository:
# the tests that read them run when MPE_PSN_REAL_SAMPLES names a folder holding them.
REAL_SAMPLES = Path(os.environ["MPE_PSN_REAL_SAMPLES"]) if os.environ.get("MPE_PSN_REAL_SAMPLES") else None


@pytest.fixture
def real_samples() -> Path:
    """The folder of real event recordings kept beside the repository (skip if absent)."""
    if REAL_SAMPLES is None or not REAL_SAMPLES.is_dir():
        pytest.skip(f"real recordings not found (MPE_PSN_REAL_SAMPLES={REAL_SAMPLES}); set it to a folder holding them")
    return REAL_SAMPLES
