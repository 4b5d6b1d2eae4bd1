"""The deployment gap: the accuracy of one trained network in each way it can be run.

The computation lives in :mod:`mpe_psn.models.deployment_gap` (so that ``mpe-psn analyze
deploy`` can use it too); this module keeps it where ``mpe_psn.export`` users find it.
"""

from __future__ import annotations

from mpe_psn.models.deployment_gap import as_lif, deployment_gap

__all__ = ["deployment_gap", "as_lif"]
