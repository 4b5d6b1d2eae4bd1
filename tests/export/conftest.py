"""A tiny trained run on the built-in dataset, shared by the ONNX and export-command tests."""

from __future__ import annotations

import pytest

#: a few dozen 20 x 20 samples at T = 4: trains in seconds, and "every test sample" stays fast
TINY_DATA = {"num_train": 64, "num_test": 30, "seed": 5}
T, SIZE = 4, 20


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """(run folder, cache folder) of one epoch of MPE-PSN on the small net."""
    from mpe_psn.training.config import TrainConfig
    from mpe_psn.training.loop import train

    tmp = tmp_path_factory.mktemp("export-run")
    config = TrainConfig.from_dict(dict(
        dataset="synthetic", dataset_options=dict(TINY_DATA), cache_dir=str(tmp / "cache"), model="small", T=T,
        input_size=SIZE, epochs=1, batch_size=16, lr=0.01, out=str(tmp / "runs"), name="run", device="cpu",
    ))
    result = train(config, progress=False, log=lambda message: None)
    return result.run_dir, tmp / "cache"


@pytest.fixture(scope="session")
def tiny_test_set(tiny_run):
    """Every sample of the tiny built-in test split: frames [T, N, 2, SIZE, SIZE] and labels [N]."""
    import torch

    from mpe_psn.data.registry import build_dataset

    dataset = build_dataset("synthetic", "test", T=T, size=SIZE, cache_dir=str(tiny_run[1]), progress=False,
                            **TINY_DATA)
    frames = torch.stack([dataset[i][0] for i in range(len(dataset))], dim=1)
    labels = torch.tensor([dataset[i][1] for i in range(len(dataset))])
    return frames, labels
