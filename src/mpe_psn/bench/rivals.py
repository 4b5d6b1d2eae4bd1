"""The layers a benchmark compares, each as ``make(T, device) -> layer(x) -> (spikes, extra_loss)``.

``x`` is [T, N]. ``extra_loss`` is MPE-PSN's membrane loss (added with weight 0.01, as in
training) or None. SpikingJelly's layers are offered only when it is installed.
"""

from __future__ import annotations

from typing import Callable

import torch

from mpe_psn.functional.lif import lif
from mpe_psn.models.neuron_factory import SpikingJellyLIF
from mpe_psn.ops import mpe_psn_layer, resolve_backend
from mpe_psn.ops.lif import lif_spikes

Layer = Callable[[torch.Tensor], "tuple[torch.Tensor, torch.Tensor | None]"]

#: The decay factor of every compared layer (the paper's tau: H[t] = TAU * V[t-1] + x[t]).
TAU = 0.25

LAYER_METHODS = ("mpe-fused", "mpe-reference", "lif-fused", "loop-lif", "copy", "sj-lif", "sj-psn") + (
    # the rows the layer targets need (docs/benchmarks.md): the sigmoid floor, refinement, inference
    "sigmoid", "mpe-fused-refine1", "mpe-reference-refine1", "mpe-fused-expected", "sj-lif-eval",
)


def spikingjelly_available() -> bool:
    try:
        import spikingjelly.activation_based.neuron  # noqa: F401
    except Exception:
        return False
    return True


def make_layer(method: str, T: int, device: torch.device) -> Layer:
    """The layer of ``method`` for T steps on ``device``."""
    if method in ("mpe-fused", "mpe-reference"):
        backend = "auto" if method == "mpe-fused" else "reference"
        return lambda x: mpe_psn_layer(x, 1.0, TAU, backend=backend)
    if method in ("mpe-fused-refine1", "mpe-reference-refine1", "mpe-fused-expected"):
        backend = "reference" if method.startswith("mpe-reference") else "auto"
        options = {"estimator": "expected"} if method.endswith("expected") else {"refine_steps": 1}
        return lambda x: mpe_psn_layer(x, 1.0, TAU, backend=backend, **options)
    if method == "sigmoid":  # one elementwise pass with an exp: the floor of the fused forward
        return lambda x: (torch.sigmoid(x), None)
    if method == "loop-lif":
        return lambda x: (lif(x, 1.0, TAU).spikes, None)
    if method == "lif-fused":  # the same exact LIF, one fused kernel each way (ops/lif)
        return lambda x: (lif_spikes(x, 1.0, TAU), None)
    if method == "copy":
        return lambda x: (2.0 * x, None)
    if method in ("sj-lif", "sj-lif-eval"):
        node = SpikingJellyLIF(tau=TAU, T=T).to(device)
        if method == "sj-lif-eval":
            node.eval()
        return lambda x: (node(x), None)
    if method == "sj-psn":
        from spikingjelly.activation_based import neuron

        psn = neuron.PSN(T=T).to(device)
        return lambda x: (psn(x), None)
    raise ValueError(f"unknown method {method!r}; choose from {list(LAYER_METHODS)}")


def fused_backend(device: torch.device) -> str:
    """Which path ``mpe-fused`` takes on ``device`` (recorded in every result)."""
    return resolve_backend("auto", device)
