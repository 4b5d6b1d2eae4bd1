"""Evaluation: counts on a hand-checked case, the eval report and command."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from mpe_psn.commands import cli
from mpe_psn.models.batches import predict
from mpe_psn.training.evaluate import evaluate
from mpe_psn.training.report import evaluate_checkpoint, summarize


class FixedLogits(nn.Module):
    """Outputs, for sample b, per-step logits whose time-mean puts the top score on class PRED[b]."""

    def __init__(self, predictions, num_classes, T=3):
        super().__init__()
        self.predictions, self.num_classes, self.T = predictions, num_classes, T

    def forward(self, x):
        index = x[0, :, 0, 0, 0].long()  # each sample carries its own index
        logits = torch.zeros(self.T, x.shape[1], self.num_classes)
        logits[0, torch.arange(x.shape[1]), torch.tensor(self.predictions)[index]] = 3.0  # only step 0 votes
        return logits


def test_counts_on_a_hand_checked_case():
    labels = [0, 0, 0, 1, 1, 2, 2, 2, 2, 2]
    preds = [0, 0, 1, 1, 2, 2, 2, 0, 2, 2]
    # class 0: 2/3 right, class 1: 1/2, class 2: 4/5 -> 7/10 overall
    x = torch.arange(10.0).reshape(10, 1, 1, 1, 1).expand(10, 3, 1, 1, 1)  # [B, T, C, H, W]
    y = torch.tensor(labels)
    batches = [(x[:4], y[:4]), (x[4:], y[4:])]
    result = evaluate(FixedLogits(preds, 4), batches, num_classes=4)
    assert (result.correct, result.total, result.accuracy) == (7, 10, 0.7)
    assert result.per_class_accuracy() == [2 / 3, 1 / 2, 4 / 5, None]
    assert result.confusion.tolist() == [[2, 1, 0, 0], [0, 1, 1, 0], [1, 0, 4, 0], [0, 0, 0, 0]]
    report = summarize([result, result], ["a", "b", "c", "d"])
    assert report["per_class_accuracy"] == {"a": 2 / 3, "b": 0.5, "c": 0.8, "d": None}
    assert (report["accuracy"], report["accuracy_std"], report["samples"]) == (0.7, 0.0, 10)


def test_prediction_is_argmax_of_the_time_mean():
    out = torch.tensor([[[5.0, 0.0]], [[-6.0, 0.0]]])  # step 0 says class 0, the mean says class 1
    assert predict(out).tolist() == [1]


def test_eval_json_report(trained_run, capsys):
    run = trained_run.run_dir
    # the checkpoint's evaluation estimator (Bernoulli by default); seed 0 and the training's
    # batch size draw the same samples as the evaluation during training (seeded with 0)
    assert cli.main(["eval", str(run), "--json", "--seeds", "1", "--batch-size", "16", "--plot", str(run / "cm.png")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"checkpoint", "dataset", "split", "model", "neuron", "T", "estimator", "runs", "accuracy", "accuracy_std",
            "samples", "per_class_accuracy", "confusion", "class_names", "confusion_png", "loss"} <= set(report)
    assert report["estimator"] == "bernoulli" and report["runs"] == 1 and report["samples"] == 20
    assert sum(map(sum, report["confusion"])) == 20
    assert report["accuracy"] == pytest.approx(trained_run.metrics[trained_run.best_epoch]["test_acc"])
    assert (run / "cm.png").read_bytes()[:4] == b"\x89PNG"


def test_bernoulli_estimator_is_averaged_over_seeds(trained_run):
    import statistics

    from mpe_psn.data import build_dataset, build_loader
    from mpe_psn.training.checkpoint import load_model
    from mpe_psn.training.evaluate import set_eval_estimator

    report = evaluate_checkpoint(trained_run.run_dir, estimator="bernoulli", seeds=3, plot="")
    # the same three runs by hand: seed s, then one pass over the test split
    model, config = load_model(trained_run.run_dir / "best.pt")
    set_eval_estimator(model, "bernoulli")
    data = build_dataset("synthetic", "test", T=4, size=20, cache_dir=config["cache_dir"], **config["dataset_options"])
    accs = []
    for seed in range(3):
        torch.manual_seed(seed)
        accs.append(evaluate(model, build_loader(data, batch_size=64, shuffle=False, distributed=False), 10).accuracy)
    assert report["runs"] == 3 and report["accuracy_per_run"] == accs
    assert report["accuracy"] == pytest.approx(statistics.mean(accs))
    assert report["accuracy_std"] == pytest.approx(statistics.stdev(accs))
    assert (report["accuracy_min"], report["accuracy_max"]) == (min(accs), max(accs))
    assert sum(map(sum, report["confusion"])) == 60  # summed over the three runs


def test_eval_bad_input(trained_run, tmp_path, capsys):
    run = str(trained_run.run_dir)
    assert cli.main(["eval", run, "-T", "7", "--plot", ""]) == 2
    assert "trained with T = 4 time steps, not T = 7" in capsys.readouterr().err
    assert cli.main(["eval", str(tmp_path / "none.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_eval_text_output(trained_run, capsys):
    assert cli.main(["eval", str(trained_run.run_dir), "--quiet", "--split", "train", "--plot", ""]) == 0
    out = capsys.readouterr().out
    assert "small / mpe (T = 4, estimator bernoulli) on synthetic train (48 samples)" in out
    assert "sweep-right" in out


def test_evaluation_with_a_seed_repeats_and_leaves_the_random_state_alone():
    """The Bernoulli estimator samples: a seeded evaluation gives the same numbers every time
    and does not move torch's generator (so evaluating mid-training changes no training step)."""
    from mpe_psn import MPEPSN

    torch.manual_seed(3)
    model = nn.Sequential(MPEPSN(T=4, eval_estimator="bernoulli"), nn.Linear(64, 3))
    x = torch.rand(12, 4, 64) * 2  # [B, T, features]: near the threshold, so samples matter
    batches = [(x, torch.randint(3, (12,)))]
    state = torch.get_rng_state()
    a = evaluate(model, batches, num_classes=3, seed=5)
    b = evaluate(model, batches, num_classes=3, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    assert a.confusion.tolist() == b.confusion.tolist() and a.loss == b.loss
    losses = {evaluate(model, batches, num_classes=3, seed=s).loss for s in range(4)}
    assert len(losses) > 1  # the seed is used: other seeds draw other samples


def test_training_evaluates_with_the_bernoulli_estimator_by_default():
    from mpe_psn.training.config import TrainConfig

    assert TrainConfig().eval_estimator == "bernoulli"
