import os
import tempfile
from pathlib import Path

# A fresh TorchInductor cache for every test run: a cache left by an older build of the custom
# ops can hand back a stale compiled graph (seen after a schema change).
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="mpe-psn-inductor-"))

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_SAMPLES = REPO_ROOT.parent / "shared" / "real-samples"


@pytest.fixture
def real_samples() -> Path:
    """The folder of real event recordings kept beside the repository (skip if absent)."""
    if not REAL_SAMPLES.is_dir():
        pytest.skip(f"real recordings not found at {REAL_SAMPLES} (they live in ../shared/real-samples)")
    return REAL_SAMPLES
