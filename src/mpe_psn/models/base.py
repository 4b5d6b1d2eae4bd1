"""The frame every network shares: input checks, direct encoding, per-step logits."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SpikingNetwork"]


class SpikingNetwork(nn.Module):
    """A spiking network mapping frames [T, B, C, H, W] to per-step logits [T, B, classes].

    A static image batch [B, C, H, W] is accepted too and enters by direct encoding: the same
    image at each of the T steps. Subclasses fill ``self.body`` (a module on [T, B, ...]).
    """

    def __init__(self, T: int, num_classes: int, in_channels: int, input_size: int) -> None:
        super().__init__()
        for name, value in (("T", T), ("num_classes", num_classes), ("in_channels", in_channels), ("input_size", input_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.T = T
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.input_size = input_size
        self.body: nn.Module = nn.Identity()

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x`` as [T, B, C, H, W]; shapes that cannot be right get a clear error."""
        if x.dim() == 4:
            x = x.unsqueeze(0).expand(self.T, *x.shape)
        if x.dim() != 5:
            raise ValueError(
                f"{type(self).__name__} takes frames [T, B, C, H, W] (or images [B, C, H, W]), "
                f"got shape {tuple(x.shape)}"
            )
        if x.shape[0] != self.T:
            raise ValueError(
                f"{type(self).__name__} was built for T = {self.T} time steps but the input has "
                f"T = {x.shape[0]} (shape {tuple(x.shape)}; time-major [T, B, C, H, W] expected)"
            )
        if x.shape[2] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} was built for {self.in_channels} input channels but the input has "
                f"{x.shape[2]} (shape {tuple(x.shape)})"
            )
        return x

    step_mode = "m"  # "s" (mpe_psn.set_step_mode): one step [B, C, H, W] -> [B, classes] per call

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "s":
            if x.dim() != 4 or x.shape[1] != self.in_channels:
                raise ValueError(f"{type(self).__name__} in step mode 's' takes one step [B, {self.in_channels}, H, W], "
                                 f"got shape {tuple(x.shape)}")
            return self.body(x)
        return self.body(self.check_input(x))

    def extra_repr(self) -> str:
        return f"T={self.T}, num_classes={self.num_classes}, in_channels={self.in_channels}, input_size={self.input_size}"
