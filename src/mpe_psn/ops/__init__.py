"""Fused operations, one folder per op. Each op is tested against ``mpe_psn.functional``.

Backends are records in the shared registry (``ops/registry.py``); a backend named by the
caller that cannot run on the data's device or dtype raises :class:`BackendUnavailable` (a
``ValueError``) naming what can.
"""

from mpe_psn.ops.mpe import BACKENDS, fallbacks, mpe_psn, mpe_psn_layer, mpe_psn_potentials, resolve_backend
from mpe_psn.ops.registry import BackendUnavailable

__all__ = ["BACKENDS", "BackendUnavailable", "fallbacks", "mpe_psn", "mpe_psn_layer", "mpe_psn_potentials",
           "resolve_backend"]
