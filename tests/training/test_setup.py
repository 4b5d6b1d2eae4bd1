"""The loop's structure: a frozen Setup built once, a RunState that the epochs change, named batch steps."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import mpe_psn.training.loop as loop
from mpe_psn.losses import TotalLoss
from mpe_psn.training.setup import RunState, build_setup


def quiet():
    return dict(progress=False, log=lambda message: None)


def test_the_setup_is_frozen_and_a_new_run_starts_from_an_empty_state(tiny):
    setup, state = build_setup(tiny(batch_size=16), **quiet())
    try:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setup.model = torch.nn.Identity()
        assert setup.model is setup.net  # one process, no compile: the step calls the network itself
        assert setup.start_epoch == 0 and setup.local_batch == 16 and setup.dtype is None
        assert state == RunState() and setup.folder.metrics is state.history
    finally:
        setup.folder.close()


def test_a_resumed_setup_gets_the_checkpoint_back(tiny):
    first = loop.train(tiny(name="r", epochs=1), **quiet())
    setup, state = build_setup(tiny(name="r", epochs=3), resume=first.run_dir, **quiet())
    try:
        assert setup.start_epoch == 1 and setup.run_path == first.run_dir
        assert (state.best_acc, state.best_epoch) == (first.best_acc, first.best_epoch)
        assert [row["train_loss"] for row in state.history] == [row["train_loss"] for row in first.metrics]
        saved = first.model.state_dict()
        assert all(torch.equal(saved[k], v) for k, v in setup.net.state_dict().items())
        assert setup.scheduler.T_max == 3  # the cosine schedule stretched to the raised --epochs
    finally:
        setup.folder.close()


def test_the_epoch_sums_average_per_sample():
    # two batches: 2 samples (losses 1.0/0.5/0.25, 1 correct) and 3 samples (losses 4.0/2.0/1.0, 3 correct)
    sums = torch.zeros(5, dtype=torch.float64)
    for n, total, tet, mem, correct in ((2, 1.0, 0.5, 0.25, 1), (3, 4.0, 2.0, 1.0, 3)):
        losses = TotalLoss(torch.tensor(total), torch.tensor(tet), torch.tensor(mem))
        outputs = torch.zeros(4, n, 3)  # [T, batch, classes]: every prediction is class 0
        y = torch.tensor([0] * correct + [1] * (n - correct))
        loop._add_batch(sums, losses, outputs, y, None)
    stats = loop._epoch_stats(sums, 0.5, seconds=2.0, cpu_seconds=1.0)
    assert stats["train_loss"] == pytest.approx((2 * 1.0 + 3 * 4.0) / 5)
    assert stats["train_tet"] == pytest.approx((2 * 0.5 + 3 * 2.0) / 5)
    assert stats["mem_loss"] == pytest.approx((2 * 0.25 + 3 * 1.0) / 5)
    assert stats["train_acc"] == pytest.approx(4 / 5) and stats["samples_per_s"] == pytest.approx(2.5)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_loss_stops_the_run_with_the_batch_named(tiny, bad):
    loop._check_finite(torch.tensor(1.5), tiny(), epoch=0, step=0)
    with pytest.raises(loop.TrainingError, match=f"loss became {bad} at epoch 3, batch 5; lower --lr"):
        loop._check_finite(torch.tensor(bad), tiny(), epoch=2, step=4)


def test_a_backend_that_cannot_run_here_is_a_config_error_before_any_data_is_read(monkeypatch, tmp_path):
    from mpe_psn.training import setup
    from mpe_psn.training.config import ConfigError, TrainConfig
    from mpe_psn.training.loop import train

    from mpe_psn.ops import registry

    monkeypatch.setattr(setup, "_build_data", lambda *a, **k: pytest.fail("the data was built before the check"))
    for neuron in ("mpe", "lif"):
        # as on a machine without a GPU (the tests run Triton interpreted on the CPU)
        triton = registry.backends(neuron)["triton"]
        monkeypatch.setitem(registry._REGISTRY[neuron], "triton",
                            dataclasses.replace(triton, unavailable=lambda device, dtype: "no CUDA here"))
        config = TrainConfig.from_dict({"neuron": neuron, "backend": "triton", "device": "cpu", "out": str(tmp_path)})
        with pytest.raises(ConfigError, match=r"config key 'backend': .*'triton' cannot run on cpu float32 tensors: "
                                              r"no CUDA here. Available here: \['reference', 'cpu'\]"):
            train(config, progress=False, log=lambda message: None)
    assert not any(tmp_path.iterdir())  # no run folder either
