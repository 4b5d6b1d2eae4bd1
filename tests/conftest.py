import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_SAMPLES = REPO_ROOT.parent / "shared" / "real-samples"


@pytest.fixture
def real_samples() -> Path:
    """The folder of real event recordings kept beside the repository (skip if absent)."""
    if not REAL_SAMPLES.is_dir():
        pytest.skip(f"real recordings not found at {REAL_SAMPLES} (they live in ../shared/real-samples)")
    return REAL_SAMPLES
