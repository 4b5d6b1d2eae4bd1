"""``mpe-psn analyze`` end to end on a checkpoint trained for one epoch on a tiny built-in dataset."""

import json

import numpy as np
import pytest

from mpe_psn.commands import cli

from .test_plots import check_png

training = pytest.importorskip("mpe_psn.training", reason="mpe_psn.training is not in this build")
pytest.importorskip("mpe_psn.data", reason="mpe_psn.data is not in this build")

RESULT_KEYS = {
    "fidelity": {"T", "samples", "what_if", "layers", "total"},
    "spike-rates": {"T", "samples", "layers", "total"},
    "energy": {"T", "samples", "e_ac_pj", "e_mac_pj", "layers", "spiking_layers", "total"},
    "landscape": {"alphas", "betas", "loss", "accuracy", "center_loss", "center_accuracy", "steps", "span", "samples"},
    "refine": {"T", "samples", "repeats", "rows"},
    "neurobench": {"neurobench_version", "T", "samples", "static", "workload", "activation_layers", "layers"},
}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("analyze")
    status = cli.main([
        "train", "--data-option", "num_train=16", "--data-option", "num_test=12", "-T", "4",
        "--epochs", "1", "--batch-size", "8", "--out", str(root), "--name", "mpe",
        "--cache-dir", str(root / "cache"), "--quiet",
    ])
    assert status == 0
    return root / "mpe"


@pytest.mark.parametrize("analysis", sorted(RESULT_KEYS))
def test_each_analysis_writes_json_png_and_table(checkpoint, analysis, tmp_path, capsys):
    if analysis == "neurobench":
        pytest.importorskip("neurobench", reason="NeuroBench is not installed (pip install 'mpe-psn[neurobench]')")
    out = tmp_path / "out"
    extra = {"landscape": ["--grid", "3", "--batches", "1", "--batch-size", "4"], "refine": ["--repeats", "1", "--batches", "1"]}.get(analysis, [])
    status = cli.main(["analyze", analysis, str(checkpoint), "--out", str(out), "--no-progress", *extra])
    assert status == 0
    document = json.loads((out / f"{analysis}.json").read_text())
    assert {"analysis", "created", "machine", "options", "runs"} <= set(document)
    run = document["runs"][0]
    assert {"label", "neuron", "checkpoint", "model", "dataset", "T", "split", "result"} <= set(run)
    assert run["neuron"] == "mpe" and run["T"] == 4
    assert RESULT_KEYS[analysis] <= set(run["result"])
    check_png(out / f"{analysis}.png")
    printed = capsys.readouterr().out
    assert "wrote" in printed and "mpe" in printed
    if analysis == "landscape":
        with np.load(out / "landscape-mpe.npz", allow_pickle=False) as grid:
            assert grid["loss"].shape == (3, 3)
            assert grid["loss"][1, 1] == pytest.approx(run["result"]["center_loss"])
    if analysis in ("spike-rates", "fidelity", "neurobench"):
        assert run["result"]["samples"] == 12  # the whole test split
    if analysis == "neurobench":
        assert "ActivationSparsity" in printed and run["result"]["workload"]["MembraneUpdates"] == 0


def test_fidelity_over_training_reads_metrics(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"neuron": "mpe", "lambda_mem": 0.01}))
    rows = [{"epoch": e, "test_acc": 0.5, "fidelity": {"v_hat_mse": 0.1 / e, "spike_mismatch": 0.01}} for e in (1, 2, 3)]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n{\"epoch\": 4, \"fid")
    out = tmp_path / "out"
    assert cli.main(["analyze", "fidelity", "--train", str(run), "--out", str(out)]) == 0
    document = json.loads((out / "fidelity-training.json").read_text())
    assert document["runs"][0]["result"]["epoch"] == [1, 2, 3]
    assert document["runs"][0]["label"] == "mpe, lambda_mem=0.01"
    check_png(out / "fidelity-training.png")
    (run / "metrics.jsonl").write_text(json.dumps({"epoch": 1}) + "\n")
    assert cli.main(["analyze", "fidelity", "--train", str(run), "--out", str(out)]) == 2
    assert "no per-epoch 'fidelity' entries" in capsys.readouterr().err


def test_user_errors_get_one_clear_message(checkpoint, tmp_path, capsys):
    assert cli.main(["analyze", "energy", str(tmp_path / "missing.pt"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["analyze", "energy", str(checkpoint), "--train", "--out", str(tmp_path)]) == 2
    assert "--train applies to 'fidelity' only" in capsys.readouterr().err
    assert cli.main(["analyze", "energy", str(checkpoint), "--labels", "a", "b", "--out", str(tmp_path)]) == 2
    assert "one per checkpoint" in capsys.readouterr().err
    assert cli.main(["analyze", "refine", str(checkpoint), "--steps", "0,x", "--out", str(tmp_path)]) == 2
    assert "argument --steps: expected comma-separated ints" in capsys.readouterr().err


def test_energy_counting_flag_and_seed_reach_the_analysis(checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["analyze", "energy", str(checkpoint), "--out", str(out), "--no-progress", "--counting", "effective", "--seed", "3"]
    assert cli.main(argv) == 0
    document = json.loads((out / "energy.json").read_text())
    assert document["options"]["counting"] == "effective" and document["options"]["seed"] == 3
    assert document["runs"][0]["result"]["counting"] == "effective"
    assert "effective" in capsys.readouterr().out
    assert cli.main(["analyze", "energy", str(checkpoint), "--out", str(out), "--counting", "neurobench"]) == 2
