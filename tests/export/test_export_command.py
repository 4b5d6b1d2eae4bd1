"""``mpe-psn export``: NIR from a trained run, and its errors."""

from __future__ import annotations

import pytest
import torch

from mpe_psn.commands.cli import main

pytest.importorskip("nir")


def test_nir_export_of_a_trained_small_net(tiny_run, tiny_test_set, tmp_path, capsys):
    from mpe_psn.export import from_nir
    from mpe_psn.models import build_model
    from mpe_psn.models.checkpoint import load_model

    out = tmp_path / "net.nir"
    assert main(["export", str(tiny_run[0]), "--format", "nir", "--out", str(out), "--max-pool", "error"]) == 2
    err = capsys.readouterr().err
    assert "'body.4.0' (MaxPool2d)" in err and not out.exists()
    assert main(["export", str(tiny_run[0]), "--format", "nir", "--out", str(out)]) == 0  # max pools as SumPool + Threshold
    assert "NIR graph of small / mpe" in capsys.readouterr().out
    # the file is the trained network as the exact LIF
    model, config = load_model(tiny_run[0])
    args = dict(config["model_args"], neuron="lif", neuron_options={})
    lif = build_model(args.pop("name"), **args)
    lif.load_state_dict({k: v for k, v in model.state_dict().items() if "kappa" not in k})
    frames, _ = tiny_test_set
    with torch.no_grad():
        assert torch.allclose(from_nir(out, neuron="lif").eval()(frames), lif.eval()(frames), atol=1e-5)


def test_export_command_errors(tmp_path, tiny_run, capsys):
    assert main(["export", str(tmp_path / "nothing"), "--format", "nir", "--out", str(tmp_path / "x.nir")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["export", str(tiny_run[0]), "--format", "onnx", "--out", str(tmp_path / "x.onnx"), "--fold-r"]) == 2
    assert "are NIR options" in capsys.readouterr().err
    assert main(["export", str(tiny_run[0]), "--format", "nir", "--out", str(tmp_path / "x.nir"), "--exact-lif"]) == 2
    assert "is an ONNX option" in capsys.readouterr().err
    try:  # argparse's own error: exit status 2 whether main returns it or raises SystemExit
        status = main(["export", str(tiny_run[0]), "--format", "tflite", "--out", "x"])
    except SystemExit as stop:
        status = stop.code
    assert status == 2 and "invalid choice: 'tflite'" in capsys.readouterr().err
    assert list(p.name for p in tmp_path.iterdir()) == []
