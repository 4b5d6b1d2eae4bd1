"""The Triton LIF kernels compile for real GPUs (sm_80, sm_90) on a CPU machine: Triton's whole
pipeline down to a cubin with the ptxas it ships, in a process without the interpreter. No
spills, and no multiply-add contraction (which would change a threshold decision)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("triton")

COMPILE = """
import json
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from mpe_psn.ops.lif import triton_host, triton_kernels
from mpe_psn.ops.mpe.triton_compile import _ptxas_report
assert not triton_kernels.INTERPRETED
rows = []
for arch in (80, 90):
    for dtype in ("fp32", "fp16", "bf16"):
        for kernel in ("forward_kernel", "backward_kernel"):
            source = ASTSource(fn=getattr(triton_kernels, kernel), signature=triton_host.signature(kernel, dtype),
                               constexprs={"BLOCK": triton_host.BLOCK})
            compiled = triton.compile(source, target=GPUTarget("cuda", arch, 32),
                                      options={"num_warps": triton_host.WARPS, "enable_fp_fusion": False})
            ptx = compiled.asm["ptx"]
            registers, stores, loads = _ptxas_report(ptx, arch)
            rows.append([arch, dtype, kernel, registers, stores, loads, "fma.rn.f32" in ptx])
print(json.dumps(rows))
"""


def test_kernels_compile_for_sm80_and_sm90_without_spills_or_fma():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-c", COMPILE], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(rows) == 12
    for arch, dtype, kernel, registers, stores, loads, fma in rows:
        assert 0 < registers <= 64 and stores == 0 and loads == 0 and not fma, (arch, dtype, kernel)
