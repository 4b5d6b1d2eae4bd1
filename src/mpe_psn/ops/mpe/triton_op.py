"""The Triton path of the MPE-PSN layer as ``torch.library.triton_op``s, for compiled graphs.

``mpe_psn::triton_layer`` and ``mpe_psn::triton_layer_backward``: the schemas, bodies and
autograd of ``mpe_psn::layer`` / ``mpe_psn::layer_backward`` (``op.py``), registered with
``torch.library.triton_op`` instead of ``custom_op``. Inside ``torch.compile`` AOTAutograd traces
a triton_op's body: its allocations, sums and the kernel launches, which ``triton_host`` makes
through ``torch.library.wrap_triton`` on traced tensors. Inductor then sees which buffers each
kernel reads and writes, compiles and launches the kernels from its own code beside its kernels
for the ops around them (the partial sums' reduction, the casts), and a CUDA graph
(``mode="reduce-overhead"``) captures them with the rest of the step. The opaque
``mpe_psn::layer`` is one call Inductor cannot look into.

Eager calls never come here: ``op.run_layer`` calls the host directly (``triton_host``'s cached
direct launches). Calling the op itself outside a trace runs its body with ``wrap_triton`` off:
the same direct launches.

``op.run_layer`` uses these ops inside ``torch.compile`` (not ``torch.export``, which keeps the
portable ``mpe_psn::layer``) when the kernels are Triton's compiled ``JITFunction``s. Under
``TRITON_INTERPRET=1`` (CPU tests) they are plain Python functions that ``wrap_triton`` cannot
trace, so compiled graphs keep ``mpe_psn::layer`` there.
"""

from __future__ import annotations

import torch

from mpe_psn.ops.common.triton_ops import name_launched_kernels
from mpe_psn.ops.mpe import triton_kernels as K
from mpe_psn.ops.mpe.op import GRAPH_LAYERS, layer_gradients, layer_outputs, register_layer_autograd

__all__ = ["triton_layer", "triton_layer_backward"]

triton_layer = torch.library.triton_op("mpe_psn::triton_layer", layer_outputs, mutates_args=())
triton_layer_backward = torch.library.triton_op("mpe_psn::triton_layer_backward", layer_gradients, mutates_args=())
register_layer_autograd("mpe_psn::triton_layer", triton_layer_backward)

if not K.INTERPRETED:
    GRAPH_LAYERS["triton"] = triton_layer
    kernels = [K.forward_kernel, K.backward_kernel]
    name_launched_kernels({"mpe_psn::triton_layer": kernels, "mpe_psn::triton_layer_backward": kernels})
