"""The neurons as ``nn.Module`` layers (``layers``) and their settings as data (``settings``)."""

from mpe_psn.neurons.layers import LIF, MPEPSN, PSN, STEP_MODES, SpikingNeuron, reset, set_step_mode
from mpe_psn.neurons.settings import (
    LIFSettings,
    MPEPSNSettings,
    NeuronSettings,
    configure,
    configurable_layers,
    setting_names,
)

__all__ = ["MPEPSN", "LIF", "PSN", "SpikingNeuron", "STEP_MODES", "set_step_mode", "reset", "NeuronSettings",
           "MPEPSNSettings", "LIFSettings", "configure", "configurable_layers", "setting_names"]
