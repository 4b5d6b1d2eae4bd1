"""Compile every Triton kernel specialisation for a GPU architecture, without a GPU.

``triton.compile`` with an ``ASTSource`` and a ``GPUTarget`` runs Triton's whole pipeline down
to a cubin with the ``ptxas`` that Triton ships, so a compile error shows up on any machine.
For each specialisation the host can launch (``triton_host.specializations()`` times
``triton_kernels.TUNING_CONFIGS``) :func:`compile_all` returns the registers per thread and
the spill bytes that ``ptxas -v`` reports for the PTX Triton produced.

The kernels are compiled from a private copy of ``triton_kernels`` imported with
``TRITON_INTERPRET`` unset. A process that imported Triton under its interpreter (the tests)
cannot compile (Triton's own library functions are then interpreted): use
:func:`compile_in_subprocess` there.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from mpe_psn.utils.atomic import atomic_write_json

ARCHS = (80, 90)


@dataclass(frozen=True)
class CompiledKernel:
    kernel: str
    arch: int
    dtype: str
    constexprs: str
    block: int
    num_warps: int
    registers: int
    spill_stores: int
    spill_loads: int

    def as_dict(self) -> dict:
        return asdict(self)


def _fresh_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _compiled_kernels_module():
    """A copy of ``triton_kernels`` whose kernels are real ``JITFunction``s, also in a process
    that runs them interpreted: the shared device functions it calls (``ops/common/triton_math``)
    are copied too, while it loads, so that none of them is an interpreted function."""
    shared = "mpe_psn.ops.common.triton_math"
    saved = os.environ.pop("TRITON_INTERPRET", None)
    loaded = sys.modules.get(shared)
    try:
        sys.modules[shared] = _fresh_module(shared, Path(__file__).parents[1] / "common" / "triton_math.py")
        return _fresh_module("mpe_psn_triton_kernels_compiled", Path(__file__).with_name("triton_kernels.py"))
    finally:
        if loaded is not None:
            sys.modules[shared] = loaded
        else:
            sys.modules.pop(shared, None)
        if saved is not None:
            os.environ["TRITON_INTERPRET"] = saved


def _ptxas_report(ptx: str, arch: int) -> tuple[int, int, int]:
    """``(registers, spill store bytes, spill load bytes)`` from ``ptxas -v`` on ``ptx``."""
    from triton.backends.nvidia.compiler import get_ptxas

    gpu = f"sm_{arch}a" if arch >= 90 else f"sm_{arch}"
    with tempfile.TemporaryDirectory(prefix="mpe-psn-ptx-") as tmp:
        src = Path(tmp) / "k.ptx"
        src.write_text(ptx)
        out = subprocess.run(
            [get_ptxas(arch).path, "-v", "--fmad=false", f"--gpu-name={gpu}", str(src), "-o", str(Path(tmp) / "k.o")],
            capture_output=True, text=True, check=True,
        ).stderr
    registers = re.search(r"Used (\d+) registers", out)
    spills = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", out)
    if registers is None or spills is None:
        raise RuntimeError(f"could not read registers and spills from ptxas output:\n{out}")
    return int(registers.group(1)), int(spills.group(1)), int(spills.group(2))


#: the files the compiled kernels are made of: MPE-PSN's kernels and codes, and the shared
#: Triton helpers and surrogate codes they call (``ops/common``)
SOURCES = (*(Path(__file__).with_name(name) for name in ("triton_kernels.py", "codes.py")),
           *(Path(__file__).parents[1] / "common" / name for name in ("triton_math.py", "codes.py")))


def source_fingerprint() -> str:
    """What the compiled code depends on in this repository: kernel sources and the spec list."""

    from mpe_psn.ops.mpe import triton_host  # needs triton, an optional dependency

    digest = hashlib.sha256()
    for path in SOURCES:
        digest.update(path.read_bytes())
    for spec in triton_host.specializations():
        digest.update(repr((spec, sorted(triton_host.signature(spec).items()))).encode())
    return digest.hexdigest()


def toolchain() -> str:
    """Triton's version and its ptxas's (registers may change with either)."""
    import triton
    from triton.backends.nvidia.compiler import get_ptxas_version

    ptxas = str(get_ptxas_version(90)).strip().splitlines()
    return f"triton {triton.__version__}; {ptxas[-1] if ptxas else 'ptxas ?'}"


def fingerprint() -> str:
    """Sources and toolchain together (kept in the report for a quick equality check)."""

    import triton
    from triton.backends.nvidia.compiler import get_ptxas_version

    digest = hashlib.sha256()
    for path in SOURCES:
        digest.update(path.read_bytes())
    from mpe_psn.ops.mpe import triton_host  # needs triton, an optional dependency

    for spec in triton_host.specializations():
        digest.update(repr((spec, sorted(triton_host.signature(spec).items()))).encode())
    digest.update(triton.__version__.encode())
    digest.update(str(get_ptxas_version(90)).encode())
    return digest.hexdigest()


def write_report(path: "str | Path", rows: list[CompiledKernel]) -> None:
    """The compile report the tests check against: fingerprint, configs and every row."""
    from mpe_psn.ops.mpe import triton_kernels  # needs triton, an optional dependency

    atomic_write_json(path, {
        "fingerprint": fingerprint(),
        "sources": source_fingerprint(),
        "toolchain": toolchain(),
        "configs": [list(c) for c in triton_kernels.TUNING_CONFIGS],
        "rows": [r.as_dict() for r in rows],
    })


def compile_all(archs=ARCHS, specs=None, configs=None) -> list[CompiledKernel]:
    """Compile each spec x config for each arch; raises on the first compile error."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from mpe_psn.ops.mpe import triton_host  # needs triton, an optional dependency

    module = _compiled_kernels_module()
    specs = triton_host.specializations() if specs is None else specs
    configs = module.TUNING_CONFIGS if configs is None else configs
    rows = []
    for arch in archs:
        for spec in specs:
            for block, warps in configs:
                constexprs = dict(spec.constexprs, BLOCK=block)
                source = ASTSource(
                    fn=getattr(module, spec.kernel), signature=triton_host.signature(spec), constexprs=constexprs
                )
                compiled = triton.compile(
                    source, target=GPUTarget("cuda", arch, 32), options={"num_warps": warps, "enable_fp_fusion": False}
                )
                registers, stores, loads = _ptxas_report(compiled.asm["ptx"], arch)
                flags = ",".join(f"{k}={int(v)}" for k, v in spec.constexprs)
                rows.append(CompiledKernel(spec.kernel, arch, spec.dtype, flags, block, warps, registers, stores, loads))
    return rows


def summary(rows: list[CompiledKernel]) -> str:
    """A markdown table: per kernel, arch and config, the register range and the largest spill."""
    groups: dict[tuple, list[CompiledKernel]] = {}
    for row in rows:
        groups.setdefault((row.kernel, row.arch, row.block, row.num_warps), []).append(row)
    lines = ["| kernel | arch | BLOCK | warps | specialisations | registers (min-max) | spill bytes (max) |",
             "|---|---|---|---|---|---|---|"]
    for (kernel, arch, block, warps), group in sorted(groups.items()):
        regs = [r.registers for r in group]
        spill = max(max(r.spill_stores, r.spill_loads) for r in group)
        lines.append(f"| {kernel} | sm_{arch} | {block} | {warps} | {len(group)} | {min(regs)}-{max(regs)} | {spill} |")
    return "\n".join(lines)


def compile_in_subprocess(rows: list[dict], timeout: float = 600) -> list[dict]:
    """Compile the (kernel, arch, dtype, constexprs, block, num_warps) of each row in a fresh
    Python process; returns the compiled rows (with registers and spills) as dicts."""

    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run(
        [sys.executable, "-m", "mpe_psn.ops.mpe.triton_compile", "--rows"], input=json.dumps(rows),
        capture_output=True, text=True, env=env, timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"compiling in a subprocess failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout)


def _compile_rows(rows: list[dict]) -> list[dict]:
    from mpe_psn.ops.mpe import triton_host  # needs triton, an optional dependency

    by_spec = {(s.kernel, s.dtype, ",".join(f"{k}={int(v)}" for k, v in s.constexprs)): s
               for s in triton_host.specializations()}
    out = []
    for row in rows:
        spec = by_spec[(row["kernel"], row["dtype"], row["constexprs"])]
        (compiled,) = compile_all(archs=(row["arch"],), specs=[spec], configs=[(row["block"], row["num_warps"])])
        out.append(compiled.as_dict())
    return out


if __name__ == "__main__":  # python -m mpe_psn.ops.mpe.triton_compile [report.json] | --rows < rows.json
    import time

    if sys.argv[1:] == ["--rows"]:
        print(json.dumps(_compile_rows(json.loads(sys.stdin.read()))))
        sys.exit(0)
    start = time.perf_counter()
    result = compile_all()
    print(summary(result))
    print(f"{len(result)} kernels compiled in {time.perf_counter() - start:.0f} s")
    if len(sys.argv) > 1:
        write_report(sys.argv[1], result)
