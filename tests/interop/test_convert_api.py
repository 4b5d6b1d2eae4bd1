"""The public face: mpe_psn.convert, and no rival imported until a model needs it."""

import subprocess
import sys

import mpe_psn
from mpe_psn.interop import convert


def test_convert_is_exported_at_the_top_level():
    assert mpe_psn.convert is convert
    assert "convert" in mpe_psn.__all__


def test_importing_interop_imports_no_other_framework():
    code = (
        "import sys, mpe_psn, mpe_psn.interop; "
        "print(sorted(m for m in ('spikingjelly', 'snntorch', 'norse', 'tonic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
