"""Fidelity of the estimate (paper Fig. 3a): MPE-PSN potentials against the exact LIF.

The measurement lives in :mod:`mpe_psn.models.fidelity` (training logs it every epoch too,
and training must not import the analyses); this module is its place among the analyses.
"""

from __future__ import annotations

from mpe_psn.models.fidelity import METRICS, fidelity, fidelity_summary, layer_errors

__all__ = ["METRICS", "fidelity", "fidelity_summary", "layer_errors"]
