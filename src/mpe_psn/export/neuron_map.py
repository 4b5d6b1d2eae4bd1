"""The one mapping between this project's discrete neuron and NIR's continuous LIF.

This project's neurons (MPE-PSN estimates it, LIF computes it) are the hard-reset discrete LIF::

    H[t] = tau * V[t-1] + x[t],   S[t] = 1[H[t] > theta],   V[t] = (1 - S[t]) * H[t]

NIR's LIF is ``tau_nir * dv/dt = (v_leak - v) + r * I`` with a reset to ``v_reset`` on a spike.
One forward-Euler step of length ``dt`` is ``v <- (1 - dt/tau_nir) * v + (r * dt/tau_nir) * I``,
so with ``v_leak = v_reset = 0``::

    decay       = 1 - dt / tau_nir       (our tau)
    input scale = r * dt / tau_nir       (1 for our neuron)

and exporting sets ``tau_nir = dt / (1 - tau)`` and ``r = 1 / (1 - tau)`` (``tau = 1``, no leak,
is NIR's IF with ``r = 1 / dt``). An input scale ``c != 1`` is the same neuron with threshold
``theta / c`` (divide V by c), which is how an import maps it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_DT", "lif_parameters", "discrete_from_lif", "discrete_from_if", "discrete_from_cuba_lif"]

#: snnTorch and Norse assume this time step when they read a NIR LIF (snnTorch hard-codes it).
DEFAULT_DT = 1e-4


def lif_parameters(tau: float, threshold: np.ndarray, dt: float) -> dict[str, np.ndarray]:
    """NIR LIF (or IF, for ``tau = 1``) fields for our neuron, one value per neuron of ``threshold``'s shape."""
    if not (dt > 0 and np.isfinite(dt)):
        raise ValueError(f"dt must be a positive finite number of seconds, got {dt!r}")
    shape = threshold.shape
    full = lambda value: np.full(shape, value, dtype=np.float32)  # noqa: E731
    if tau == 1.0:
        return {"r": full(1.0 / dt), "v_threshold": threshold.astype(np.float32), "v_reset": full(0.0)}
    return {
        "tau": full(dt / (1.0 - tau)),
        "r": full(1.0 / (1.0 - tau)),
        "v_leak": full(0.0),
        "v_threshold": threshold.astype(np.float32),
        "v_reset": full(0.0),
    }


def _single(values: np.ndarray, what: str, node: str) -> float:
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"NIR node {node!r}: {what} must be finite numbers, got {values[:4]}")
    if not np.allclose(values, values[0], rtol=1e-5, atol=1e-7):
        raise ValueError(
            f"NIR node {node!r}: {what} differs between neurons ({values.min():.6g} .. {values.max():.6g}); "
            f"this project's neurons share one value per layer"
        )
    return float(values[0])


def _zero(values, what: str, node: str) -> None:
    if values is not None and not np.allclose(np.asarray(values, dtype=np.float64), 0.0):
        raise ValueError(f"NIR node {node!r}: {what} must be 0 for this project's neurons (hard reset to 0, no leak "
                         f"potential), got {np.asarray(values).ravel()[:4]}")


def _decay_and_threshold(decay: float, scale: float, v_threshold, node: str) -> tuple[float, float]:
    if not -1e-6 <= decay <= 1.0 + 1e-6:
        raise ValueError(f"NIR node {node!r}: its decay per step 1 - dt/tau = {decay:.6g} is outside [0, 1] "
                         f"at this dt; pass the dt the graph was made for (from_nir(..., dt=...))")
    if not scale > 0:
        raise ValueError(f"NIR node {node!r}: its input scale r * dt / tau = {scale:.6g} must be positive")
    threshold = _single(v_threshold, "v_threshold", node) / scale
    return min(max(decay, 0.0), 1.0), threshold


def discrete_from_lif(node, dt: float, name: str) -> tuple[float, float]:
    """``(tau, theta)`` of our neuron for a NIR LIF node (forward Euler at ``dt``)."""
    _zero(node.v_leak, "v_leak", name)
    _zero(node.v_reset, "v_reset", name)
    tau_nir = _single(node.tau, "tau", name)
    r = _single(node.r, "r", name)
    return _decay_and_threshold(1.0 - dt / tau_nir, r * dt / tau_nir, node.v_threshold, name)


def discrete_from_if(node, dt: float, name: str) -> tuple[float, float]:
    """``(1.0, theta)`` for a NIR IF node: ``dv/dt = r I`` is ``v <- v + r dt I``."""
    _zero(node.v_reset, "v_reset", name)
    return _decay_and_threshold(1.0, _single(node.r, "r", name) * dt, node.v_threshold, name)


def discrete_from_cuba_lif(node, dt: float, name: str) -> tuple[float, float]:
    """A CubaLIF whose synaptic current forgets in one step (``tau_syn = dt``) is our LIF; others are an error."""
    tau_syn = _single(node.tau_syn, "tau_syn", name)
    if not np.isclose(tau_syn, dt, rtol=1e-5):
        raise ValueError(
            f"NIR node {name!r} (CubaLIF) has a synaptic time constant tau_syn = {tau_syn:.6g} s != dt = {dt:.6g} s: "
            f"its synaptic current keeps a memory that this project's neurons lack, so no exact mapping exists"
        )
    _zero(node.v_leak, "v_leak", name)
    _zero(node.v_reset, "v_reset", name)
    tau_mem = _single(node.tau_mem, "tau_mem", name)
    scale = _single(node.w_in, "w_in", name) * _single(node.r, "r", name) * dt / tau_mem
    return _decay_and_threshold(1.0 - dt / tau_mem, scale, node.v_threshold, name)
