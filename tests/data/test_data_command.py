"""``mpe-psn data`` end to end on a small built-in dataset."""

from __future__ import annotations

from mpe_psn.cli import main


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
