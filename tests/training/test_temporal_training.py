"""Training on temporal spike data [T, channels]: SHD from (fake) HDF5 files end to end, the
dataset/model seam, and the masking of padded steps."""

from __future__ import annotations

import json

import pytest
import torch

from mpe_psn.commands import cli
from mpe_psn.training.config import ConfigError, TrainConfig
from mpe_psn.training.loop import train
from mpe_psn.training.run_folder import read_metrics

pytest.importorskip("h5py")
from tests.data.fakes_hdf5 import write_shd_folder  # noqa: E402


@pytest.fixture(scope="module")
def shd_run(tmp_path_factory):
    """`mpe-psn train --preset shd --data-dir DIR` on fake SHD files, shrunk to seconds."""
    tmp = tmp_path_factory.mktemp("shd")
    folder = write_shd_folder(tmp / "shd", n_train=48, n_test=20, seed=0)
    status = cli.main(["train", "--preset", "shd", "--data-dir", str(folder), "--cache-dir", str(tmp / "cache"),
                       "-T", "20", "--epochs", "2", "--batch-size", "16", "--model-option", "hidden=16",
                       "--out", str(tmp / "runs"), "--name", "shd", "--quiet", "--device", "cpu"])
    assert status == 0
    return tmp, folder, tmp / "runs" / "shd"


def test_train_preset_shd_on_fake_files(shd_run):
    tmp, _, run = shd_run
    config = json.loads((run / "config.json").read_text())
    assert (config["dataset"], config["model"], config["T"], config["mask_padding"]) == ("shd", "mlp", 20, True)
    assert config["model_options"] == {"hidden": 16, "depth": 2, "norm": True, "dropout": 0.1}  # merged with the preset's
    rows = read_metrics(run / "metrics.jsonl")
    assert [r["epoch"] for r in rows] == [0, 1] and rows[-1]["test_samples"] == 20
    assert all(r["peak_memory_bytes"] > 0 for r in rows)
    from mpe_psn.models.checkpoint import load_model

    model, saved = load_model(run)
    assert saved["model_args"]["model_options"]["hidden"] == 16
    assert model(torch.zeros(20, 3, 700)).shape == (20, 3, 20)


def test_eval_export_and_analyses_read_the_temporal_run(shd_run, capsys):
    tmp, folder, run = shd_run
    assert cli.main(["eval", str(run), "--data-dir", str(folder), "--cache-dir", str(tmp / "cache"), "--json",
                     "--quiet", "--device", "cpu", "--plot", ""]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 20 and 0.0 <= report["accuracy"] <= 1.0
    assert cli.main(["export", str(run), "--format", "nir", "--out", str(tmp / "shd.nir")]) == 0
    import nir

    graph = nir.read(str(tmp / "shd.nir"))
    assert [type(graph.nodes[n]).__name__ for n in ("input", "output")] == ["Input", "Output"]
    assert list(graph.nodes["input"].input_type["input"]) == [700]
    out = tmp / "figures"
    assert cli.main(["analyze", "spike-rates", str(run), "--data-dir", str(folder), "--cache-dir", str(tmp / "cache"),
                     "--out", str(out), "--no-progress", "--batches", "1"]) == 0
    rates = json.loads((out / "spike-rates.json").read_text())
    assert len(rates["runs"][0]["result"]["layers"]) == 2


def test_padded_steps_are_masked_with_the_true_lengths(shd_run, monkeypatch):
    """With mask_padding, the loss gets each sample's true length: 1 + its last step with a spike."""
    tmp, folder, _ = shd_run
    import mpe_psn.training.loop as loop
    from mpe_psn.data import build_dataset

    seen = []
    real = loop.total_loss

    def record(outputs, target, model, *args):
        seen.append(args[-1])
        return real(outputs, target, model, *args)

    monkeypatch.setattr(loop, "total_loss", record)
    config = TrainConfig.from_dict(dict(dataset="shd", data_dir=str(folder), cache_dir=str(tmp / "cache"), T=20, epochs=1,
                                        batch_size=48, mask_padding=True, model_options={"hidden": 8},
                                        out=str(tmp / "runs"), name="masked", device="cpu"))
    train(config, progress=False, log=lambda m: None)
    lengths = build_dataset("shd", "train", root=str(folder), T=20, cache_dir=str(tmp / "cache"), progress=False).lengths
    (batch,) = seen
    assert sorted(batch.tolist()) == sorted(max(int(n), 1) for n in lengths)
    assert min(batch.tolist()) < 20  # the fake files hold short samples: padding exists


def test_dataset_and_model_must_fit(tmp_path):
    with pytest.raises(ConfigError, match=r"'small' takes frames \[T, C, H, W\] but dataset 'shd' gives spike channels .* choose one of \['mlp'\]"):
        train(TrainConfig.from_dict(dict(dataset="shd", data_dir=str(tmp_path), model="small", out=str(tmp_path))),
              progress=False, log=lambda m: None)
    with pytest.raises(ConfigError, match=r"'mlp' takes spike channels \[T, channels\] but dataset 'synthetic'"):
        train(TrainConfig.from_dict(dict(dataset="synthetic", model="mlp", out=str(tmp_path))), progress=False, log=lambda m: None)
    with pytest.raises(ConfigError, match="has no frame size"):
        train(TrainConfig.from_dict(dict(dataset="shd", data_dir=str(tmp_path), input_size=32, out=str(tmp_path))),
              progress=False, log=lambda m: None)
    with pytest.raises(ConfigError, match=r"model_options.*does not take \['width'\]"):
        TrainConfig.from_dict(dict(dataset="shd", model="mlp", model_options={"width": 3}))
