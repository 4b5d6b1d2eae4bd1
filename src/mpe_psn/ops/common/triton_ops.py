"""What every op's ``triton_op`` registration shares: naming the kernels each op launches."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["name_launched_kernels"]


def name_launched_kernels(kernels_of: dict[str, list[Any]]) -> None:
    """Tell torch which Triton kernels each ``triton_op`` (by qualified name) launches.

    torch keys its compile caches (AOTAutograd's) on the source of the kernels a triton_op
    launches, found by reading the op's source. The fused ops launch through their host module,
    out of that reading's sight, so their kernels are named here, in torch's private table
    ``torch._library.triton.triton_ops_to_kernels`` (the one place this project touches it).
    """
    torch._library.triton.triton_ops_to_kernels.update(kernels_of)
