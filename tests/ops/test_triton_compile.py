"""Every Triton specialisation the host can launch compiles for sm_80 and sm_90, without spills.

``tests/ops/triton_compile_report.json`` holds registers and spills of each (kernel, dtype,
constexprs, BLOCK, warps, arch), written by ``python -m mpe_psn.ops.mpe.triton_compile
tests/ops/triton_compile_report.json`` (about 3-4 minutes on 2 cores for all 540). Here:

* the report is current (its fingerprint of the kernel sources and the spec list matches) and
  covers exactly the launchable set, none spilling;
* a sample (the most register-hungry spec of each kernel, dtype and arch) is compiled now,
  without error or spill, and with the report's Triton and ptxas to the report's register
  counts: a few seconds. ``MPE_PSN_COMPILE_ALL=1`` compiles all of them;
* the interpreted host, driven through every code path, launches only specs in the list,
  and on a GPU it launches them autotuned over exactly the compiled configs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

pytest.importorskip("triton")
pytest.importorskip("triton.backends.nvidia.compiler")

import triton  # noqa: E402
from tests.ops.kernel_helpers import TRITON_ON_CPU  # noqa: E402

from mpe_psn.ops.mpe import triton_compile as C  # noqa: E402
from mpe_psn.ops.mpe import triton_host as H  # noqa: E402

REPORT = Path(__file__).with_name("triton_compile_report.json")
REGENERATE = "regenerate it: python -m mpe_psn.ops.mpe.triton_compile tests/ops/triton_compile_report.json"


def _key(row: dict) -> tuple:
    return (row["kernel"], row["arch"], row["dtype"], row["constexprs"], row["block"], row["num_warps"])


def _expected_keys(configs) -> set[tuple]:
    keys = set()
    for spec in H.specializations():
        flags = ",".join(f"{k}={int(v)}" for k, v in spec.constexprs)
        for arch in C.ARCHS:
            for block, warps in configs:
                keys.add((spec.kernel, arch, spec.dtype, flags, block, warps))
    return keys


@pytest.fixture(scope="module")
def report() -> dict:
    data = json.loads(REPORT.read_text())
    assert data["sources"] == C.source_fingerprint(), f"the compile report is stale (kernels or specs changed); {REGENERATE}"
    return data


def _same_toolchain(report: dict) -> bool:
    """Registers are compared only with the Triton and ptxas that wrote the report."""
    return report["toolchain"] == C.toolchain()


def test_report_covers_every_launchable_spec_without_spills(report):
    from mpe_psn.ops.mpe import triton_kernels

    assert [tuple(c) for c in report["configs"]] == list(triton_kernels.TUNING_CONFIGS)
    keys = [_key(r) for r in report["rows"]]
    assert len(keys) == len(set(keys))
    assert set(keys) == _expected_keys(triton_kernels.TUNING_CONFIGS)
    spilling = [r for r in report["rows"] if r["spill_stores"] or r["spill_loads"]]
    assert not spilling, f"{len(spilling)} specialisations spill, e.g. {spilling[:3]}"
    print("\n" + C.summary([C.CompiledKernel(**r) for r in report["rows"]]))


def _sample(report: dict, arch: int) -> list[dict]:
    """Per kernel and dtype on ``arch``: the spec with the most registers (ties: the first)."""
    best: dict[tuple, dict] = {}
    for row in report["rows"]:
        if row["arch"] != arch:
            continue
        key = (row["kernel"], row["dtype"])
        if key not in best or row["registers"] > best[key]["registers"]:
            best[key] = row
    return list(best.values())


@pytest.mark.parametrize("arch", C.ARCHS)
def test_compiles_now_as_reported(report, arch):
    """In a fresh process (this one runs Triton interpreted): the sample, or all with MPE_PSN_COMPILE_ALL=1."""
    every = os.environ.get("MPE_PSN_COMPILE_ALL") == "1"
    rows = [r for r in report["rows"] if r["arch"] == arch] if every else _sample(report, arch)
    compiled = C.compile_in_subprocess(rows)
    assert [_key(c) for c in compiled] == [_key(r) for r in rows]
    for now, then in zip(compiled, rows):
        assert now["spill_stores"] == now["spill_loads"] == 0, now
        if _same_toolchain(report):
            assert now["registers"] == then["registers"], (now, then, REGENERATE)
    if not _same_toolchain(report):
        pytest.skip(f"compiled without errors or spills, but with {C.toolchain()} instead of the report's "
                    f"{report['toolchain']}: registers not compared; {REGENERATE}")


@pytest.mark.skipif(not TRITON_ON_CPU, reason="needs the Triton interpreter")
def test_host_launches_only_compiled_specs(monkeypatch):
    """Drive every path of the interpreted host: estimators x refinement x dtypes x ops."""
    from mpe_psn.ops import mpe_psn as fused_mpe_psn
    from mpe_psn.ops import mpe_psn_layer

    monkeypatch.setattr(H, "LAUNCHED", set())
    g = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        x = torch.randn(3, 37, generator=g).to(dtype)
        noise = torch.rand(3, 37, generator=g)
        for options in (dict(), dict(noise=noise), dict(estimator="expected")):
            for refine in (0, 2):
                xl = x.clone().requires_grad_(True)
                spikes, loss = mpe_psn_layer(xl, 1.0, 0.25, refine_steps=refine, backend="triton", **options)
                (spikes.float().sum() + loss).backward()  # an expanded scalar gradient
                spikes, loss = mpe_psn_layer(xl, 1.0, 0.25, refine_steps=refine, backend="triton", **options)
                torch.autograd.grad((spikes.float() * torch.rand(spikes.shape, generator=g)).sum() + loss, xl)
                fused_mpe_psn(x, 1.0, 0.25, refine_steps=refine, backend="triton", **options)
    listed = set(H.specializations())
    assert H.LAUNCHED, "nothing was launched"
    assert H.LAUNCHED <= listed, sorted(H.LAUNCHED - listed)
    assert H.LAUNCHED == listed, f"specs listed but never launched: {sorted(listed - H.LAUNCHED)}"


def test_gpu_launches_are_autotuned_over_the_compiled_configs(monkeypatch):
    from mpe_psn.ops.mpe import triton_kernels as K

    monkeypatch.setattr(K, "INTERPRETED", False)
    monkeypatch.delenv(H.BLOCK_ENV, raising=False)
    assert H.launch_setting(10_000) is None  # autotuned
    for tuned in (K.forward_tuned, K.backward_tuned):
        assert [(c.kwargs["BLOCK"], c.num_warps) for c in tuned.configs] == list(K.TUNING_CONFIGS)
        assert list(tuned.keys) == ["T", "N"]
    x = torch.zeros(3, 1000)
    flags = (0, False, True, False)
    monkeypatch.setattr(H, "_LAUNCHES", {})
    monkeypatch.setattr(H, "_device_index", lambda: 0)
    before = H._partial_rows("forward_kernel", x, flags, 3, 1000, True)  # sized for the smallest block, zeroed
    assert before.shape == (-(-1000 // min(b for b, _ in K.TUNING_CONFIGS)), 3) and not before.any()


class _FakeConfig:
    def __init__(self, block, warps):
        self.kwargs, self.num_warps = {"BLOCK": block}, warps


class _FakeCompiled:
    """What Triton's launcher returns: a compiled kernel whose ``run`` launches it."""

    function, packed_metadata = "cu-function", "packed"

    def __init__(self, calls):
        self.calls = calls

    def launch_metadata(self, grid, stream, *args):
        return None  # no launch hook set

    def run(self, *args):
        self.calls.append(("run", *args))


#: Triton's launch hooks, passed on as its own launcher passes them
_HOOKS = (triton.knobs.runtime.launch_enter_hook, triton.knobs.runtime.launch_exit_hook)


def _fake_gpu(monkeypatch, calls):
    """The host as on a GPU (not interpreted), with Triton's launchers replaced by recorders."""
    from mpe_psn.ops.mpe import triton_kernels as K

    compiled = _FakeCompiled(calls)

    class FakeTuned:
        best_config = _FakeConfig(256, 4)

        def __getitem__(self, grid):
            return lambda *args, **kwargs: calls.append(("tuned", grid({"BLOCK": 256}), args, kwargs)) or compiled

    class FakeKernel:
        def __getitem__(self, grid):
            return lambda *args, **kwargs: calls.append(("kernel[grid]", grid, kwargs["BLOCK"], kwargs["num_warps"])) or compiled

    monkeypatch.setattr(K, "INTERPRETED", False)
    monkeypatch.setattr(H, "_LAUNCHES", {})
    monkeypatch.setattr(H, "_device_index", lambda: 0)
    monkeypatch.setattr(H, "_stream", lambda device: f"stream of {device}")
    monkeypatch.setattr(K, "forward_tuned", FakeTuned())
    monkeypatch.setattr(K, "forward_kernel", FakeKernel())


def test_after_the_autotuners_choice_each_launch_is_one_lookup_and_the_compiled_kernel(monkeypatch):
    """First launch of a (spec, T, N): through the autotuner, whose compiled kernel and choice
    are kept; every later launch runs that compiled kernel directly, with every parameter in
    order (the constexprs last, as Triton's own launcher passes them), no autotuner, no
    ``kernel[grid]``; partial rows are sized for the choice."""
    calls = []
    _fake_gpu(monkeypatch, calls)
    monkeypatch.delenv(H.BLOCK_ENV, raising=False)
    x = torch.zeros(3, 1000)
    flags = (0, False, True, False)
    args = ("x", "noise", "est", "s", "vhat", "v", "part", "theta", "seed", 3, 1000, 0.25, 1e-3)
    H._launch("forward_kernel", x, 3, 1000, args, flags)
    assert calls[0][:2] == ("tuned", (4,)) and calls[0][2] == args
    assert calls[0][3] == {"EST": 0, "FROM_BUF": False, "FINAL": True, "STORE": False, "enable_fp_fusion": False}
    calls.clear()
    H._launch("forward_kernel", x, 3, 1000, args, flags)
    H._launch("forward_kernel", x, 3, 1000, args, flags)
    direct = ("run", 4, 1, 1, "stream of 0", "cu-function", "packed", None, *_HOOKS, *args, 0, False, True, False, 256)
    assert calls == [direct, direct]
    calls.clear()
    H._launch("forward_kernel", torch.zeros(3, 5000), 3, 5000, args, flags)  # a new shape: tuned again
    H._launch("forward_kernel", torch.zeros(4, 1000), 4, 1000, args, flags)  # a new T too
    assert [c[:2] for c in calls] == [("tuned", (20,)), ("tuned", (4,))]
    assert H._partial_rows("forward_kernel", x, flags, 3, 1000, True).shape == (4, 3)


def test_a_fixed_block_launches_through_the_kernel_once_then_directly(monkeypatch):
    calls = []
    _fake_gpu(monkeypatch, calls)
    monkeypatch.setenv(H.BLOCK_ENV, "128")
    x = torch.zeros(3, 1000)
    flags = (2, False, True, False)
    assert H._partial_rows("forward_kernel", x, flags, 3, 1000, True).shape == (8, 3)  # the env's block
    for _ in range(3):
        H._launch("forward_kernel", x, 3, 1000, (), flags)
    assert calls[0] == ("kernel[grid]", (8,), 128, 4)
    assert calls[1:] == [("run", 8, 1, 1, "stream of 0", "cu-function", "packed", None, *_HOOKS, 2, False, True, False,
                          128)] * 2


def test_block_override(monkeypatch):
    from mpe_psn.ops.mpe import triton_kernels as K

    monkeypatch.setattr(K, "INTERPRETED", False)
    monkeypatch.setenv(H.BLOCK_ENV, "1024")
    assert H.launch_setting(10_000) == (1024, 8)
    monkeypatch.setenv(H.BLOCK_ENV, "128")
    assert H.launch_setting(10_000) == (128, 4)
    for bad in ("100", "16", "8192", "big"):
        monkeypatch.setenv(H.BLOCK_ENV, bad)
        with pytest.raises(ValueError, match="MPE_PSN_TRITON_BLOCK=.* must be a power of two from 32 to 4096"):
            H.launch_setting(10_000)


def test_runtime_specialises_only_on_the_spec():
    """Integers are never specialised on their value nor pointers on their alignment, so a
    launch compiles exactly the (signature, constexprs) that the compile check compiled."""
    from mpe_psn.ops.mpe import triton_kernels as K

    lists = {"forward_kernel": (K.FORWARD_POINTERS, K.FORWARD_INTS), "backward_kernel": (K.BACKWARD_POINTERS, K.BACKWARD_INTS)}
    for spec in H.specializations()[:1] + [s for s in H.specializations() if s.kernel == "backward_kernel"][:1]:
        sig = H.signature(spec)
        pointers, ints = lists[spec.kernel]
        assert sorted(pointers) == sorted(n for n, t in sig.items() if t.startswith("*"))
        assert sorted(ints) == sorted(n for n, t in sig.items() if t == "i32")
        kernel = getattr(K, spec.kernel)
        names = list(getattr(kernel, "arg_names", None) or kernel.fn.__code__.co_varnames[:len(sig)])
        assert list(sig) == names
        # the direct launch passes the constexprs last, in this order
        assert names[-len(H.FLAG_NAMES[spec.kernel]) - 1:] == [*H.FLAG_NAMES[spec.kernel], "BLOCK"]
