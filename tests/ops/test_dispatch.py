"""Backend choice through the shared registry: auto by device and dtype, the MPE_PSN_BACKEND
override, clear errors for a backend that cannot run, logging, one-time warnings."""

from __future__ import annotations

import logging
import warnings

import pytest
import torch
from tests.ops.kernel_helpers import TRITON_ON_CPU, needs_triton, reference_layer, same_spikes

from mpe_psn import MPEPSN
from mpe_psn.ops import BACKENDS, fallback, mpe_psn_layer, registry, resolve_backend
from mpe_psn.ops.mpe import backends, dispatch
from mpe_psn.ops.mpe.noise import draw_seed, hash_uniform


pytestmark = pytest.mark.usefixtures("fresh_dispatch_state")  # tests/ops/conftest.py


def test_backends_are_the_registry_records():
    assert BACKENDS == registry.choices("mpe") == ("auto", "reference", "cpu", "triton")
    assert registry.backends("mpe") == {"cpu": backends.CPU, "triton": backends.TRITON}
    assert backends.CPU.host().KEEPS_SAMPLES and not backends.TRITON.host().KEEPS_SAMPLES


def test_auto_picks_the_cpu_kernel_for_cpu_tensors():
    assert resolve_backend("auto", torch.device("cpu")) == "cpu"
    assert resolve_backend("auto", "cpu", torch.float64) == "cpu"  # widened to float32 inside
    assert resolve_backend("reference", "cpu") == "reference"


def test_auto_on_cuda_is_triton_when_it_imports(monkeypatch):
    monkeypatch.setitem(backends.TRITON._loaded, "error", None)  # as where Triton imports
    assert resolve_backend("auto", "cuda") == "triton"
    assert resolve_backend("auto", "cuda", torch.float64) == "reference"  # the kernels take 16/32-bit floats
    monkeypatch.setattr(dispatch, "_routes", {})
    monkeypatch.setitem(backends.TRITON._loaded, "error", "Triton is not importable (ImportError: no triton)")
    assert resolve_backend("auto", "cuda") == "reference"


def test_environment_variable_overrides_auto_only(monkeypatch):
    monkeypatch.setenv("MPE_PSN_BACKEND", "reference")
    assert resolve_backend("auto", "cpu") == "reference"
    assert resolve_backend("cpu", "cpu") == "cpu"  # an explicit argument wins
    monkeypatch.setenv("MPE_PSN_BACKEND", "fast")
    with pytest.raises(ValueError, match="MPE_PSN_BACKEND='fast' is not one of"):
        resolve_backend("auto", "cpu")


def test_unknown_backend_is_an_error():
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        resolve_backend("cuda", "cpu")
    with pytest.raises(ValueError, match="unknown backend"):
        MPEPSN(backend="numba")


def test_a_named_backend_that_cannot_run_is_an_error_naming_what_can():
    """Never a silent (or warned) fallback: the error says why and what runs on that device."""
    with pytest.raises(registry.BackendUnavailable, match=r"mpe: backend 'cpu' cannot run on cuda float32 tensors: "
                                                          r"the 'cpu' kernel runs on CPU tensors.*Available here: "
                                                          r"\['reference'"):
        resolve_backend("cpu", "cuda")
    x = torch.empty(4, 2, 3, device="meta")  # no fused kernel runs on meta tensors
    with pytest.raises(registry.BackendUnavailable, match=r"backend 'triton' cannot run on meta float32 tensors: the "
                                                          r"Triton kernels do not run on meta tensors. Available here: "
                                                          r"\['reference'\]"):
        mpe_psn_layer(x, 1.0, 0.25, backend="triton")
    with pytest.raises(ValueError, match="cannot run on meta"):  # a ValueError, as a bad name is
        MPEPSN(T=4, backend="cpu")(x)
    spikes, _ = mpe_psn_layer(x, 1.0, 0.25, backend="auto")  # auto: the reference there
    assert spikes.device.type == "meta" and spikes.shape == x.shape


def test_the_environment_variable_names_a_backend_too(monkeypatch):
    monkeypatch.setenv("MPE_PSN_BACKEND", "cpu")
    with pytest.raises(registry.BackendUnavailable, match="MPE_PSN_BACKEND=cpu cannot run on meta float32"):
        mpe_psn_layer(torch.empty(3, 4, device="meta"), 1.0, 0.25)


@needs_triton
def test_a_dtype_the_kernels_do_not_take_is_an_error_on_a_named_backend():
    with pytest.raises(registry.BackendUnavailable, match="Triton kernels take float32, float16 or bfloat16 input.*"
                                                          "got torch.float64.*Available here: \\['reference', 'cpu'\\]"):
        mpe_psn_layer(torch.randn(3, 5, dtype=torch.float64), 1.0, 0.25, backend="triton")


def test_missing_numba_is_reported(monkeypatch):
    monkeypatch.setitem(backends.CPU._loaded, "error", "the CPU kernel needs numba; pip install numba (ImportError: x)")
    # the next runnable one: the reference (or, only where TRITON_INTERPRET=1 made Triton run on CPU tensors, Triton)
    assert resolve_backend("auto", "cpu") == ("triton" if TRITON_ON_CPU else "reference")
    with pytest.raises(registry.BackendUnavailable, match="needs numba; pip install numba"):
        resolve_backend("cpu", "cpu")


def test_choice_is_logged_once(caplog):
    with caplog.at_level(logging.INFO, logger="mpe_psn"):
        resolve_backend("auto", "cpu")
        resolve_backend("auto", "cpu")
    lines = [r.getMessage() for r in caplog.records if r.name == "mpe_psn"]
    assert lines == ["MPE-PSN layer: cpu path for cpu tensors (requested auto)"]


def test_per_channel_threshold_uses_the_reference():
    x = torch.randn(3, 2, 4)
    threshold = torch.tensor([1.0, 0.5, 2.0, 1.0])
    with pytest.warns(RuntimeWarning, match="one scalar threshold"):
        spikes, _ = mpe_psn_layer(x, threshold, 0.25, None, estimator="expected", backend="cpu")
    ref, _ = mpe_psn_layer(x, threshold, 0.25, None, estimator="expected", backend="reference")
    assert torch.equal(spikes, ref)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process
        mpe_psn_layer(x, threshold, 0.25, None, estimator="expected", backend="cpu")


def test_kappa_logits_are_the_softmax_weights():
    """``kappa_logits`` (MPEPSN's learned kappa) equals passing their softmax as ``kappa``, in
    L_mem and in the gradients, fused or not."""
    x = torch.randn(5, 3, 40) + 0.4
    logits = torch.tensor([0.3, -1.0, 0.2, 0.8, 0.0])
    results = {}
    for backend in ("cpu", "reference"):
        for form in ("logits", "weights"):
            xl, lg = x.clone().requires_grad_(True), logits.clone().requires_grad_(True)
            kwargs = {"kappa_logits": lg} if form == "logits" else {"kappa": torch.softmax(lg, 0)}
            spikes, loss = mpe_psn_layer(xl, 1.0, 0.25, estimator="expected", backend=backend, **kwargs)
            results[backend, form] = (loss, *torch.autograd.grad(spikes.sum() + 7 * loss, [xl, lg]))
    for key, values in results.items():
        for got, want in zip(values, results["reference", "weights"]):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7, msg=str(key))
    with pytest.raises(ValueError, match="not both"):
        mpe_psn_layer(x, 1.0, 0.25, torch.ones(5), kappa_logits=logits)


def test_module_backends_agree_in_eval():
    torch.manual_seed(0)
    x = torch.randn(4, 2, 3, 5)
    layers = {b: MPEPSN(T=4, backend=b).eval() for b in ("auto", "cpu", "reference")}
    outs = {b: m(x) for b, m in layers.items()}
    assert torch.equal(outs["auto"], outs["reference"]) and torch.equal(outs["cpu"], outs["reference"])
    for m in layers.values():
        torch.testing.assert_close(m.mem_loss, layers["reference"].mem_loss)


def test_module_batch_first_and_learned_kappa_train():
    """batch_first=True is the time-major module on the transposed input: the same spikes, L_mem
    and gradients (threshold, kappa, input), with the same Bernoulli draws in training."""
    x = torch.randn(2, 3, 7)
    grads = {}
    for batch_first in (True, False):
        m = MPEPSN(T=3, batch_first=batch_first, backend="cpu")
        with torch.no_grad():
            m.kappa_logits.copy_(torch.tensor([0.3, -0.2, 0.1]))  # a non-uniform kappa
        xi = (x if batch_first else x.transpose(0, 1)).clone().requires_grad_(True)
        torch.manual_seed(1)
        y = m(xi)
        y_time_major = y.transpose(0, 1) if batch_first else y
        ((y_time_major * torch.arange(1.0, 8.0)).sum() + m.mem_loss).backward()
        x_grad = xi.grad.transpose(0, 1) if batch_first else xi.grad
        grads[batch_first] = (y_time_major.detach(), m.mem_loss.detach(), m.threshold.grad, m.kappa_logits.grad, x_grad)
    assert grads[True][0].shape == (3, 2, 7) and 0 < float(grads[True][0].sum()) < grads[True][0].numel()
    for got, want in zip(grads[True], grads[False]):
        torch.testing.assert_close(got, want)
    assert float(grads[True][3].abs().sum()) > 0  # kappa learns


def test_cpu_kernel_threads_split_blocks_and_survive_fork():
    """Two threads over the neuron blocks give the single-thread result; a forked child works."""
    import multiprocessing as mp

    from mpe_psn.ops.common import threads

    x = torch.randn(4, 3 * 1024 + 5)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = mpe_psn_layer(x, 1.0, 0.25, None, generator=torch.Generator().manual_seed(0), backend="cpu")
        torch.set_num_threads(2)
        threads.MIN_WORK, saved = 1, threads.MIN_WORK
        try:
            two = mpe_psn_layer(x, 1.0, 0.25, None, generator=torch.Generator().manual_seed(0), backend="cpu")
            ctx = mp.get_context("fork")
            with ctx.Pool(1) as pool:
                child = pool.apply(_child_spike_count, (x,))
        finally:
            threads.MIN_WORK = saved
    finally:
        torch.set_num_threads(old)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])
    assert child == int(one[0].sum())


def _child_spike_count(x):
    torch.set_num_threads(2)
    spikes, _ = mpe_psn_layer(x, 1.0, 0.25, None, generator=torch.Generator().manual_seed(0), backend="cpu")
    return int(spikes.sum())


def test_a_signature_that_ran_fused_skips_the_policy(monkeypatch):
    """The second identical call goes straight to the kernels (no backend choice, no probe
    check), with the same values; a different signature goes through the policy again."""
    x = torch.randn(4, 3, 20)
    first = mpe_psn_layer(x, 1.0, 0.25, estimator="expected")
    asked = []
    real = dispatch._fused_or_reference
    monkeypatch.setattr(dispatch, "_fused_or_reference", lambda *a: asked.append(a) or real(*a))
    again = mpe_psn_layer(x, 1.0, 0.25, estimator="expected")
    assert asked == [] and torch.equal(again[0], first[0]) and torch.equal(again[1], first[1])
    mpe_psn_layer(x, 1.0, 0.3, estimator="expected")  # another tau: another signature
    assert len(asked) == 1
    with pytest.warns(RuntimeWarning, match="one scalar threshold"):  # a value the fast path leaves to the policy
        mpe_psn_layer(x, torch.ones(20), 0.25, estimator="expected")
    assert len(asked) == 2


def test_a_failure_on_the_fast_path_falls_back_or_raises(monkeypatch):
    from mpe_psn.ops.mpe import cpu_host

    x = torch.randn(4, 30)
    for backend in ("auto", "cpu"):
        mpe_psn_layer(x, 1.0, 0.25, estimator="expected", backend=backend)  # the signatures now have plans
    assert len(dispatch._plans) == 2

    def broken(*args, **kwargs):
        raise RuntimeError("launch failed (forced)")

    monkeypatch.setattr(cpu_host, "final_forward", broken)
    with pytest.raises(RuntimeError, match="launch failed"):
        mpe_psn_layer(x, 1.0, 0.25, estimator="expected", backend="cpu")  # named: raises
    with pytest.warns(RuntimeWarning, match="failed for cpu cpu float32 expected passes=1.*launch failed"):
        spikes, _ = mpe_psn_layer(x, 1.0, 0.25, estimator="expected", backend="auto")  # auto: falls back, once
    assert torch.equal(spikes, mpe_psn_layer(x, 1.0, 0.25, estimator="expected", backend="reference")[0])
    assert len(dispatch._plans) == 1  # the failed signature lost its plan


def test_a_first_call_under_inference_mode_does_not_break_training(monkeypatch):
    """The cached tensors a call makes (a number threshold's tensor, the thread's seed buffer)
    are normal tensors even when the first call runs under ``torch.inference_mode()``."""
    import threading

    monkeypatch.setattr(dispatch, "_thresholds", {})
    errors = []

    def fresh_thread():  # a new thread: its own seed buffer, made under inference mode
        try:
            x = torch.randn(4, 40)
            with torch.inference_mode():
                mpe_psn_layer(x, 0.8, 0.25, backend="cpu")
            xt = x.clone().requires_grad_(True)
            spikes, loss = mpe_psn_layer(xt, 0.8, 0.25, backend="cpu")
            (spikes.sum() + loss).backward()
            assert xt.grad is not None
        except Exception as error:  # noqa: BLE001  (reported to the test thread)
            errors.append(error)

    thread = threading.Thread(target=fresh_thread)
    thread.start()
    thread.join()
    assert errors == []


def test_select_is_marked_a_constant_for_torch_compile_without_importing_dynamo():
    """``registry.select`` carries the mark ``torch.compiler.assume_constant_result`` sets (set by
    hand: the decorator imports torch._dynamo, 1.5 s of every start), and ``import mpe_psn``
    does not import torch._dynamo."""
    import subprocess
    import sys

    import torch

    from mpe_psn.ops import registry

    def probe():
        return 0

    marked = torch.compiler.assume_constant_result(probe)
    assert [name for name in vars(marked) if name.startswith("_dynamo")] == ["_dynamo_marked_constant"]
    assert registry.select._dynamo_marked_constant is True
    code = "import sys, mpe_psn.commands.cli as c; c.build_parser(); print('torch._dynamo' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_fast_path_follows_each_call_s_threshold_and_the_global_seed():
    """A signature's fast path keeps the tensors of number thresholds per value: a call with
    another number (or a tensor) still uses its own threshold, and ``torch.manual_seed`` still
    fixes the sample (the seed is drawn from the global RNG on every call)."""
    x = torch.randn(4, 3, 50, generator=torch.Generator().manual_seed(1)) + 0.8
    mpe_psn_layer(x, 1.0, 0.25)  # the signature now has a plan
    for threshold in (1.0, 0.5, torch.tensor(0.7), 1.0, 0.5):
        torch.manual_seed(3)
        spikes, loss = mpe_psn_layer(x, threshold, 0.25)
        torch.manual_seed(3)
        seed = int(draw_seed())
        out, loss_r = reference_layer(x, threshold, None, "bernoulli", 0, hash_uniform(seed, x.shape))
        assert same_spikes(spikes, out.spikes), threshold
        torch.testing.assert_close(loss, loss_r)
