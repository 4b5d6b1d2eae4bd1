"""Leaving the library: NIR export and import, ONNX export, the deployment gap.

Depends on ``neurons`` and ``models``, never the other way. ``nir``, ``onnx`` and
``onnxruntime`` are imported only inside the functions that need them
(``pip install 'mpe-psn[export]'``). Streaming (``step_mode``) lives in ``mpe_psn.neurons``.
"""

from mpe_psn.export.gap import as_lif, deployment_gap
from mpe_psn.export.neuron_map import DEFAULT_DT
from mpe_psn.export.nir_export import to_nir, write_nir
from mpe_psn.export.nir_import import NIRNetwork, from_nir, read_nir
from mpe_psn.export.onnx_export import to_onnx

__all__ = ["DEFAULT_DT", "NIRNetwork", "as_lif", "deployment_gap", "from_nir", "read_nir", "to_nir", "to_onnx",
           "write_nir"]
