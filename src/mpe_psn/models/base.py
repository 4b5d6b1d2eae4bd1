"""The frame every network shares: input checks, direct encoding, per-step logits."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SpikingNetwork"]


class SpikingNetwork(nn.Module):
    """A spiking network mapping time-major input to per-step logits [T, B, classes].

    Frame networks (``step_dims = 3``) take frames [T, B, C, H, W]; a static image batch
    [B, C, H, W] is accepted too and enters by direct encoding (the same image at each of the
    T steps). Temporal networks (``step_dims = 1``) take spike channels [T, B, C].
    Subclasses fill ``self.body`` (a module on [T, B, ...]).
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

    #: dims of one time step of one sample: 3 for frames [C, H, W], 1 for spike channels [C]
    step_dims = 3

    def sample_shape(self) -> tuple[int, ...]:
        """One time step of one sample: (C, H, W) for frames, (channels,) for spike channels."""
        if self.step_dims == 3:
            return (self.in_channels, self.input_size, self.input_size)
        return (self.in_channels,)

    def _layout(self) -> str:
        return "frames [T, B, C, H, W]" if self.step_dims == 3 else "spike channels [T, B, channels]"

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x`` as time-major input (:meth:`_layout`); shapes that cannot be right get a clear error."""
        if x.dim() == 4 and self.step_dims == 3:
            x = x.unsqueeze(0).expand(self.T, *x.shape)
        if x.dim() != self.step_dims + 2:
            also = " (or images [B, C, H, W])" if self.step_dims == 3 else ""
            raise ValueError(f"{type(self).__name__} takes {self._layout()}{also}, got shape {tuple(x.shape)}")
        if x.shape[0] != self.T:
            raise ValueError(
                f"{type(self).__name__} was built for T = {self.T} time steps but the input has "
                f"T = {x.shape[0]} (shape {tuple(x.shape)}; time-major {self._layout()} expected)"
            )
        if x.shape[2] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} was built for {self.in_channels} input channels but the input has "
                f"{x.shape[2]} (shape {tuple(x.shape)})"
            )
        return x

    step_mode = "m"  # "s" (mpe_psn.set_step_mode): one step [B, ...] -> [B, classes] per call

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "s":
            if x.dim() != self.step_dims + 1 or x.shape[1] != self.in_channels:
                one = f"[B, {self.in_channels}, H, W]" if self.step_dims == 3 else f"[B, {self.in_channels}]"
                raise ValueError(f"{type(self).__name__} in step mode 's' takes one step {one}, got shape {tuple(x.shape)}")
            return self.body(x)
        return self.body(self.check_input(x))

    def extra_repr(self) -> str:
        return f"T={self.T}, num_classes={self.num_classes}, in_channels={self.in_channels}, input_size={self.input_size}"
