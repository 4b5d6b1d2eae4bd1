"""The MPE-PSN layer op: reference path and backend dispatch (backends registered in ``backends.py``)."""

from mpe_psn.ops.mpe.dispatch import BACKENDS, fallbacks, mpe_psn, mpe_psn_layer, mpe_psn_potentials, resolve_backend

__all__ = ["BACKENDS", "fallbacks", "mpe_psn", "mpe_psn_layer", "mpe_psn_potentials", "resolve_backend"]
