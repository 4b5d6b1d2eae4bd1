"""``--finetune-as lif --finetune-epochs N``: the last N epochs train and evaluate as the exact LIF."""

from __future__ import annotations

import json

import pytest
import torch

import mpe_psn.training.loop as loop
from mpe_psn.data import build_dataset, build_loader
from mpe_psn.models.batches import time_major_batches
from mpe_psn.models.deployment_gap import deployment_gap
from mpe_psn.neurons import MPEPSN
from mpe_psn.training.checkpoint import load_checkpoint, load_model
from mpe_psn.training.config import ConfigError
from mpe_psn.training.finetune import finetune_error, is_finetune_epoch
from mpe_psn.training.loop import train


def quiet(messages=None):
    return dict(progress=False, log=(messages.append if messages is not None else lambda m: None))


def test_which_epochs_are_fine_tuned():
    assert [is_finetune_epoch("lif", 2, 5, e) for e in range(5)] == [False, False, False, True, True]
    assert not any(is_finetune_epoch(None, 0, 5, e) for e in range(5))
    assert [is_finetune_epoch("lif", 3, 3, e) for e in range(3)] == [True, True, True]


@pytest.mark.parametrize("changes, key, words", [
    (dict(finetune_as="lif", finetune_epochs=0), "finetune_epochs", "positive int"),
    (dict(finetune_epochs=1), "finetune_epochs", "unless finetune_as is set"),
    (dict(finetune_as="lif", finetune_epochs=3, epochs=2), "finetune_epochs", "at most epochs = 2"),
    (dict(finetune_as="lif", finetune_epochs=1, neuron="lif"), "finetune_as", "null for neuron 'lif'"),
    (dict(finetune_as="psn", finetune_epochs=1), "finetune_as", "one of ['lif']"),
    (dict(finetune_as="lif", finetune_epochs=-1), "finetune_epochs", "an int >= 0"),
    (dict(finetune_as="lif", finetune_epochs=True), "finetune_epochs", "an int >= 0"),
])
def test_impossible_settings_name_the_key(tiny, changes, key, words):
    with pytest.raises(ConfigError, match=f"config key '{key}' must be") as info:
        tiny(**changes)
    assert words in str(info.value) and "\n" not in str(info.value)
    assert finetune_error(changes.get("finetune_as"), changes.get("finetune_epochs", 0), changes.get("epochs", 1),
                          changes.get("neuron", "mpe"))[0] == key


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    """A tiny MPE-PSN run of 2 epochs whose 2nd is fine-tuned as the LIF, with each epoch's neuron settings."""
    from .conftest import tiny_config

    tmp = tmp_path_factory.mktemp("finetune")
    seen: list[tuple[int, list[int]]] = []
    real = loop._train_epoch

    def spy(run, epoch):
        seen.append((epoch, [m.refine_steps for m in run.net.modules() if isinstance(m, MPEPSN)]))
        return real(run, epoch)

    loop._train_epoch = spy
    messages: list[str] = []
    try:
        result = train(tiny_config(tmp, name="ft", epochs=2, finetune_as="lif", finetune_epochs=1), **quiet(messages))
    finally:
        loop._train_epoch = real
    return result, seen, messages, tmp


def test_the_last_epochs_run_as_the_exact_lif(finetuned):
    result, seen, messages, _ = finetuned
    T = result.config["T"]
    assert [epoch for epoch, _ in seen] == [0, 1]
    assert seen[0][1] and set(seen[0][1]) == {0}  # MPE-PSN as trained
    assert set(seen[1][1]) == {T - 1}  # every layer: T - 1 passes = the exact LIF
    assert any("fine-tuning as the exact LIF" in m and "epochs 2-2" in m for m in messages)


def test_the_checkpoint_records_it_and_best_is_a_finetuned_epoch(finetuned):
    result, _, _, _ = finetuned
    run = result.run_dir
    config = json.loads((run / "config.json").read_text())
    assert (config["finetune_as"], config["finetune_epochs"]) == ("lif", 1)
    assert load_checkpoint(run / "last.pt")["config"]["finetune_as"] == "lif"
    assert load_checkpoint(run / "best.pt")["best_epoch"] == 1  # chosen among the fine-tuned epochs only


def test_the_finetuned_epochs_test_accuracy_is_the_lif_accuracy_of_the_weights(finetuned):
    result, _, _, _ = finetuned
    model, config = load_model(result.run_dir / "last.pt")
    assert {m.refine_steps for m in model.modules() if isinstance(m, MPEPSN)} == {0}  # a setting, not a weight
    test_set = build_dataset(config["dataset"], "test", T=config["T"], size=config["input_size"],
                             cache_dir=config["cache_dir"], progress=False, **config["dataset_options"])
    loader = build_loader(test_set, batch_size=16, shuffle=False)
    T = config["T"]
    gap = deployment_gap(model, time_major_batches(loader), seeds=1, refine_levels=[T - 1])
    assert result.metrics[-1]["test_acc"] == gap["refine"][T - 1] == pytest.approx(gap["lif"], abs=0.051)


@pytest.mark.slow
def test_a_killed_finetune_resumes_to_the_same_weights(finetuned, monkeypatch):
    from .conftest import tiny_config

    full, _, _, tmp = finetuned
    calls = {"n": 0}
    real_total_loss = loop.total_loss

    def killed_in_second_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # 3 batches per epoch: the 2nd batch of the fine-tuned epoch
            raise KeyboardInterrupt
        return real_total_loss(*args, **kwargs)

    config = tiny_config(tmp, name="split", epochs=2, finetune_as="lif", finetune_epochs=1)
    monkeypatch.setattr(loop, "total_loss", killed_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(config, **quiet())
    monkeypatch.setattr(loop, "total_loss", real_total_loss)
    run = full.run_dir.parent / "split"
    assert load_checkpoint(run / "last.pt")["epoch"] == 1
    resumed = train(config, resume=run, **quiet())
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["test_acc"] for r in full.metrics] == [r["test_acc"] for r in resumed.metrics]


def test_a_finished_run_resumed_into_finetuning_picks_best_among_the_finetuned_epochs(tiny):
    first = train(tiny(name="ext", epochs=1), **quiet())
    messages: list[str] = []
    resumed = train(tiny(name="ext", epochs=2, finetune_as="lif", finetune_epochs=2), resume=first.run_dir,
                    **quiet(messages))
    assert any("epochs 2-2: fine-tuning as the exact LIF" in m for m in messages)
    assert resumed.best_epoch == 1 and load_checkpoint(resumed.run_dir / "best.pt")["best_epoch"] == 1


def test_each_epoch_row_says_whether_it_was_finetuned(finetuned):
    result, _, _, _ = finetuned
    assert [row["finetune"] for row in result.metrics] == [None, "lif"]


def test_resuming_a_finished_run_with_more_epochs_trains_at_the_stretched_cosine_rate(tiny):
    first = train(tiny(name="more", epochs=1), **quiet())
    assert first.metrics[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # the cosine over 1 epoch ends at 0
    resumed = train(tiny(name="more", epochs=3), resume=first.run_dir, **quiet())
    lr = tiny().lr
    # logged after each epoch's step: epochs 2 and 3 of a cosine over 3 epochs end at e = 2, 3
    assert [row["lr"] for row in resumed.metrics[1:]] == pytest.approx(
        [lr * (1 + torch.cos(torch.tensor(torch.pi * e / 3)).item()) / 2 for e in (2, 3)], abs=1e-9)
    a, b = first.model.state_dict(), resumed.model.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a if k.endswith("weight"))  # it trained
