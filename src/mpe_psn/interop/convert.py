"""``convert``: swap the neurons of a model built with SpikingJelly, snnTorch or Norse for this
project's, configured to the same dynamics (see each library's module here for the mapping)."""

from __future__ import annotations

import copy
from typing import Any, Callable

import torch
from torch import nn

from mpe_psn.interop import norse as norse_interop
from mpe_psn.interop import snntorch as snntorch_interop
from mpe_psn.interop import spikingjelly as spikingjelly_interop
from mpe_psn.interop.mapping import LIFMapping
from mpe_psn.interop.report import ConversionReport, LeftAlone, Replacement, UnsupportedNeuronError
from mpe_psn.neurons import LIF, MPEPSN, as_neuron

__all__ = ["TARGETS", "convert"]

TARGETS = ("mpe", "lif")
_CLASSIFIERS: tuple[Callable[[nn.Module, str], "LIFMapping | str | None"], ...] = (
    spikingjelly_interop.classify,
    snntorch_interop.classify,
    norse_interop.classify,
)


def convert(model: nn.Module, to: str = "mpe", *, inplace: bool = False, **neuron_options: Any) -> "tuple[nn.Module, ConversionReport]":
    """Replace every supported neuron of ``model`` with this project's, on the same dynamics.

    Supported: SpikingJelly ``LIFNode``, ``ParametricLIFNode``, ``IFNode`` (hard reset; a neuron in
    single-step mode becomes this project's neuron in streaming mode), snnTorch ``Leaky`` (``reset_mechanism="zero"``) and Norse ``LIFBoxCell``,
    and this project's own ``MPEPSN`` and ``LIF`` (each becomes the other, keeping its trained
    threshold, tau, surrogate, T and layout; one already of the target kind is left alone). ``to="lif"``
    gives this project's exact LIF (the same spikes as the original); ``to="mpe"`` gives MPE-PSN
    with the same decay and threshold. ``neuron_options`` go to the new neurons' constructors
    (``surrogate``, ``learn_threshold``, ``T``, ``estimator``, ...) and override the mapped values.

    Returns the converted model (a copy unless ``inplace=True``) and a
    :class:`~mpe_psn.interop.report.ConversionReport`. Raises ``ValueError`` naming the module
    when a supported neuron's settings have no equivalent, or when the model has no supported
    neuron.
    """
    if to not in TARGETS:
        raise ValueError(f"to must be one of {list(TARGETS)}, got {to!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not inplace:
        model = _copy_model(model)
    report = ConversionReport(to=to)
    plans: list[tuple[str, nn.Module, LIFMapping]] = []
    neuron_prefixes: list[str] = []
    own_plans: list[tuple[str, nn.Module]] = []  # this project's neurons to swap for the other kind
    has_target_kind = False  # this project's neurons already of the kind asked for
    for name, module in model.named_modules(remove_duplicate=False):
        if any(name.startswith(prefix + ".") for prefix in neuron_prefixes):
            continue  # inside a neuron already planned or left alone
        if isinstance(module, (MPEPSN, LIF)):
            neuron_prefixes.append(name)
            if isinstance(module, _TARGET_CLASSES[to]):
                has_target_kind = True
                report.left_alone.append(LeftAlone(name, _qualified(module), f"already {type(module).__name__}"))
            else:
                own_plans.append((name, module))
            continue
        verdict = _classify(module, name)
        if verdict is None:
            continue
        neuron_prefixes.append(name)
        if isinstance(verdict, str):
            report.left_alone.append(LeftAlone(name, _qualified(module), verdict))
        else:
            plans.append((name, module, verdict))
    if not plans and not own_plans and not has_target_kind:
        found = "; ".join(f"{s.name or '<root>'}: {s.type} ({s.reason})" for s in report.left_alone) or "none"
        raise ValueError(
            f"{type(model).__name__} has no neuron that convert supports (SpikingJelly LIFNode, ParametricLIFNode, "
            f"IFNode; snnTorch Leaky; Norse LIFBoxCell; this project's MPEPSN and LIF); other libraries' neurons "
            f"found: {found}"
        )
    device = _device_of(model)
    replaced: dict[int, nn.Module] = {}
    for name, module in own_plans:
        if id(module) not in replaced:
            replaced[id(module)] = new = _swap_own(name, module, to, neuron_options)
            report.replaced.append(Replacement(
                name, _qualified(module), type(new).__name__, _new_params(module), _new_params(new), tuple(_own_notes(to)),
            ))
    for name, module, mapping in plans:  # build every new neuron first: an error leaves the model as it was
        if id(module) not in replaced:
            replaced[id(module)] = new = _build(name, mapping, to, neuron_options).to(device)
            report.replaced.append(
                Replacement(name, mapping.source, type(new).__name__, mapping.old_params, _new_params(new), tuple(_notes(mapping, to)))
            )
    for name, module in [(name, module) for name, module, _ in plans] + own_plans:
        new = replaced[id(module)]
        if name == "":
            model = new
        else:
            parent_name, _, attr = name.rpartition(".")
            model.get_submodule(parent_name)._modules[attr] = new
    if inplace and any(r.old_type.startswith("spikingjelly.") for r in report.replaced):
        from spikingjelly.activation_based.functional import invalidate_reset_cache

        invalidate_reset_cache(model)  # reset_net caches the modules it resets
    return model, report


_TARGET_CLASSES = {"mpe": MPEPSN, "lif": LIF}


def _swap_own(name: str, module: nn.Module, to: str, neuron_options: dict[str, Any]) -> nn.Module:
    """This project's ``MPEPSN`` as its exact ``LIF``, or a ``LIF`` as ``MPEPSN``
    (:func:`~mpe_psn.neurons.as_neuron`); options that do not fit name the layer."""
    cls = _TARGET_CLASSES[to]
    try:
        return as_neuron(module, cls, **neuron_options)
    except (TypeError, ValueError) as error:
        raise ValueError(f"neuron options {sorted(neuron_options)} do not fit {cls.__name__} for "
                         f"{name or '<root>'} ({type(module).__name__}): {error}") from None


def _own_notes(to: str) -> list[str]:
    if to == "lif":
        return ["the exact sequential LIF on the same parameters: the spikes MPE-PSN estimates, computed step by step"]
    return ["MPE-PSN estimates the previous potential in parallel: its spikes approximate the LIF's",
            "a new MPE-PSN starts with uniform membrane-loss weights (kappa)"]


def _copy_model(model: nn.Module) -> nn.Module:
    """``deepcopy``, with the state a forward left in a neuron (SpikingJelly's ``v``, snnTorch's
    ``mem``: tensors inside the autograd graph, which deepcopy refuses) copied detached."""
    memo: dict[int, Any] = {}
    for module in model.modules():
        for value in vars(module).values():
            for item in value.values() if isinstance(value, dict) else (value,):
                if isinstance(item, torch.Tensor) and not item.is_leaf:
                    memo[id(item)] = item.detach().clone()
    return copy.deepcopy(model, memo)


def _classify(module: nn.Module, name: str) -> "LIFMapping | str | None":
    for classify in _CLASSIFIERS:
        verdict = classify(module, name)
        if verdict is not None:
            return verdict
    return None


def _build(name: str, mapping: LIFMapping, to: str, neuron_options: dict[str, Any]) -> nn.Module:
    where = f"{name or '<root>'} ({mapping.source})"
    kwargs = mapping.neuron_kwargs() | neuron_options
    cls = MPEPSN if to == "mpe" else LIF
    try:
        neuron = cls(**kwargs)
    except TypeError as error:
        raise ValueError(f"neuron options {sorted(neuron_options)} do not fit {cls.__name__} for {where}: {error}") from None
    if mapping.interface == "spikingjelly-single-step":
        if "s" not in getattr(neuron, "SUPPORTED_STEP_MODES", ("m", "s") if hasattr(neuron, "step_mode") else ()):
            raise UnsupportedNeuronError(
                f"{where} is in single-step mode (step_mode='s') and {cls.__name__} here cannot stream: call "
                "spikingjelly.activation_based.functional.set_step_mode(model, 'm') before convert"
            )
        neuron.step_mode = "s"  # one step [B, ...] per call, state kept until reset
        return neuron
    if mapping.interface == "snntorch-step":
        return snntorch_interop.LeakyStep(neuron, init_hidden=bool(mapping.old_params.get("init_hidden")), output=False)
    if mapping.interface == "norse-step":
        return norse_interop.LIFBoxStep(neuron)
    return neuron


def _new_params(new: nn.Module) -> dict[str, Any]:
    neuron = getattr(new, "neuron", new)
    params: dict[str, Any] = {
        "tau": neuron.tau,
        "threshold": float(neuron.threshold.detach()) if neuron.threshold.numel() == 1 else neuron.threshold.detach().flatten().tolist(),
        "learn_threshold": isinstance(neuron.threshold, nn.Parameter),
        "surrogate": f"{neuron.surrogate.name}(alpha={neuron.surrogate.alpha:g})",
    }
    if isinstance(neuron, MPEPSN):
        params |= {"estimator": neuron.estimator, "refine_steps": neuron.refine_steps, "backend": neuron.backend}
    if neuron.T is not None:
        params["T"] = neuron.T
    return params


def _notes(mapping: LIFMapping, to: str) -> list[str]:
    notes = list(mapping.notes)
    if to == "mpe":
        notes.append("MPE-PSN estimates the previous potential in parallel: its spikes approximate the LIF's")
        if mapping.interface != "multi-step":
            notes.append("called once per step: MPE-PSN streams (step_mode='s'), keeping its state in the neuron")
    return notes


def _qualified(module: nn.Module) -> str:
    return f"{type(module).__module__.split('.')[0]}.{type(module).__name__}"


def _device_of(model: nn.Module) -> torch.device:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")
