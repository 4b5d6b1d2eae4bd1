"""Training and evaluation: configuration and presets, the loop (AMP, DDP, compile),
checkpoints, run folders, evaluation.

>>> from mpe_psn.training import load_model
>>> model, config = load_model("runs/my-run/best.pt")
"""

from mpe_psn.training.checkpoint import CheckpointError, load_checkpoint, load_model
from mpe_psn.training.config import ConfigError, TrainConfig

__all__ = ["CheckpointError", "ConfigError", "TrainConfig", "load_checkpoint", "load_model"]
