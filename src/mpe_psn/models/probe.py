"""Find the spiking and synaptic layers of a model and watch them with forward hooks.

Used by the analyses and by the fidelity log of training.

The neurons take and return time-major [T, B, ...] tensors (or batch-major with
``batch_first=True``); the hooks hand both input and output over time-major.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
from torch import nn

from mpe_psn.models.neuron_factory import SnnTorchLeaky
from mpe_psn.neurons import LIF, MPEPSN, PSN, SpikingNeuron, configurable_layers

__all__ = [
    "SYNAPTIC_TYPES",
    "is_spiking",
    "neuron_kind",
    "spiking_layers",
    "mpe_layers",
    "watch",
]

#: Layers whose weights turn presynaptic activity into currents (the ones that cost operations).
SYNAPTIC_TYPES: tuple[type, ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def _is_spikingjelly_node(module: nn.Module) -> bool:
    # SpikingJelly's neurons derive from ``BaseNode``; checked by name so SpikingJelly stays optional.
    return any(cls.__name__ == "BaseNode" and "spikingjelly" in cls.__module__ for cls in type(module).__mro__)


def is_spiking(module: nn.Module) -> bool:
    """True for MPE-PSN, LIF, PSN, SpikingJelly neurons and the snnTorch neuron of the factory
    (the wrapper around ``snntorch.Leaky``, which sees the whole sequence)."""
    return isinstance(module, (SpikingNeuron, PSN, SnnTorchLeaky)) or _is_spikingjelly_node(module)


def neuron_kind(module: nn.Module) -> str:
    """``"mpe"``, ``"lif"``, ``"psn"``, or ``"sj-<name>"`` for a SpikingJelly neuron
    (``LIFNode`` -> ``"sj-lif"``, the names of ``utils.plotting.NEURON_COLORS``)."""
    if isinstance(module, MPEPSN):
        return "mpe"
    if isinstance(module, LIF):
        return "lif"
    if isinstance(module, PSN):
        return "psn"
    if type(module).__name__ == "SnnTorchLeaky":
        return "snntorch"
    name = type(module).__name__.lower()
    return "sj-" + (name[: -len("node")] if name.endswith("node") and name != "node" else name)


def spiking_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every spiking layer in registration order."""
    return [(name or type(m).__name__, m) for name, m in model.named_modules() if is_spiking(m)]


def mpe_layers(model: nn.Module) -> list[tuple[str, MPEPSN]]:
    return [(name or type(m).__name__, m) for name, m in configurable_layers(model, MPEPSN)]


def _time_major(module: nn.Module, tensor: torch.Tensor) -> torch.Tensor:
    return tensor.transpose(0, 1) if getattr(module, "batch_first", False) else tensor


Callback = Callable[[str, nn.Module, torch.Tensor, torch.Tensor], None]


@contextlib.contextmanager
def watch(layers: list[tuple[str, nn.Module]], callback: Callback, time_major: bool = True) -> Iterator[None]:
    """Call ``callback(name, module, input, output)`` after every forward of each layer.

    With ``time_major=True`` (for neurons) input and output are handed over as [T, B, ...].
    The hooks are removed on exit, also when the body raises.
    """

    def make_hook(name: str):
        def hook(module: nn.Module, inputs: tuple, output) -> None:
            x = inputs[0]
            y = output
            if time_major:
                x, y = _time_major(module, x), _time_major(module, y)
            callback(name, module, x, y)

        return hook

    handles = [module.register_forward_hook(make_hook(name)) for name, module in layers]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
