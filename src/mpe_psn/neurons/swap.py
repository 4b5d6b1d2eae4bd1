"""One of this project's neurons rebuilt as the other kind: an ``MPEPSN`` as its exact ``LIF``
(``export.as_lif`` for the deployment gap, ``interop.convert(model, to="lif")``) or a ``LIF`` as
an ``MPEPSN`` (``convert(model, to="mpe")``), keeping what they share. The one place that
knows what a neuron carries across."""

from __future__ import annotations

from typing import Any

from torch import nn

from mpe_psn.neurons.layers import SpikingNeuron

__all__ = ["as_neuron"]


def as_neuron(module: SpikingNeuron, cls: "type[SpikingNeuron]", **options: Any) -> SpikingNeuron:
    """A ``cls`` neuron with ``module``'s tau, threshold (its trained value and shape, a
    parameter if it was one), surrogate, T, layout and step mode, on its device.

    ``options`` go to ``cls``'s constructor and win over what is copied (a ``threshold`` given
    there replaces the trained one). Raises what the constructor raises for options that do
    not fit ``cls``.
    """
    threshold = module.threshold.detach()
    kwargs: dict[str, Any] = {"tau": module.tau, "threshold": float(threshold.flatten()[0]), "T": module.T,
                              "batch_first": module.batch_first, "surrogate": module.surrogate.name,
                              "alpha": module.surrogate.alpha,
                              "learn_threshold": isinstance(module.threshold, nn.Parameter)} | options
    new = cls(**kwargs)
    if "threshold" not in options:  # the trained value, per channel too
        value = threshold.clone()
        new.threshold = nn.Parameter(value) if isinstance(new.threshold, nn.Parameter) else value
    new.step_mode = getattr(module, "step_mode", "m")
    return new.to(threshold.device)
