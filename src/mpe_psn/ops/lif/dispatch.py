"""Run the exact LIF on a backend: :func:`lif_spikes` is ``functional.lif(...).spikes``, fused.

The backend comes from the shared registry (``registry.select("lif", ...)``): ``"auto"`` (or
``MPE_PSN_BACKEND``) takes the first fused backend that runs on the tensor's device and dtype
(``"cpu"`` for CPU tensors, ``"triton"`` for CUDA ones), else ``"reference"`` (the loop); a
named backend that cannot run there is an error saying why. Under ``"auto"`` a kernel that
fails to compile or launch sends that setting (backend, device, dtype, surrogate) to the
reference for the rest of the process, with one warning (``ops.fallback.guarded``); a small
forward and backward probe runs first, once per setting, so a failing backward is caught too.

The loop also runs, whatever the backend, for an empty input, for a threshold that does not
broadcast to one value per neuron (``x.shape[1:]``: the loop's own broadcasting applies), and
under ONNX export or the TorchScript tracer (they need standard ops; ``torch.export`` and
``torch.compile`` see the custom op ``mpe_psn::lif``).
"""

from __future__ import annotations

import torch

from mpe_psn.functional.checks import check_tau, check_threshold, check_time_major
from mpe_psn.functional.lif import lif
from mpe_psn.functional.surrogate import Surrogate, get_surrogate
from mpe_psn.ops import registry
from mpe_psn.ops.common.codes import SURROGATE_CODES
from mpe_psn.ops.fallback import guarded, warn_once
from mpe_psn.ops.lif.backends import OP
from mpe_psn.ops.lif.op import run_lif

__all__ = ["check_lif_backend", "lif_spikes"]

#: the probe's shape: more than one program of the interpreter's block, N not a multiple of it
PROBE_T, PROBE_N = 4, 1031


def check_lif_backend(backend: str) -> str:
    """``backend`` if it is one of ``registry.choices("lif")``, else a ``ValueError`` listing them."""
    return registry.check_choice(OP, backend)


def _per_neuron(threshold: "float | torch.Tensor", x: torch.Tensor) -> bool:
    """Whether ``threshold`` gives every neuron (``x.shape[1:]``) one value without growing it."""
    if not isinstance(threshold, torch.Tensor) or threshold.numel() == 1:
        return True
    try:
        return torch.broadcast_shapes(threshold.shape, x.shape[1:]) == x.shape[1:]
    except RuntimeError:
        return False


def _exporting() -> bool:
    """ONNX export (either exporter) or the TorchScript tracer: they get the loop's standard ops
    (a custom op has no ONNX form, and a traced kernel call would fail and send the setting to
    the loop for the whole process). ``torch.export`` keeps the custom op."""
    return torch.onnx.is_in_onnx_export() or torch.jit.is_tracing()


def _fits(name: str, x: torch.Tensor) -> bool:
    """The kernels' size limit (Triton's neuron count per step is an int32)."""
    limit = registry.backends(OP)[name].host().MAX_NEURONS if name == "triton" else None
    if limit is None or x.numel() // x.shape[0] <= limit:
        return True
    warn_once(("lif", "too-large"), f"the Triton LIF kernels take up to {limit} neurons per time step, got "
              f"{x.numel() // x.shape[0]} (input shape {tuple(x.shape)}); running the reference loop")
    return False


def _probe(key: tuple, tau: float, alpha: float) -> None:
    """A small forward and backward with this call's setting ``key`` (raises what the kernels raise).

    ``inference_mode(False)``: under ``torch.inference_mode()`` ``enable_grad`` alone would still
    make inference tensors, which cannot require grad."""
    name, device, dtype, code = key
    with torch.inference_mode(False), torch.enable_grad():
        x = torch.linspace(-2.0, 3.0, PROBE_T * PROBE_N, device=device).reshape(PROBE_T, PROBE_N)
        x = x.to(dtype).requires_grad_(True)
        theta = torch.ones((), dtype=torch.float32, device=device, requires_grad=True)
        torch.autograd.grad(run_lif(x, theta, tau, code, alpha, name).float().sum(), [x, theta])


def lif_spikes(
    x: torch.Tensor,
    threshold: "float | torch.Tensor" = 1.0,
    tau: float = 0.25,
    surrogate: "str | Surrogate" = "triangular",
    alpha: float | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """The spikes of :func:`mpe_psn.functional.lif` (same arguments, same checks and errors) on ``backend``.

    Fused paths compute in float32 and return spikes in x's dtype; for float32 input they equal
    the loop's bit for bit. Gradients reach ``x`` and ``threshold`` (a tensor: one value or one
    per channel/neuron) through the loop's surrogate, backpropagated through time and reset.
    """
    check_time_major(x)
    check_threshold(threshold)
    tau = check_tau(tau)
    surrogate = get_surrogate(surrogate, alpha)
    name, strict = registry.select(OP, backend, x.device, x.dtype)

    def reference() -> torch.Tensor:
        return lif(x, threshold, tau, surrogate).spikes

    if (name == registry.REFERENCE or _exporting() or x.numel() == 0 or not _per_neuron(threshold, x)
            or not _fits(name, x)):
        return reference()
    if isinstance(threshold, torch.Tensor):
        theta = threshold.to(device=x.device, dtype=torch.float32)
    else:
        theta = torch.tensor(float(threshold), dtype=torch.float32, device=x.device)
    code, alpha = SURROGATE_CODES[surrogate.name], float(surrogate.alpha)
    key = (name, x.device, x.dtype, code)
    return guarded(
        OP, key, lambda: f"{name} {x.device} {str(x.dtype).replace('torch.', '')} {surrogate.name}", strict,
        lambda: run_lif(x, theta, tau, code, alpha, name), reference, probe=lambda: _probe(key, tau, alpha),
    )
