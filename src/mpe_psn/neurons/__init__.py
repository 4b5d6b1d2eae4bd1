"""The neurons as ``nn.Module`` layers (``layers``), their settings as data (``settings``), and
one neuron rebuilt as the other kind (``swap``)."""

from mpe_psn.neurons.layers import LIF, MPEPSN, PSN, STEP_MODES, SpikingNeuron, reset, set_step_mode
from mpe_psn.neurons.settings import (
    LIFSettings,
    MPEPSNSettings,
    NeuronSettings,
    configure,
    configurable_layers,
    setting_names,
)
from mpe_psn.neurons.swap import as_neuron

__all__ = ["MPEPSN", "LIF", "PSN", "SpikingNeuron", "STEP_MODES", "set_step_mode", "reset", "NeuronSettings",
           "MPEPSNSettings", "LIFSettings", "configure", "configurable_layers", "setting_names", "as_neuron"]
