import subprocess
import sys

import pytest

from mpe_psn.commands import cli


def test_demo_prints_the_mismatch_table(capsys):
    assert cli.main(["demo", "-T", "6", "-N", "2000"]) == 0
    out = capsys.readouterr().out
    assert "exact sequential LIF" in out
    # with T - 1 = 5 refinements the estimate is exact
    assert [line for line in out.splitlines() if "5 refinements" in line][0].split()[-2] == "0.00%"


def test_no_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_every_listed_command_module_has_configure_and_run():
    for name, module_name, _ in cli.COMMANDS:
        module = cli._load(module_name)
        if module is not None:
            assert callable(module.configure) and callable(module.run), name


def test_console_script_entry_point():
    result = subprocess.run([sys.executable, "-m", "mpe_psn", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("mpe-psn ")


def test_broken_command_module_is_not_hidden(monkeypatch):
    def boom(name):
        raise ModuleNotFoundError("No module named 'numpyy'", name="numpyy")

    monkeypatch.setattr(cli.importlib, "import_module", boom)
    with pytest.raises(ModuleNotFoundError):
        cli._load("mpe_psn.commands.demo")


def test_key_value_argument_type():
    import argparse

    from mpe_psn.commands.args import key_value

    assert key_value("num-train=500") == ("num_train", 500)
    assert key_value("split_by=time") == ("split_by", "time")
    assert key_value("flip=true") == ("flip", True)
    assert key_value("a=b=c") == ("a", "b=c")
    with pytest.raises(argparse.ArgumentTypeError, match="KEY=VALUE"):
        key_value("novalue")


# ---- bad input: one line, naming the flag (the full battery is tests/test_bad_flags.py) ------


def test_a_misspelt_flag_shows_the_subcommand_usage_and_the_closest_flag(capsys):
    assert cli.main(["train", "--neurons", "mpe"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: mpe-psn train ")
    assert err.splitlines()[-1] == "mpe-psn train: error: unrecognized arguments: --neurons mpe (did you mean --neuron?)"
    assert cli.main(["bench", "net", "--modle", "small"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: mpe-psn bench net ") and err.rstrip().endswith("(did you mean --model?)")
    assert cli.main(["demo", "--zzzz"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == "mpe-psn demo: error: unrecognized arguments: --zzzz"


def test_an_unknown_name_suggests_the_closest_registered_one(capsys):
    assert cli.main(["trian"]) == 2
    assert capsys.readouterr().err.endswith("(did you mean train?)\n")
    assert cli.main(["train", "--optimizer", "adamm"]) == 2
    assert capsys.readouterr().err.endswith("(choose from 'sgd', 'adam', 'adamw') (did you mean adam?)\n")
    assert cli.main(["bench", "net", "--model", "resnet"]) == 2
    assert capsys.readouterr().err == (
        "mpe-psn bench net: error: argument --model: unknown model 'resnet' (did you mean resnet19?); "
        "choose from dvsgesture-net, vggsnn, resnet19, small, shd-mlp\n"
    )


def test_usage_errors_raised_by_a_command_are_one_line_with_status_2(monkeypatch, capsys):
    from mpe_psn.commands import demo as demo_command
    from mpe_psn.errors import UsageError

    def refuse(args):
        raise UsageError("-N: a reason\nthat spans lines")

    monkeypatch.setattr(demo_command, "run", refuse)
    assert cli.main(["demo"]) == 2
    assert capsys.readouterr().err == "mpe-psn demo: error: -N: a reason that spans lines\n"


def test_other_exceptions_are_bugs_and_keep_their_traceback(monkeypatch):
    from mpe_psn.commands import demo as demo_command

    def broken(args):
        raise KeyError("a bug")

    monkeypatch.setattr(demo_command, "run", broken)
    with pytest.raises(KeyError, match="a bug"):
        cli.main(["demo"])


# ---- values that used to be ignored or accepted silently -------------------------------------


def test_bench_net_quick_keeps_the_flags_given(tmp_path, capsys):
    import json

    from mpe_psn.commands.bench import net_settings

    parse = cli.build_parser().parse_args
    assert net_settings(parse(["bench", "net", "--quick"])) == {"model": "small", "T": 4, "batch": [2], "input_size": 32}
    assert net_settings(parse(["bench", "net"])) == {"model": "dvsgesture-net", "T": 16, "batch": [8], "input_size": None}
    assert net_settings(parse(["bench", "net", "--quick", "--model", "vggsnn", "-T", "3", "--batch", "1", "5"])) == {
        "model": "vggsnn", "T": 3, "batch": [1, 5], "input_size": 32}
    status = cli.main(["bench", "net", "--quick", "-T", "2", "--batch", "3", "--neurons", "lif", "--precision", "fp32",
                       "--repeats", "1", "--warmup", "0", "--device", "cpu", "--no-progress", "--out", str(tmp_path)])
    assert status == 0
    result = json.loads((tmp_path / "net.json").read_text())
    assert result["meta"]["model"] == "small" and result["meta"]["T"] == 2 and result["meta"]["input"] == "32x32"
    assert [row["batch"] for row in result["rows"]] == [3]


def test_print_config_validates_the_dataset_and_its_options(capsys):
    assert cli.main(["train", "--set", "dataset=mnist", "--print-config"]) == 2
    assert "config key 'dataset' must be one of" in capsys.readouterr().err
    assert cli.main(["train", "--data-option", "num_trian=5", "--print-config"]) == 2
    assert "unknown option(s) ['num_trian'] for dataset 'synthetic'" in capsys.readouterr().err
    assert cli.main(["train", "--data-option", "num_test=0", "--print-config"]) == 2  # used to train, then print nan
    assert "synthetic option num_test must be an int >= 1, got 0" in capsys.readouterr().err
    assert cli.main(["train", "--data-option", "num_test=5", "--print-config"]) == 0


def test_demo_refuses_an_empty_layer_instead_of_printing_nan(capsys):
    assert cli.main(["demo", "-N", "0"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "mpe-psn demo: error: argument -N: must be a positive int, got 0\n"


# ---- one vocabulary -------------------------------------------------------------------------


def test_a_missing_dataset_folder_names_the_flag_train_accepts(tmp_path, capsys):
    status = cli.main(["train", "--dataset", "dvs-gesture", "--epochs", "1", "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2
    assert "--data-dir on the command line" in err and "--root" not in err
    assert len(err.splitlines()) == 1


def test_a_file_that_is_not_a_checkpoint_is_named_without_unsafe_advice(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text('{"epochs": 1}')
    for argv in (["eval", str(config)], ["train", "--resume", str(config)]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert f"{config} is not an mpe-psn checkpoint" in err
        assert "weights_only=False" not in err and "`weights_only` set to `False`" not in err


def test_a_run_config_reruns_as_a_preset_without_name(tmp_path, capsys):
    import json

    run = tmp_path / "runs" / "x"
    run.mkdir(parents=True)
    (run / "best.pt").write_bytes(b"")
    (run / "config.json").write_text(json.dumps({"epochs": 3, "lr": 0.02, "name": "x", "out": str(tmp_path / "runs")}))
    assert cli.main(["train", "--preset", str(run / "config.json"), "--print-config"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["name"] is None and config["epochs"] == 3 and config["lr"] == 0.02  # a new run folder, same settings
    assert cli.main(["train", "--preset", str(run / "config.json"), "--name", "y", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "y"
    assert cli.main(["train", "--preset", str(run), "--print-config"]) == 2
    assert f"pass {run / 'config.json'} to rerun that run" in capsys.readouterr().err
