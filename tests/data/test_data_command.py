"""``mpe-psn data`` end to end on a small built-in dataset."""

from __future__ import annotations

from mpe_psn.commands.cli import main


def test_data_command_summary_and_png(tmp_path, capsys):
    png = tmp_path / "samples.png"
    rc = main(["data", "--cache-dir", str(tmp_path), "-T", "4", "-o", "num_train=20", "-o", "num_test=10",
               "--png", str(png), "--samples", "3"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "dataset synthetic: frames [4, 2, 32, 32]" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()[:1] in (["train"], ["test"])}
    assert rows["train"][1:3] == ["20", "0"] and rows["test"][1:3] == ["10", "0"]  # samples, skipped
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_data_command_errors(tmp_path, capsys):
    assert main(["data", "mnist"]) == 2
    assert "unknown dataset 'mnist'" in capsys.readouterr().err
    assert main(["data", "cifar10-dvs", "--data-dir", str(tmp_path)]) == 2
    assert "class folder" in capsys.readouterr().err
    assert main(["data", "cifar10-dvs", "--root", str(tmp_path)]) == 2  # the old spelling still works
    err = capsys.readouterr().err
    assert "--root is deprecated; use --data-dir" in err and "class folder" in err


def test_data_command_takes_the_flags_of_train(tmp_path, capsys):
    """``--dataset`` and ``--data-option`` as in ``mpe-psn train``; the positional name and ``-o`` still work."""
    common = ["--cache-dir", str(tmp_path), "-T", "4", "--split", "test"]
    assert main(["data", "--dataset", "synthetic", "--data-option", "num_train=20", "--data-option", "num_test=7", *common]) == 0
    new = capsys.readouterr().out
    assert main(["data", "synthetic", "-o", "num_train=20", "--option", "num_test=7", *common]) == 0
    assert capsys.readouterr().out == new
    assert [line.split()[1] for line in new.splitlines() if line.split()[:1] == ["test"]] == ["7"]
    assert main(["data", "temporal", "--dataset", "synthetic", *common]) == 2
    assert capsys.readouterr().err == ("mpe-psn data: error: two datasets given: temporal and --dataset synthetic; "
                                       "give one\n")


def test_data_command_with_dataset_and_data_dir_reaches_the_dataset(tmp_path, capsys):
    """The issue's first try, ``mpe-psn data --dataset shd --data-dir DIR``: the dataset speaks, not argparse."""
    assert main(["data", "--dataset", "shd", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" not in err and err.startswith("mpe-psn data: error: ") and "shd" in err.lower()
