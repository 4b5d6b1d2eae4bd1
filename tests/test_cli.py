import subprocess
import sys

import pytest

from mpe_psn import cli


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
        cli._load("mpe_psn.demo_command")


def test_key_value_argument_type():
    import argparse

    from mpe_psn.utils.cli_args import key_value

    assert key_value("num-train=500") == ("num_train", 500)
    assert key_value("split_by=time") == ("split_by", "time")
    assert key_value("flip=true") == ("flip", True)
    assert key_value("a=b=c") == ("a", "b=c")
    with pytest.raises(argparse.ArgumentTypeError, match="KEY=VALUE"):
        key_value("novalue")
