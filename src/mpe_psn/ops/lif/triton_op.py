"""The Triton path of the exact LIF as ``torch.library.triton_op``s, for compiled graphs.

``mpe_psn::triton_lif`` and ``mpe_psn::triton_lif_backward``: the schemas, bodies and autograd of
``mpe_psn::lif`` / ``mpe_psn::lif_backward`` (``op.py``) registered with ``triton_op``, so that
inside ``torch.compile`` AOTAutograd traces their kernel launches (``triton_host`` launches
through ``wrap_triton`` on traced tensors) and Inductor compiles them with the ops around them.
As for MPE-PSN (``ops/mpe/triton_op.py``): used inside ``torch.compile`` only, not by eager
calls or ``torch.export``, and only with compiled kernels (not under ``TRITON_INTERPRET=1``).
"""

from __future__ import annotations

import torch

from mpe_psn.ops.common.triton_ops import name_launched_kernels
from mpe_psn.ops.lif import triton_kernels as K
from mpe_psn.ops.lif.op import GRAPH_LIFS, lif_gradients, lif_outputs, register_lif_autograd

__all__ = ["triton_lif", "triton_lif_backward"]

triton_lif = torch.library.triton_op("mpe_psn::triton_lif", lif_outputs, mutates_args=())
triton_lif_backward = torch.library.triton_op("mpe_psn::triton_lif_backward", lif_gradients, mutates_args=())
register_lif_autograd("mpe_psn::triton_lif", triton_lif_backward)

if not K.INTERPRETED:
    GRAPH_LIFS["triton"] = triton_lif
    name_launched_kernels({"mpe_psn::triton_lif": [K.forward_kernel],
                           "mpe_psn::triton_lif_backward": [K.backward_kernel]})
