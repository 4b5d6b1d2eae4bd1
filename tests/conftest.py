import os
import tempfile
from pathlib import Path

# A fresh TorchInductor cache for every test run: a cache left by an older build of the custom
# ops can hand back a stale compiled graph (seen after a schema change).
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="mpe-psn-inductor-"))

import pytest

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
