"""mpe-psn: parallel spiking neurons by membrane-potential estimation (MPE-PSN)."""

from mpe_psn import functional
from mpe_psn.losses import membrane_loss, tet_loss, total_loss
from mpe_psn.neurons import LIF, MPEPSN, PSN

__version__ = "0.1.0"

__all__ = ["LIF", "MPEPSN", "PSN", "functional", "membrane_loss", "tet_loss", "total_loss", "__version__"]
