"""Every ``mpe-psn`` sub-command against a battery of bad values.

Each bad value must end the command with a non-zero status and exactly one line on stderr
that names the flag (or the file) at fault, and never a traceback. The cases run in-process
through :func:`mpe_psn.commands.cli.main` on tiny stand-ins made in a temporary folder (a text file, a
random-bytes ``.pt``, an empty folder, a path that does not exist), so nothing is trained,
generated or timed; only the closed-pipe cases start a subprocess.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from mpe_psn.commands import cli

TEXT, JUNK, FOLDER, MISSING, OUT, BEST = "<text>", "<junk.pt>", "<folder>", "<missing>", "<out>", "<best.pt>"

#: (argv, what the one error line must name). Placeholders in <> are files made by ``stand_ins``.
CASES: list[tuple[list[str], str]] = [
    # ---- train (--print-config: should a case slip through, it prints instead of training)
    (["train", "-T", "0"], "-T"),
    (["train", "--epochs", "-1"], "--epochs"),
    (["train", "--batch-size", "0"], "--batch-size"),
    (["train", "--input-size", "-3"], "--input-size"),
    (["train", "--lr", "0"], "--lr"),
    (["train", "--lr", "nan"], "--lr"),
    (["train", "--weight-decay", "-1"], "--weight-decay"),
    (["train", "--seed", "-1"], "--seed"),
    (["train", "--num-workers", "-2"], "--num-workers"),
    (["train", "--refine-steps", "-1"], "--refine-steps"),
    (["train", "--lambda-mem", "2"], "--lambda-mem"),
    (["train", "--mem-loss-off-epoch", "-1"], "--mem-loss-off-epoch"),
    (["train", "--finetune-epochs", "-1"], "--finetune-epochs"),
    (["train", "--finetune-as", "psn"], "--finetune-as"),
    (["train", "--finetune-as", "lif", "--neuron", "lif", "--finetune-epochs", "1"], "finetune_as"),
    (["train", "--finetune-as", "lif", "--finetune-epochs", "99"], "finetune_epochs"),
    (["train", "--data-option", "difficulty=extreme"], "difficulty"),
    (["train", "--epochs", "two"], "--epochs"),
    (["train", "--dataset", "mnist"], "--dataset"),
    (["train", "--model", "resnet"], "--model"),
    (["train", "--neuron", "izhikevich"], "--neuron"),
    (["train", "--optimizer", "lbfgs"], "--optimizer"),
    (["train", "--estimator", "exact"], "--estimator"),
    (["train", "--device", "gpu"], "--device"),
    (["train", "--amp", "fp8"], "--amp"),
    (["train", "--tau", "1.5"], "--tau"),
    (["train", "--surrogate", "relu"], "--surrogate"),
    (["train", "--momentum", "1"], "--momentum"),
    (["train", "--schedule", "step"], "--schedule"),
    (["train", "--tet-phi", "inf"], "--tet-phi"),
    (["train", "--data-dir", TEXT], "--data-dir"),
    (["train", "--data-dir", MISSING], "--data-dir"),
    (["train", "--cache-dir", TEXT], "--cache-dir"),
    (["train", "--out", TEXT], "--out"),
    (["train", "--name", "a/b"], "--name"),
    (["train", "--set", "lrr=1"], "lrr"),
    (["train", "--set", "no-value"], "--set"),
    (["train", "--data-option", "bogus=1"], "bogus"),
    (["train", "--data-option", "num_test=0"], "num_test"),
    (["train", "--preset", "nope"], "preset"),
    (["train", "--preset", FOLDER], "--preset"),
    (["train", "--preset", TEXT], "preset"),
    (["train", "--resume", MISSING], "--resume"),
    (["train", "--resume", TEXT], "is not an mpe-psn checkpoint"),
    (["train", "--resume", JUNK], "is not an mpe-psn checkpoint"),
    (["train", "--resume", FOLDER], "folder without a checkpoint"),
    # ---- eval
    (["eval", MISSING], "does not exist"),
    (["eval", TEXT], "is not an mpe-psn checkpoint"),
    (["eval", JUNK], "is not an mpe-psn checkpoint"),
    (["eval", FOLDER], "folder without a checkpoint"),
    (["eval", JUNK, "--batch-size", "-1"], "--batch-size"),
    (["eval", JUNK, "--seeds", "0"], "--seeds"),
    (["eval", JUNK, "-T", "0"], "-T"),
    (["eval", JUNK, "--split", "val"], "--split"),
    (["eval", JUNK, "--estimator", "exact"], "--estimator"),
    (["eval", JUNK, "--data-dir", TEXT], "--data-dir"),
    (["eval", JUNK, "--cache-dir", TEXT], "--cache-dir"),
    (["eval", JUNK, "--plot", FOLDER], "--plot"),
    (["eval", JUNK, "--device", "tpu"], "--device"),
    (["eval", JUNK, "--data-option", "novalue"], "--data-option"),
    # ---- data
    (["data", "mnist"], "dataset"),
    (["data", "--samples", "0", "--png", "x.png"], "--samples"),
    (["data", "-T", "0"], "-T"),
    (["data", "--size", "-1"], "--size"),
    (["data", "--split", "val"], "--split"),
    (["data", "--png", FOLDER], "--png"),
    (["data", "--data-dir", TEXT], "--data-dir"),
    (["data", "--data-dir", MISSING], "--data-dir"),
    (["data", "--cache-dir", TEXT], "--cache-dir"),
    (["data", "cifar10-dvs"], "--data-dir"),
    (["data", "-o", "bogus=1", "--cache-dir", OUT], "bogus"),
    (["data", "-o", "num_test=0", "--cache-dir", OUT], "num_test"),
    (["data", "--dataset", "mnist"], "--dataset"),
    (["data", "--data-option", "bogus=1", "--cache-dir", OUT], "bogus"),
    (["data", "--data-option", "novalue"], "--data-option"),
    (["data", "shd", "--dataset", "ssc"], "--dataset"),
    # ---- bench
    (["bench"], "MODE"),
    (["bench", "gpu"], "MODE"),
    (["bench", "layer", "-T", "0"], "-T"),
    (["bench", "layer", "-T", "4", "--n-exp", "-1"], "--n-exp"),
    (["bench", "layer", "--methods", "fast-lif"], "--methods"),
    (["bench", "layer", "--max-elements", "0"], "--max-elements"),
    (["bench", "layer", "--slow-ms", "-5"], "--slow-ms"),
    (["bench", "layer", "--repeats", "0"], "--repeats"),
    (["bench", "layer", "--warmup", "-1"], "--warmup"),
    (["bench", "layer", "--threads", "0"], "--threads"),
    (["bench", "layer", "--device", "tpu"], "--device"),
    (["bench", "layer", "--out", TEXT], "--out"),
    (["bench", "net", "--model", "resnet"], "--model"),
    (["bench", "net", "-T", "0"], "-T"),
    (["bench", "net", "--batch", "0"], "--batch"),
    (["bench", "net", "--quick", "--batch", "-2"], "--batch"),
    (["bench", "net", "--neurons", "izhikevich"], "--neurons"),
    (["bench", "net", "--precision", "fp8"], "--precision"),
    (["bench", "net", "--classes", "0"], "--classes"),
    (["bench", "net", "--input-size", "0"], "--input-size"),
    (["bench", "net", "--out", TEXT], "--out"),
    (["bench", "open", "-T", "0"], "-T"),
    (["bench", "open", "--n", "-4"], "--n"),
    (["bench", "open", "--batch", "0"], "--batch"),
    (["bench", "open", "--libraries", "brian"], "--libraries"),
    (["bench", "open", "--repeats", "0"], "--repeats"),
    (["bench", "open", "--out", TEXT], "--out"),
    # ---- export
    (["export", MISSING, "--format", "nir", "--out", "x.nir"], "does not exist"),
    (["export", TEXT, "--format", "nir", "--out", "x.nir"], "is not an mpe-psn checkpoint"),
    (["export", JUNK, "--format", "onnx", "--out", "x.onnx"], "is not an mpe-psn checkpoint"),
    (["export", FOLDER, "--format", "nir", "--out", "x.nir"], "folder without a checkpoint"),
    (["export", JUNK, "--format", "tflite", "--out", "x.nir"], "--format"),
    (["export", JUNK, "--format", "nir"], "--out"),
    (["export", JUNK, "--format", "nir", "--out", FOLDER], "--out"),
    (["export", JUNK, "--format", "nir", "--out", "x.nir", "--dt", "0"], "--dt"),
    (["export", JUNK, "--format", "nir", "--out", "x.nir", "--max-pool", "avg"], "--max-pool"),
    (["export", JUNK, "--format", "nir", "--out", "x.nir", "--exact-lif"], "--exact-lif"),
    (["export", JUNK, "--format", "onnx", "--out", "x.onnx", "--dt", "1e-3"], "--dt"),
    (["export", JUNK, "--format", "onnx", "--out", "x.onnx", "--max-pool", "spikes"], "--max-pool"),
    # ---- analyze
    (["analyze", "wiggle", FOLDER, "--out", OUT], "analysis"),
    (["analyze", "energy", FOLDER], "--out"),
    (["analyze", "energy", MISSING, "--out", OUT], "CHECKPOINT"),
    (["analyze", "energy", TEXT, "--out", OUT], "is not an mpe-psn checkpoint"),
    (["analyze", "energy", JUNK, "--out", OUT], "is not an mpe-psn checkpoint"),
    (["analyze", "energy", FOLDER, "--out", OUT], "folder without a checkpoint"),
    (["analyze", "energy", FOLDER, "--out", TEXT], "--out"),
    (["analyze", "energy", FOLDER, "--batch-size", "-1", "--out", OUT], "--batch-size"),
    (["analyze", "energy", FOLDER, "--batches", "0", "--out", OUT], "--batches"),
    (["analyze", "energy", FOLDER, "--split", "val", "--out", OUT], "--split"),
    (["analyze", "energy", FOLDER, "--seed", "-1", "--out", OUT], "--seed"),
    (["analyze", "energy", FOLDER, "--device", "tpu", "--out", OUT], "--device"),
    (["analyze", "energy", FOLDER, "--data-dir", TEXT, "--out", OUT], "--data-dir"),
    (["analyze", "energy", FOLDER, "--cache-dir", TEXT, "--out", OUT], "--cache-dir"),
    (["analyze", "fidelity", "--train", BEST, "--out", OUT], "--train"),
    (["analyze", "fidelity", FOLDER, "--refine-steps", "-1", "--out", OUT], "--refine-steps"),
    (["analyze", "fidelity", FOLDER, "--estimator", "exact", "--out", OUT], "--estimator"),
    (["analyze", "landscape", FOLDER, "--grid", "1", "--out", OUT], "--grid"),
    (["analyze", "landscape", FOLDER, "--span", "0", "--out", OUT], "--span"),
    (["analyze", "landscape", FOLDER, "--lambda-mem", "-1", "--out", OUT], "--lambda-mem"),
    (["analyze", "refine", FOLDER, "--steps", "0,x", "--out", OUT], "--steps"),
    (["analyze", "refine", FOLDER, "--repeats", "0", "--out", OUT], "--repeats"),
    (["analyze", "deploy", FOLDER, "--seeds", "0", "--out", OUT], "--seeds"),
    (["analyze", "spike-rates", JUNK, "--out", OUT], "is not an mpe-psn checkpoint"),
    (["analyze", "neurobench", JUNK, "--out", OUT], "is not an mpe-psn checkpoint"),
    (["analyze", "deploy", TEXT, "--out", OUT], "is not an mpe-psn checkpoint"),
    # ---- demo
    (["demo", "-T", "0"], "-T"),
    (["demo", "-T", "x"], "-T"),
    (["demo", "-N", "-5"], "-N"),
    (["demo", "-N", "0"], "-N"),
    (["demo", "--seed", "-1"], "--seed"),
    (["demo", "-T", "100000", "-N", "100000"], "-N"),
    # ---- no such command
    (["wiggle"], "COMMAND"),
]


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> dict[str, str]:
    """The files and folders the placeholders of ``CASES`` stand for."""
    root = tmp_path_factory.mktemp("bad-flags")
    (root / "notes.txt").write_text("not a checkpoint, not a folder\n")
    (root / "junk.pt").write_bytes(bytes(range(256)) * 4)  # neither a zip nor a pickle
    (root / "empty").mkdir()
    (root / "run").mkdir()
    (root / "run" / "best.pt").write_bytes(b"PK\x03\x04" + bytes(range(128, 256)))  # binary, not metrics.jsonl
    return {TEXT: str(root / "notes.txt"), JUNK: str(root / "junk.pt"), FOLDER: str(root / "empty"),
            MISSING: str(root / "missing"), OUT: str(root / "out"), BEST: str(root / "run" / "best.pt")}


def _case_id(case: tuple[list[str], str]) -> str:
    return " ".join(case[0])


@pytest.mark.parametrize("argv, names", CASES, ids=[_case_id(c) for c in CASES])
def test_a_bad_value_ends_in_one_line_that_names_it(argv, names, stand_ins, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # relative outputs (x.png, bench-results/) would land here
    argv = [stand_ins.get(a, a) for a in argv]
    if argv[0] == "train":
        argv.append("--print-config")
    status = cli.main(argv)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert status != 0, captured.out[-500:]
    assert "Traceback" not in captured.err
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("mpe-psn") and ": error: " in lines[0], lines[0]
    assert names in lines[0], lines[0]
    assert not any(tmp_path.iterdir()), "a failed command left files behind"


def _command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command, sub-command and first positional choice (``analyze energy``) as a tuple."""
    paths = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.append(prefix + (name,))
                paths.extend(_command_paths(sub, prefix + (name,)))
        elif not action.option_strings and action.choices and action is parser._get_positional_actions()[0]:
            paths.extend(prefix + (choice,) for choice in action.choices)
    return paths


def test_every_command_is_in_the_battery():
    """A new command, bench mode or analysis needs bad-value cases here."""
    covered = {tuple(argv[:n]) for argv, _ in CASES for n in (1, 2, 3)}
    missing = [" ".join(path) for path in _command_paths(cli.build_parser()) if path not in covered]
    assert not missing, f"no bad-flag cases for: {missing}"


@pytest.mark.parametrize("argv", [["train", "--print-config"], ["demo", "-T", "2", "-N", "8"]])
def test_a_closed_pipe_ends_quietly(argv):
    """``mpe-psn eval RUN | head -1``: the reader goes away; no BrokenPipeError traceback."""
    process = subprocess.Popen([sys.executable, "-m", "mpe_psn", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # long before the command (which first imports torch) writes
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) != 0
    assert err == ""
