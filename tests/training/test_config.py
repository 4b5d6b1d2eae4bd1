"""Config validation, presets, flag override."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import ClassVar

import pytest

from mpe_psn.commands import train as train_command
from mpe_psn.training.config import ConfigError, TrainConfig
from mpe_psn.training.presets import list_presets, load_preset, resolve_config


def parse(argv):
    parser = argparse.ArgumentParser()
    train_command.configure(parser)
    return parser.parse_args(argv)


def test_round_trip_through_json():
    config = TrainConfig(neuron="lif", T=6, dataset_options={"num_train": 10}, mem_loss_off_epoch=3)
    again = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"unknown config key 'lrr' \(did you mean 'lr'\?\)"):
        TrainConfig.from_dict({"lrr": 0.1})


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("lr", -1.0, "'lr' must be a positive number, got -1.0"),
        ("epochs", 0, "'epochs' must be a positive int, got 0"),
        ("epochs", 2.5, "'epochs' must be a positive int"),
        ("batch_size", True, "'batch_size' must be a positive int"),
        ("optimizer", "rmsprop", "'optimizer' must be one of"),
        ("T", 0, "'T' must be a positive int or null"),
        ("lambda_mem", 2.0, r"'lambda_mem' must be a number in \[0, 1\]"),
        ("neuron", "izhikevich", "'neuron' must be one of"),
        ("model", "alexnet", "'model' must be one of"),
        ("momentum", 1.0, "'momentum'"),
        ("amp", "fp8", "'amp'"),
        ("device", "tpu", "'device'"),
        ("name", "../x", "'name' must be a folder name without slashes"),
        ("lr", float("nan"), "'lr' must be a positive number"),
    ],
)
def test_impossible_values_are_named(key, value, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict({key: value})


def test_every_builtin_preset_is_valid():
    names = list_presets()
    assert {"synthetic", "dvs-gesture", "cifar10-dvs", "n-caltech101", "cifar10", "cifar100"} <= set(names)
    for name in names:
        TrainConfig.from_dict(load_preset(name))


def test_presets_carry_the_paper_settings():
    gesture = load_preset("dvs-gesture")
    assert (gesture["T"], gesture["optimizer"], gesture["lr"], gesture["batch_size"], gesture["epochs"]) == (16, "sgd", 0.05, 8, 230)
    assert (gesture["momentum"], gesture["weight_decay"], gesture["mem_loss_off_epoch"]) == (0.9, 5e-4, 150)
    cifar_dvs = load_preset("cifar10-dvs")
    assert (cifar_dvs["model"], cifar_dvs["T"], cifar_dvs["lr"], cifar_dvs["batch_size"]) == ("vggsnn", 10, 0.05, 32)
    assert load_preset("n-caltech101")["lr"] == 0.01
    assert (load_preset("cifar10")["model"], load_preset("cifar10")["optimizer"], load_preset("cifar10")["T"]) == ("resnet19", "adam", 4)
    assert load_preset("cifar100")["nesterov"] is True


def test_flags_override_the_preset():
    config = train_command.config_from_args(parse(["--preset", "dvs-gesture", "--lr", "0.1", "-T", "8", "--set", "momentum=0.5"]))
    assert (config.lr, config.T, config.momentum) == (0.1, 8, 0.5)
    assert (config.batch_size, config.epochs, config.model) == (8, 230, "dvsgesture-net")  # from the preset


def test_dataset_picks_its_preset_and_no_arguments_picks_synthetic():
    assert train_command.config_from_args(parse([])) == resolve_config("synthetic")
    config = train_command.config_from_args(parse(["--dataset", "cifar10"]))
    assert (config.model, config.optimizer) == ("resnet19", "adam")


def test_preset_from_a_file_and_its_errors(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"description": "mine", "epochs": 3, "neuron": "lif"}))
    config = train_command.config_from_args(parse(["--preset", str(path), "--epochs", "4"]))
    assert (config.epochs, config.neuron) == (4, "lif")
    path.write_text('{"epochs": 3,\n "lr": }')
    with pytest.raises(ConfigError, match="not valid JSON.*line 2"):
        load_preset(path)
    path.write_text(json.dumps({"epoch": 3}))
    with pytest.raises(ConfigError, match=r"mine.json: unknown config key 'epoch' \(did you mean 'epochs'\?\)"):
        load_preset(path)
    with pytest.raises(ConfigError, match="unknown preset 'dvs'"):
        load_preset("dvs")
    with pytest.raises(ConfigError, match="does not exist"):
        load_preset(tmp_path / "missing.json")


def test_data_options_and_set_flags():
    args = parse(["--data-option", "num_train=100", "--data-option", "noise=0.5", "--mem-loss-off-epoch", "none",
                  "--amp", "--no-augment"])
    config = train_command.config_from_args(args)
    assert config.dataset_options == {"num_train": 100, "noise": 0.5}
    assert (config.mem_loss_off_epoch, config.amp, config.augment) == (None, "auto", False)
    with pytest.raises(ConfigError, match="unknown config key 'moment'"):
        train_command.config_from_args(parse(["--set", "moment=0.1"]))


def test_neuron_options_only_carry_what_the_neuron_takes():
    from mpe_psn.models import neuron_option_names

    for neuron in ("mpe", "lif", "psn"):
        options = TrainConfig(neuron=neuron).neuron_options()
        assert set(options) <= set(neuron_option_names(neuron))


def test_train_command_reports_bad_settings_in_one_line(capsys, tmp_path):
    from mpe_psn.commands import cli

    assert cli.main(["train", "--set", "lrr=3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mpe-psn train: error: command line: unknown config key 'lrr' (did you mean 'lr'?)")
    assert cli.main(["train", "--set", "lr=-1"]) == 2
    assert "config key 'lr' must be a positive number, got -1" in capsys.readouterr().err
    for flags, message in ((["--lr", "-1"], "argument --lr: must be a positive number, got -1"),
                           (["--resume", str(tmp_path / "nothing")], "argument --resume: " + str(tmp_path / "nothing") + " does not exist")):
        assert cli.main(["train", *flags]) == 2
        assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


# ---- sections that make the command line -----------------------------------------------------

SAVED_AT_E15CE76 = Path(__file__).parent / "data" / "config-e15ce76.json"


def test_a_config_json_saved_by_an_earlier_version_loads_unchanged(tmp_path, capsys):
    """tests/training/data/config-e15ce76.json: a run folder's config.json as main e15ce76 wrote it
    (before the config was split into sections), every section set away from its defaults."""
    saved = json.loads(SAVED_AT_E15CE76.read_text())
    config = TrainConfig.from_dict(saved)
    assert config.to_dict() == saved and list(config.to_dict()) == list(saved)  # same keys, same order
    assert (config.tau, config.estimator, config.lr, config.nesterov, config.amp, config.finetune_as) == (
        0.5, "expected", 0.05, True, "bf16", "lif")
    run = tmp_path / "runs" / saved["name"]  # and as a preset, the way a run folder's config.json reruns
    run.mkdir(parents=True)
    (run / "config.json").write_text(SAVED_AT_E15CE76.read_text())
    from mpe_psn.commands import cli

    assert cli.main(["train", "--preset", str(run / "config.json"), "--lr", "0.01", "--print-config"]) == 0
    rerun = json.loads(capsys.readouterr().out)
    assert rerun == {**saved, "lr": 0.01, "name": None}


def test_each_section_checks_its_own_keys():
    from mpe_psn.training.config import DataSection, ModelSection, NeuronSection, OptimisationSection, RunSection

    assert set(TrainConfig.keys()) == {f.name for s in TrainConfig.SECTIONS for f in s.settings()}
    assert len(TrainConfig.keys()) == len(set(TrainConfig.keys()))  # no key in two sections
    NeuronSection(tau=0.5).validate()
    for section, bad, message in [
        (DataSection(dataset_options={"num_trian": 3}), "dataset_options", "unknown option"),
        (ModelSection(model="mlp", model_options={"width": 3}), "model_options", "does not take"),
        (ModelSection(model="dvsgesture-net", input_size=16), "input_size", "at least 32"),
        (NeuronSection(tau=1.5), "tau", r"must be a number in \[0, 1\], got 1.5"),
        (OptimisationSection(schedule="step"), "schedule", r"must be one of \['cosine', 'constant'\]"),
        (RunSection(device="gpu"), "device", "must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    ]:
        with pytest.raises(ConfigError, match=f"config key '{bad}'.*{message}"):
            section.validate()


def _train_flags() -> dict[str, argparse.Action]:
    parser = argparse.ArgumentParser()
    train_command.configure(parser)
    return {action.dest: action for action in parser._actions}


def test_every_config_key_is_a_flag_with_its_help():
    flags = _train_flags()
    for section in TrainConfig.SECTIONS:
        for field in section.settings():
            assert field.name in flags, f"config key {field.name!r} has no flag"
            assert flags[field.name].help.startswith(field.metadata["help"]), field.name
    assert flags["tau"].option_strings == ["--tau"] and flags["T"].option_strings == ["-T"]
    assert flags["dataset_options"].option_strings == ["--data-option"]


def test_flags_once_typed_only_with_set_now_have_their_own(capsys):
    from mpe_psn.commands import cli

    argv = ["train", "--tau", "0.9", "--surrogate", "sigmoid", "--momentum", "0.5", "--nesterov", "--schedule", "constant",
            "--mixup-prob", "0.2", "--tet-lamb", "0.01", "--tet-phi", "0.8", "--print-config"]
    assert cli.main(argv) == 0
    config = json.loads(capsys.readouterr().out)
    assert (config["tau"], config["surrogate"], config["momentum"], config["nesterov"], config["schedule"]) == (
        0.9, "sigmoid", 0.5, True, "constant")
    assert (config["mixup_prob"], config["tet_lamb"], config["tet_phi"]) == (0.2, 0.01, 0.8)
    assert cli.main(["train", "--set", "tau=0.9", "--set", "surrogate=sigmoid", "--print-config"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert (same["tau"], same["surrogate"]) == (0.9, "sigmoid")
    for flags, message in ((["--tau", "2"], "argument --tau: must be a number in [0, 1], got 2"),
                           (["--surrogate", "sigmod"], "argument --surrogate: unknown surrogate 'sigmod' (did you mean sigmoid?)"),
                           (["--backend", "gpu"], "argument --backend: unknown backend 'gpu'"),
                           (["--kappa", "fixed"], "argument --kappa: invalid choice: 'fixed'")):
        assert cli.main(["train", *flags, "--print-config"]) == 2
        assert message in capsys.readouterr().err


def test_a_new_setting_is_one_field_that_makes_its_flag_help_and_check():
    from dataclasses import dataclass

    from mpe_psn.commands.args import CommandParser
    from mpe_psn.commands.config_flags import add_setting_flags, settings_given
    from mpe_psn.training.config_fields import INT_AT_LEAST_0, Section, setting

    @dataclass
    class Schedule(Section):
        """A test-only section."""

        title: ClassVar[str] = "schedule"
        warmup_epochs: int = setting(0, "epochs of linear learning-rate warm-up", INT_AT_LEAST_0)  # the one edit

    parser = CommandParser(prog="t")
    add_setting_flags(parser, [Schedule])
    assert "--warmup-epochs WARMUP_EPOCHS" in parser.format_help() and "linear learning-rate warm-up" in parser.format_help()
    assert settings_given(parser.parse_args(["--warmup-epochs", "3"]), [Schedule]) == {"warmup_epochs": 3}
    assert settings_given(parser.parse_args([]), [Schedule]) == {}
    with pytest.raises(SystemExit):
        parser.parse_args(["--warmup-epochs", "-1"])
    with pytest.raises(ConfigError, match=r"config key 'warmup_epochs' must be an int >= 0, got -1"):
        Schedule(warmup_epochs=-1).validate()
