"""The layers a benchmark compares, each as ``make(T, device) -> layer(x) -> (spikes, extra_loss)``.

``x`` is [T, N]. ``extra_loss`` is MPE-PSN's membrane loss (added with weight 0.01, as in
training) or None. SpikingJelly's layers are offered only when it is installed.
"""

from __future__ import annotations

from typing import Callable

import torch

Layer = Callable[[torch.Tensor], "tuple[torch.Tensor, torch.Tensor | None]"]

LAYER_METHODS = ("mpe-fused", "mpe-reference", "loop-lif", "copy", "sj-lif", "sj-psn")


def spikingjelly_available() -> bool:
    try:
        import spikingjelly.activation_based.neuron  # noqa: F401
    except Exception:
        return False
    return True


def make_layer(method: str, T: int, device: torch.device) -> Layer:
    """The layer of ``method`` for T steps on ``device``."""
    if method in ("mpe-fused", "mpe-reference"):
        from mpe_psn.ops import mpe_psn_layer

        backend = "auto" if method == "mpe-fused" else "reference"
        return lambda x: mpe_psn_layer(x, 1.0, None, tau=0.25, backend=backend)
    if method == "loop-lif":
        from mpe_psn.functional.lif import lif

        return lambda x: (lif(x, 1.0, 0.25).spikes, None)
    if method == "copy":
        return lambda x: (2.0 * x, None)
    if method == "sj-lif":
        from spikingjelly.activation_based import neuron

        node = neuron.LIFNode(tau=4.0 / 3.0, decay_input=False, v_reset=0.0, step_mode="m").to(device)

        def sj_lif(x):
            node.reset()
            return node(x), None

        return sj_lif
    if method == "sj-psn":
        from spikingjelly.activation_based import neuron

        psn = neuron.PSN(T=T).to(device)
        return lambda x: (psn(x), None)
    raise ValueError(f"unknown method {method!r}; choose from {list(LAYER_METHODS)}")


def fused_backend(device: torch.device) -> str:
    """Which path ``mpe-fused`` takes on ``device`` (recorded in every result)."""
    from mpe_psn.ops import resolve_backend

    return resolve_backend("auto", device)
