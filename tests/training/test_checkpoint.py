"""Checkpoints: round trip, weights_only loading, RNG capture, clear errors."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
import torch

from mpe_psn.models import build_model
from mpe_psn.training.checkpoint import (
    CheckpointError,
    capture_rng,
    load_checkpoint,
    load_model,
    restore_rng,
    save_checkpoint,
)

ARGS = {"name": "small", "neuron": "mpe", "T": 3, "num_classes": 4, "in_channels": 2, "input_size": 16,
        "neuron_options": {"eval_estimator": "expected"}}


def make(args=ARGS):
    args = dict(args)
    return build_model(args.pop("name"), **args)


def test_round_trip_gives_the_same_network(tmp_path):
    torch.manual_seed(0)
    model = make()
    path = tmp_path / "ck.pt"
    save_checkpoint(path, config={"dataset": "synthetic", "T": 3}, model_args=ARGS, model=model.state_dict(), rng=capture_rng())
    loaded, config = load_model(path)
    assert not loaded.training
    assert config["model_args"] == ARGS and config["T"] == 3
    x = torch.rand(3, 2, 2, 16, 16)
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    # a plain weights_only load works: only tensors and primitive containers inside
    content = torch.load(path, weights_only=True)
    assert content["format"] == "mpe-psn-checkpoint"


def test_rng_states_round_trip_through_a_checkpoint(tmp_path):
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    save_checkpoint(tmp_path / "r.pt", config={}, model_args=ARGS, model={}, rng=capture_rng())
    expected = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    restore_rng(torch.load(tmp_path / "r.pt", weights_only=True)["rng"])
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert [random.random() for _ in range(3)] == expected[2]


class Evil:
    def __reduce__(self):
        return (print, ("unpickled!",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pickle_with_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "mpe-psn-checkpoint", "version": 1, "config": {}, "model_args": ARGS, "model": {}, "x": Evil()}, path)
    with pytest.raises(CheckpointError, match="is not an mpe-psn checkpoint") as refused:
        load_checkpoint(path)
    assert "weights_only=False" not in str(refused.value) and "weights_only` set to `False" not in str(refused.value)
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="is not an mpe-psn checkpoint"):
        load_checkpoint(path)


def test_truncated_and_foreign_files(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "ck.pt"
    save_checkpoint(path, config={}, model_args=ARGS, model=make().state_dict())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="is not an mpe-psn checkpoint"):
        load_checkpoint(path)
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="not an mpe-psn checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="folder without a checkpoint"):
        load_checkpoint(tmp_path)


def test_weights_of_another_network_are_refused(tmp_path):
    path = tmp_path / "ck.pt"
    lif_args = {**ARGS, "neuron": "lif", "neuron_options": {}}
    # model_args say MPE-PSN but the weights come from a LIF net with more classes
    save_checkpoint(path, config={}, model_args=ARGS, model=make({**lif_args, "num_classes": 7}).state_dict())
    with pytest.raises(CheckpointError, match="holds weights for a different network than small with neuron mpe"):
        load_model(path)


def test_checkpoint_save_is_atomic(tmp_path, monkeypatch):
    """A crash while writing leaves the old checkpoint intact and no temp file."""
    path = tmp_path / "ck.pt"
    save_checkpoint(path, config={"v": 1}, model_args=ARGS, model={})
    import mpe_psn.utils.atomic as atomic

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, config={"v": 2}, model_args=ARGS, model={})
    assert load_checkpoint(path)["config"] == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]
