"""Fused operations, one folder per op. Each op is tested against ``mpe_psn.functional``."""

from mpe_psn.ops.mpe import BACKENDS, fallbacks, mpe_psn, mpe_psn_layer, mpe_psn_potentials, resolve_backend

__all__ = ["BACKENDS", "fallbacks", "mpe_psn", "mpe_psn_layer", "mpe_psn_potentials", "resolve_backend"]
