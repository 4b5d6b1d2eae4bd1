"""Fidelity of the estimate (paper Fig. 3a): MPE-PSN potentials against the exact LIF.

For every MPE-PSN layer, the layer's actual input X (captured while the network runs) is fed
to the exact sequential LIF with the layer's threshold and decay, and to MPE-PSN with the
layer's estimator and refinement. Per layer and per time step t::

    v_hat_mse[t] = mean (Vhat[t] - V_lif[t])**2      the estimate (what L_mem trains)
    v_hat_mae[t] = mean |Vhat[t] - V_lif[t]|
    v_mse[t]     = mean (V[t] - V_lif[t])**2         the corrected potential
    v_mae[t]     = mean |V[t] - V_lif[t]|
    spike_mismatch[t] = mean 1[S[t] != S_lif[t]]

means over batch and neurons. With ``refine_steps >= T - 1`` V and S equal the LIF exactly.
A network without MPE-PSN layers but with LIF layers gets the "what if" answer: how MPE-PSN
would approximate each LIF layer on its inputs (``what_if: true`` in the result).

It lives with the models, not the analyses, because training logs it every epoch
(``log_fidelity``) and ``mpe-psn analyze fidelity`` reports it (``mpe_psn.analysis.fidelity``).
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from mpe_psn.functional import lif, mpe_psn
from mpe_psn.models.batches import Batch, eval_mode, forward, model_device, time_major_batches
from mpe_psn.models.probe import neuron_kind, spiking_layers, watch
from mpe_psn.neurons import LIF, MPEPSN

__all__ = ["METRICS", "fidelity", "fidelity_summary", "layer_errors"]

METRICS = ("v_hat_mse", "v_hat_mae", "v_mse", "v_mae", "spike_mismatch")


def layer_errors(
    x: torch.Tensor,
    threshold: "float | torch.Tensor",
    tau: float,
    estimator: str,
    refine_steps: int,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Per-step sums [T] (float64) of each metric's numerator over one batch, plus ``count``.

    ``x`` is the layer input [T, B, ...]; dividing a sum by ``count`` gives the per-step mean.
    Also returns the spike counts of both neurons (``spikes`` and ``exact_spikes``).
    """
    x = x.detach().float()
    if isinstance(threshold, torch.Tensor):
        threshold = threshold.detach().to(x.device, torch.float32)
    exact = lif(x, threshold, tau)
    est = mpe_psn(x, threshold, tau, estimator=estimator, refine_steps=refine_steps, generator=generator)
    T = x.shape[0]

    def per_step(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(T, -1).sum(dim=1, dtype=torch.float64)

    d_hat = est.v_hat - exact.v
    d_v = est.v - exact.v
    return {
        "v_hat_mse": per_step(d_hat.square()),
        "v_hat_mae": per_step(d_hat.abs()),
        "v_mse": per_step(d_v.square()),
        "v_mae": per_step(d_v.abs()),
        "spike_mismatch": per_step((est.spikes != exact.spikes).float()),
        "spikes": per_step(est.spikes),
        "exact_spikes": per_step(exact.spikes),
        "count": torch.full((T,), float(x[0].numel()), dtype=torch.float64),
    }


def _targets(model: nn.Module) -> tuple[list[tuple[str, nn.Module]], bool]:
    layers = spiking_layers(model)
    mpe = [(n, m) for n, m in layers if isinstance(m, MPEPSN)]
    if mpe:
        return mpe, False
    lifs = [(n, m) for n, m in layers if isinstance(m, LIF)]
    if lifs:
        return lifs, True
    kinds = sorted({neuron_kind(m) for _, m in layers}) or ["none"]
    raise ValueError(
        f"fidelity compares MPE-PSN with the exact LIF, so it needs MPE-PSN or LIF layers; "
        f"this model's spiking layers are: {', '.join(kinds)}"
    )


def _settings(module: nn.Module, what_if: bool, estimator: str | None, refine_steps: int | None) -> tuple[str, int]:
    if what_if:
        return estimator or "expected", 0 if refine_steps is None else refine_steps
    return (
        estimator or module.eval_estimator,
        module.refine_steps if refine_steps is None else refine_steps,
    )


class _Sums:
    """Running per-step sums for one layer."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] | None = None

    def add(self, part: dict[str, torch.Tensor]) -> None:
        if self.sums is None:
            self.sums = {k: v.cpu() for k, v in part.items()}
            return
        if part["count"].shape != self.sums["count"].shape:
            raise ValueError(f"time steps changed between batches: {self.sums['count'].numel()} then {part['count'].numel()}")
        for k, v in part.items():
            self.sums[k] += v.cpu()

    def summary(self) -> dict:
        s = self.sums
        assert s is not None
        count = s["count"]
        out: dict = {}
        for key in METRICS:
            out[key] = float(s[key].sum() / count.sum())
        out["rate"] = float(s["spikes"].sum() / count.sum())
        out["exact_rate"] = float(s["exact_spikes"].sum() / count.sum())
        out["per_step"] = {key: (s[key] / count).tolist() for key in (*METRICS, "spikes")}
        out["per_step"]["rate"] = out["per_step"].pop("spikes")
        return out


def fidelity(
    model: nn.Module,
    batches: Iterable[Batch],
    *,
    max_batches: int | None = None,
    estimator: str | None = None,
    refine_steps: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Fidelity of every MPE-PSN layer of ``model`` over ``batches`` (see module docstring).

    Args:
        model: a network with MPE-PSN layers (or LIF layers: the "what if" analysis).
        batches: ``(x [B, T, ...], y [B])`` pairs; ``max_batches`` limits how many are used.
        estimator: override the layers' eval estimator (``None``: each layer's own).
        refine_steps: override the layers' refinement (``None``: each layer's own).
        seed: seeds the Bernoulli samples of the estimate (when the estimator samples).

    Returns:
        ``{"T", "samples", "what_if", "layers": [{"name", "kind", "neurons", "threshold",
        "tau", "estimator", "refine_steps", <METRICS>, "rate", "exact_rate", "per_step":
        {<METRICS>, "rate": [T]}}], "total": {<METRICS>}}``; ``total`` pools all neurons.
    """
    device = model_device(model)
    return _measure(model, time_major_batches(batches, max_batches, device, progress, "fidelity"), estimator, refine_steps, seed)


def _measure(model: nn.Module, batches: Iterable[Batch], estimator: str | None, refine_steps: int | None, seed: int) -> dict:
    """:func:`fidelity` over time-major ``(x [T, B, ...], y [B])`` pairs."""
    targets, what_if = _targets(model)
    sums = {name: _Sums() for name, _ in targets}
    info: dict[str, dict] = {}
    generator = torch.Generator(device=model_device(model)).manual_seed(seed)
    samples = 0
    T = None

    def on_forward(name: str, module: nn.Module, x: torch.Tensor, _out: torch.Tensor) -> None:
        est, k = _settings(module, what_if, estimator, refine_steps)
        sums[name].add(layer_errors(x, module.threshold, module.tau, est, k, generator))
        info[name] = {
            "name": name,
            "kind": neuron_kind(module),
            "neurons": int(x[0, 0].numel()),
            "threshold": float(module.threshold.detach().float().mean()),
            "tau": module.tau,
            "estimator": est,
            "refine_steps": k,
        }

    with eval_mode(model), watch(targets, on_forward):
        for x, y in batches:
            forward(model, x)
            samples += int(y.shape[0])
            T = int(x.shape[0])
    if samples == 0:
        raise ValueError("fidelity got no batches: the data split is empty")
    missing = [name for name, s in sums.items() if s.sums is None]
    if missing:
        raise RuntimeError(f"layers {missing} never ran during the forward pass; is the model's forward using them?")

    layers = [{**info[name], **sums[name].summary()} for name, _ in targets]
    total = {key: _pooled(sums, key) for key in METRICS}
    return {"T": T, "samples": samples, "what_if": what_if, "layers": layers, "total": total}


def _pooled(sums: dict[str, _Sums], key: str) -> float:
    num = sum(float(s.sums[key].sum()) for s in sums.values())
    den = sum(float(s.sums["count"].sum()) for s in sums.values())
    return num / den


def fidelity_summary(model: nn.Module, x: torch.Tensor, *, estimator: str | None = None, seed: int = 0) -> dict:
    """Fidelity on one batch, cheap enough to log once per epoch during training.

    ``x`` is one time-major input batch [T, B, ...] (for example the first test batch, fixed
    for the whole run). Runs one forward in eval mode without gradients (the training flag is
    restored) plus one sequential LIF per MPE-PSN layer. Returns
    ``{"v_hat_mse", "v_hat_mae", "v_mse", "v_mae", "spike_mismatch", "layers": {name:
    {"v_hat_mse", "v_mse", "spike_mismatch"}}}``: plain floats, ready for a JSON line.
    """
    if x.dim() < 3:
        raise ValueError(f"fidelity_summary needs one time-major batch [T, B, ...], got shape {tuple(x.shape)}")
    batch = [(x, torch.zeros(x.shape[1], dtype=torch.long))]
    result = _measure(model, batch, estimator, None, seed)
    out: dict = dict(result["total"])
    out["layers"] = {
        layer["name"]: {k: layer[k] for k in ("v_hat_mse", "v_mse", "spike_mismatch")} for layer in result["layers"]
    }
    return out
