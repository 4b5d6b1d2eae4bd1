"""``mpe-psn analyze deploy``: the deployment gap of one checkpoint, as JSON, PNG and table."""

import json

import pytest

from mpe_psn.commands import cli
from mpe_psn.analysis.deploy import deploy_gap, deploy_table
from mpe_psn.analysis.registry import get_analysis
from mpe_psn.models.deployment_gap import deployment_gap

from .conftest import T, TinyNet, make_batches
from .test_plots import check_png

pytest.importorskip("mpe_psn.training", reason="mpe_psn.training is not in this build")


def test_deploy_gap_is_the_models_deployment_gap_on_time_major_batches(tiny_mpe):
    batches = make_batches()
    result = deploy_gap(tiny_mpe, batches, seeds=2)
    reference = deployment_gap(tiny_mpe, [(x.transpose(0, 1), y) for x, y in batches], seeds=2)
    assert result["refine"] == {str(k): acc for k, acc in reference["refine"].items()}
    assert set(result["refine"]) == {str(k) for k in range(1, T)}
    for key in ("expected", "lif", "gap", "samples", "T"):
        assert result[key] == reference[key]
    assert result["bernoulli"]["runs"] == reference["bernoulli"]["runs"]
    # k = T-1 refinement is the exact LIF: same accuracy as the swapped-in sequential LIF
    assert result["refine"][str(T - 1)] == result["lif"]


def test_max_batches_limits_the_samples(tiny_mpe):
    result = deploy_gap(tiny_mpe, make_batches(3, 5), max_batches=1, seeds=1)
    assert result["samples"] == 5
    assert result["bernoulli"]["sd"] is None and len(result["bernoulli"]["runs"]) == 1  # JSON null, not NaN


def test_registered_and_table_lists_every_mode(tiny_mpe):
    spec = get_analysis("deploy")
    result = spec(tiny_mpe, make_batches(), seeds=2)
    text = deploy_table([("mpe", "mpe", result)])
    for mode in ("expected", "Bernoulli", "refine k=1", f"refine k={T - 1}", "exact LIF"):
        assert mode in text
    with pytest.raises(ValueError, match="does not take option"):
        spec(tiny_mpe, make_batches(), steps=[1])


def test_a_network_without_mpe_layers_is_a_clear_error():
    with pytest.raises(ValueError, match="TinyNet has no MPEPSN layer"):
        deploy_gap(TinyNet("lif").eval(), make_batches(), seeds=1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    status = cli.main([
        "train", "--data-option", "num_train=16", "--data-option", "num_test=12", "-T", "4", "--input-size", "20",
        "--epochs", "1", "--batch-size", "8", "--out", str(root), "--name", "mpe",
        "--cache-dir", str(root / "cache"), "--quiet",
    ])
    assert status == 0
    return root / "mpe"


def test_analyze_deploy_writes_json_png_and_table(checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    status = cli.main(["analyze", "deploy", str(checkpoint), "--out", str(out), "--no-progress", "--seeds", "2"])
    assert status == 0
    document = json.loads((out / "deploy.json").read_text())
    result = document["runs"][0]["result"]
    assert {"T", "samples", "expected", "bernoulli", "refine", "lif", "gap"} <= set(result)
    assert result["samples"] == 12 and result["T"] == 4
    assert len(result["bernoulli"]["runs"]) == 2
    assert set(result["refine"]) == {"1", "2", "3"}
    assert result["gap"] == pytest.approx(result["expected"] - result["lif"])
    check_png(out / "deploy.png")
    printed = capsys.readouterr().out
    assert "exact LIF" in printed and "wrote" in printed


def test_analyze_deploy_bad_seeds_is_a_one_line_error(checkpoint, tmp_path, capsys):
    status = cli.main(["analyze", "deploy", str(checkpoint), "--out", str(tmp_path), "--seeds", "0"])
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--seeds" in err[0] and "positive int" in err[0]


def test_analyze_deploy_of_a_lif_checkpoint_is_a_one_line_error(tmp_path, capsys):
    status = cli.main([
        "train", "--neuron", "lif", "--data-option", "num_train=8", "--data-option", "num_test=8", "-T", "2",
        "--input-size", "16", "--epochs", "1", "--batch-size", "8", "--out", str(tmp_path), "--name", "lif",
        "--cache-dir", str(tmp_path / "cache"), "--quiet",
    ])
    assert status == 0
    capsys.readouterr()
    status = cli.main(["analyze", "deploy", str(tmp_path / "lif"), "--out", str(tmp_path / "out"), "--no-progress"])
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no MPEPSN layer" in err[0]
    assert not (tmp_path / "out" / "deploy.json").exists()
