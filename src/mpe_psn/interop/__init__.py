"""Other frameworks meet this one here: :func:`convert` swaps SpikingJelly, snnTorch and Norse
neurons of a built model for this project's. One file per framework; each imports its
framework only inside the function that needs it, so none of them is required."""

from mpe_psn.interop.convert import TARGETS, convert
from mpe_psn.interop.report import ConversionReport, LeftAlone, Replacement, UnsupportedNeuronError

__all__ = ["TARGETS", "ConversionReport", "LeftAlone", "Replacement", "UnsupportedNeuronError", "convert"]
