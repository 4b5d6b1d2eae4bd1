"""The paper's networks and a small net, by name, with the neuron as a parameter.

>>> model = build_model("small", neuron="mpe", T=8, num_classes=10, input_size=32)
>>> logits = model(torch.rand(8, 4, 2, 32, 32))     # [T, B, C, H, W] -> [T, B, classes]

Names: ``"dvsgesture-net"`` (the paper's 7B-Net), ``"vggsnn"``, ``"resnet19"``, ``"small"`` (frames
[T, B, C, H, W]) and ``"mlp"`` (spike channels [T, B, channels]: SHD, the built-in temporal task).
Neurons: ``"mpe"``, ``"lif"``, ``"psn"``, ``"sj-lif"`` (SpikingJelly, when installed).

What training, evaluation, the analyses and export share about a trained network lives here
too, one module each: ``checkpoint`` (read a checkpoint, build its network), ``batches`` (a
loader's [B, T, ...] batch as a network's [T, B, ...] input; prediction), ``probe`` (find and
watch the spiking layers), ``fidelity`` (MPE-PSN's estimate against the exact LIF).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from mpe_psn.models.neuron_factory import NEURONS, make_neuron, neuron_option_names
from mpe_psn.models.nets import MLP, VGGSNN, DVSGestureNet, ResNet19, SmallNet

__all__ = ["MODELS", "ModelSpec", "NEURONS", "build_model", "make_neuron", "neuron_option_names", "neuron_layers"]


@dataclass(frozen=True)
class ModelSpec:
    """A registered network: its class, default input size and channels, and a description."""

    cls: Callable[..., nn.Module]
    input_size: int
    in_channels: int
    description: str
    #: "frames" ([T, B, C, H, W]) or "temporal" ([T, B, channels])
    input_kind: str = "frames"
    #: keyword options of the network itself (``model_options``), besides the neuron
    options: tuple[str, ...] = ()


MODELS: dict[str, ModelSpec] = {
    "dvsgesture-net": ModelSpec(DVSGestureNet, 64, 2, "the paper's 7B-Net for DVS-Gesture (2 x 64 x 64)"),
    "vggsnn": ModelSpec(VGGSNN, 48, 2, "VGGSNN for CIFAR10-DVS and N-Caltech101 (2 x 48 x 48)"),
    "resnet19": ModelSpec(ResNet19, 32, 3, "ResNet19 for CIFAR10/100 (3 x 32 x 32, direct encoding)"),
    "small": ModelSpec(SmallNet, 32, 2, "a small conv SNN for the built-in dataset on a CPU"),
    "mlp": ModelSpec(MLP, 1, 700, "a feed-forward spiking MLP for temporal data (700 channels -> hidden x depth)",
                     input_kind="temporal", options=("hidden", "depth", "norm", "dropout")),
}


def build_model(
    name: str,
    *,
    neuron: str = "mpe",
    T: int,
    num_classes: int,
    in_channels: int = 2,
    input_size: int | None = None,
    neuron_options: dict[str, Any] | None = None,
    model_options: dict[str, Any] | None = None,
) -> nn.Module:
    """Network ``name`` with ``neuron`` layers for ``T`` steps: [T, B, C, H, W] -> [T, B, classes].

    ``input_size`` is the side of the square input frames (``None``: the network's default);
    ``neuron_options`` go to every neuron's constructor (e.g. ``{"estimator": "expected"}``);
    ``model_options`` to the network (the mlp's ``hidden``, ``depth``, ``norm``, ``dropout``).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {list(MODELS)}")
    if neuron not in NEURONS:
        raise ValueError(f"unknown neuron {neuron!r}; choose one of {list(NEURONS)}")
    spec = MODELS[name]
    extra = dict(model_options or {})
    unknown = sorted(set(extra) - set(spec.options))
    if unknown:
        raise ValueError(f"model {name!r} does not take option(s) {unknown}; it accepts {list(spec.options) or 'none'}")
    options = dict(neuron_options or {})
    make_neuron(neuron, T, options)  # validates the options once, with a clear message
    return spec.cls(
        lambda: make_neuron(neuron, T, options),
        T=T,
        num_classes=num_classes,
        in_channels=in_channels,
        input_size=spec.input_size if input_size is None else input_size,
        **extra,
    )


def neuron_layers(model: nn.Module) -> list[nn.Module]:
    """The spiking neuron layers of ``model`` in forward order (those the factory makes)."""
    kinds = tuple(cls for _, cls in NEURONS.values())
    return [m for m in model.modules() if isinstance(m, kinds)]
