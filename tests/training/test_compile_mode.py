"""The config key ``compile`` (``--compile [MODE]``): off, default, reduce-overhead, max-autotune.

Older configs hold true or false there and load unchanged (read as default and off); the flag
alone means default; reduce-overhead (CUDA graphs) on a CPU compiles in the default mode and
says so. The GPU test trains the small net with reduce-overhead against eager.
"""

from __future__ import annotations

import argparse
import json
from types import SimpleNamespace

import pytest
import torch

from mpe_psn.commands import train as train_command
from mpe_psn.training import setup as training_setup
from mpe_psn.training.config import COMPILE_MODES, ConfigError, TrainConfig, compile_mode


def _parse(argv):
    parser = argparse.ArgumentParser()
    train_command.configure(parser)
    return train_command.config_from_args(parser.parse_args(argv))


def test_modes_and_older_true_false():
    assert COMPILE_MODES == ("off", "default", "reduce-overhead", "max-autotune")
    assert TrainConfig().compile == "off" and compile_mode(TrainConfig().compile) == "off"
    for saved, mode in ((True, "default"), (False, "off"), ("reduce-overhead", "reduce-overhead")):
        config = TrainConfig.from_dict({"compile": saved})
        assert config.compile == saved and type(config.compile) is type(saved)  # kept: config.json round-trips
        assert config.to_dict()["compile"] == saved
        assert compile_mode(config.compile) == mode
    with pytest.raises(ConfigError, match=r"config key 'compile' must be one of \['off', 'default', 'reduce-overhead', "
                                          r"'max-autotune'\] \(or true/false\), got 'fast'"):
        TrainConfig.from_dict({"compile": "fast"})
    with pytest.raises(ConfigError, match="'compile'"):
        TrainConfig.from_dict({"compile": 1})


def test_the_flag_alone_means_default_and_takes_a_mode(capsys):
    from mpe_psn.commands import cli

    assert _parse([]).compile == "off"
    assert _parse(["--compile"]).compile == "default"
    assert _parse(["--compile", "reduce-overhead"]).compile == "reduce-overhead"
    assert _parse(["--compile", "off"]).compile == "off"
    assert _parse(["--set", "compile=true"]).compile is True  # JSON true, as an older config.json holds
    assert cli.main(["train", "--compile", "fast", "--print-config"]) == 2
    assert "argument --compile: invalid choice: 'fast'" in capsys.readouterr().err
    assert cli.main(["train", "--compile", "max-autotune", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["compile"] == "max-autotune"


@pytest.mark.parametrize("value,device,mode,logged", [
    ("off", "cpu", None, False),
    (False, "cpu", None, False),
    (True, "cpu", "default", False),
    ("default", "cpu", "default", False),
    ("max-autotune", "cpu", "max-autotune", False),
    ("reduce-overhead", "cpu", "default", True),  # CUDA graphs need CUDA: the default mode, said once
    ("reduce-overhead", "cuda", "reduce-overhead", False),
])
def test_wrap_compiles_in_the_mode(monkeypatch, value, device, mode, logged):
    """``_wrap`` (training/setup.py) calls torch.compile (recorded here, not run) in the mode."""
    calls, lines = [], []
    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: calls.append(kwargs) or ("compiled", model))
    run = SimpleNamespace(config=TrainConfig.from_dict({"compile": value}), log=lines.append,
                          ctx=SimpleNamespace(distributed=False, device=torch.device(device)))
    net = torch.nn.Linear(2, 2)
    model = training_setup._wrap(run, net)
    if mode is None:
        assert model is net and calls == []
    else:
        assert model == ("compiled", net) and calls == [{"dynamic": False, "mode": mode}]
    assert len(lines) == int(logged)
    if logged:
        assert "reduce-overhead" in lines[0] and "CUDA" in lines[0] and "default mode" in lines[0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_with_reduce_overhead_equals_eager_on_gpu(tiny):
    """``--compile reduce-overhead`` on the GPU: the small net (MPE-PSN on Triton, the expected
    estimator: deterministic) for 2 epochs of 3 batches, the last one smaller (16, 16, 8: a
    second CUDA graph); the losses are finite and equal eager's."""
    import math

    from mpe_psn.training.loop import train

    data = {"num_train": 40, "num_test": 20, "seed": 3}
    common = dict(device="cuda", epochs=2, dataset_options=data, estimator="expected", eval_estimator="expected")
    quiet = dict(progress=False, log=lambda m: None)
    eager = train(tiny(name="eager", **common), **quiet).metrics
    graphed = train(tiny(name="graphed", compile="reduce-overhead", **common), **quiet).metrics
    for a, b in zip(eager, graphed):
        assert math.isfinite(b["train_loss"]) and math.isfinite(b["test_loss"])
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-3), (a["train_loss"], b["train_loss"])
        assert b["test_loss"] == pytest.approx(a["test_loss"], rel=1e-3), (a["test_loss"], b["test_loss"])
