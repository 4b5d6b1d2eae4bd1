"""Run by torchrun in test_distributed: ``mpe-psn train`` arguments in, each rank's weights out.

Usage: torchrun --nproc-per-node N ddp_worker.py OUT_DIR [mpe-psn train arguments...]
"""

import os
import sys

import torch

from mpe_psn.commands.cli import build_parser
from mpe_psn.training.distributed import teardown_distributed
from mpe_psn.commands.train import config_from_args
from mpe_psn.training.loop import train

if __name__ == "__main__":
    out_dir = sys.argv[1]
    args = build_parser().parse_args(["train", *sys.argv[2:]])
    result = train(config_from_args(args), progress=False)
    torch.save(result.model.state_dict(), os.path.join(out_dir, f"rank{os.environ['RANK']}.pt"))
    teardown_distributed()
