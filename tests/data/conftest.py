from __future__ import annotations

from pathlib import Path

import pytest


REAL_SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "real-samples"


@pytest.fixture
def real_samples() -> Path:
    folder = REAL_SAMPLES.resolve()
    if not folder.is_dir():
        pytest.skip(f"real recordings not found at {folder} (the shared/real-samples folder beside the repository)")
    return folder
