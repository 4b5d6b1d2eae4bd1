"""mpe-psn: parallel spiking neurons by membrane-potential estimation (MPE-PSN)."""

from mpe_psn import functional
from mpe_psn.losses import membrane_loss, tet_loss, total_loss
from mpe_psn.neurons import LIF, MPEPSN, PSN, configure, configurable_layers, reset, set_step_mode

__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "convert":
        # convert lives in interop/ and is imported on first use, keeping `import mpe_psn` light
        from mpe_psn.interop.convert import convert

        return convert
    raise AttributeError(f"module 'mpe_psn' has no attribute {name!r}")


__all__ = ["LIF", "MPEPSN", "PSN", "configure", "convert", "functional", "membrane_loss", "configurable_layers", "reset", "set_step_mode", "tet_loss", "total_loss", "__version__"]
