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


#: The quick tier, ``python -m pytest -q -m quick``: the core of every room in under 3 minutes
#: on 2 cores (neuron math, kernels against the reference, a short training run, readers on fake
#: files, the export round trip). Node-id prefixes; a test marked ``slow`` never joins. The one
#: place to add a test to the tier.
QUICK = (
    "tests/functional/",
    "tests/test_neurons.py",
    "tests/test_neuron_settings.py",
    "tests/test_losses.py",
    "tests/test_streaming.py",
    "tests/ops/test_fused_layer.py",
    "tests/ops/test_dispatch.py",
    "tests/ops/test_sampling.py",
    "tests/ops/test_op_counts.py",
    "tests/ops/test_lif",
    "tests/training/test_learning.py::test_a_short_run_learns",
    "tests/training/test_config.py",
    "tests/data/test_readers.py",
    "tests/data/test_frames.py",
    "tests/data/test_shd.py::test_frames_equal_independent_binning",
    "tests/data/test_shd.py::test_bad_file_names_file_and_key",
    "tests/data/test_shd.py::test_lying_sequence_length_is_an_error",
    "tests/models/test_models.py",
    "tests/export/test_nir.py",
    "tests/test_docs_numbers.py",
    "tests/test_architecture.py",
)


#: tests of a minute or more each (the documentation pages run as written, the docs' numbers):
#: run first, so that with ``-n 2`` the short tests fill the end instead of one worker waiting
#: on a long one while the other idles
RUN_FIRST = ("tests/test_docs_numbers.py", "tests/test_docs.py::test_page_runs_as_written")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.startswith(QUICK) and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.quick)
    items.sort(key=lambda item: not item.nodeid.startswith(RUN_FIRST))  # stable: the rest keep their order
