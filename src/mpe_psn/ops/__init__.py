"""Fused operations, one folder per op. Each op is tested against ``mpe_psn.functional``."""

from mpe_psn.ops.mpe import BACKENDS, mpe_psn, mpe_psn_layer, mpe_psn_potentials, resolve_backend

__all__ = ["BACKENDS", "mpe_psn", "mpe_psn_layer", "mpe_psn_potentials", "resolve_backend"]
