"""Tiny training setups on the built-in dataset (a few dozen 20 x 20 samples, T = 4)."""

from __future__ import annotations

import pytest

from mpe_psn.training.config import TrainConfig

TINY_DATA = {"num_train": 48, "num_test": 20, "seed": 3}


def tiny_config(tmp_path, **changes) -> TrainConfig:
    values = dict(
        dataset="synthetic", dataset_options=dict(TINY_DATA), cache_dir=str(tmp_path / "cache"), model="small",
        T=4, input_size=20, epochs=1, batch_size=16, lr=0.01, out=str(tmp_path / "runs"), name="run", device="cpu",
    )
    values.update(changes)
    return TrainConfig.from_dict(values)


@pytest.fixture
def tiny(tmp_path):
    return lambda **changes: tiny_config(tmp_path, **changes)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """One tiny MPE-PSN run (2 epochs), shared by the checkpoint and eval tests."""
    from mpe_psn.training.loop import train

    tmp = tmp_path_factory.mktemp("trained")
    result = train(tiny_config(tmp, epochs=2), progress=False, log=lambda m: None)
    return result
