"""One MPE-PSN layer next to the exact LIF on random currents (``mpe-psn demo``).

Gaussian currents (mean 0.5, sd 1) drive T steps of N neurons; each MPE-PSN variant (both
estimators, and the expected one after 1, 2 and T-1 correction passes, T-1 being exact) is
compared with the sequential LIF: its spike rate, the share of spikes that differ and the mean
``|v - v_LIF|``.
"""

from __future__ import annotations

import torch

from mpe_psn import functional as F

__all__ = ["layer_demo", "format_layer_demo"]


def layer_demo(T: int, N: int, seed: int = 0) -> dict:
    """``{"T", "N", "exact_rate", "rows": [(variant, spike rate, spikes != LIF, |v - v_LIF|)]}``."""
    torch.manual_seed(seed)
    x = torch.randn(T, N) + 0.5
    exact = F.lif(x)
    variants = [("bernoulli estimator", dict(estimator="bernoulli")), ("expected estimator", dict(estimator="expected"))]
    for k in sorted({1, 2, T - 1}):  # T - 1 refinements make the estimate exact
        if 1 <= k <= T - 1:
            variants.append((f"expected + {k} refinement{'s' if k > 1 else ''}", dict(estimator="expected", refine_steps=k)))
    rows = []
    for label, kwargs in variants:
        out = F.mpe_psn(x, **kwargs)
        mismatch = (out.spikes != exact.spikes).float().mean().item()
        rows.append((label, out.spikes.mean().item(), mismatch, (out.v - exact.v).abs().mean().item()))
    return {"T": T, "N": N, "exact_rate": float(exact.spikes.mean()), "rows": rows}


def format_layer_demo(result: dict) -> str:
    """The table ``mpe-psn demo`` prints."""
    lines = [f"input: T = {result['T']} steps x N = {result['N']} neurons, Gaussian currents (mean 0.5, sd 1)",
             f"exact sequential LIF: spike rate {result['exact_rate']:.4f}",
             f"{'MPE-PSN variant':<28} {'spike rate':>10} {'spikes != LIF':>14} {'|v - v_LIF|':>12}"]
    lines += [f"{label:<28} {rate:>10.4f} {mismatch:>13.2%} {dv:>12.4f}" for label, rate, mismatch, dv in result["rows"]]
    return "\n".join(lines)
