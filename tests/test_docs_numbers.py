"""The numbers written in the docs, held against the current code on any CPU.

Trained numbers (accuracies, losses, spike rates of a trained net) are chaotic: another CPU
(other SIMD kernels in ATen, numba, oneDNN) trains another net, so CI never compares them with
the docs. It reruns the cheap sections of ``scripts/make_docs_numbers.py`` with
``--invariants`` (about 3 minutes of CPU): the blocks with no training in them (the demo's math
on fixed inputs, the built-in dataset's statistics) must match the docs character for
character, the trained blocks their text with numbers masked, and each section's invariants
must hold (the README run ends above 90 % test accuracy, spike rates strictly between 0 and 1).
Whoever regenerates the docs runs ``python scripts/make_docs_numbers.py --check`` for the drift
of every number, then ``--write-docs``.
"""

import importlib.util
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "make_docs_numbers.py"


def load_script():
    spec = importlib.util.spec_from_file_location("make_docs_numbers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_docs_numbers", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_docs_numbers_hold_on_this_cpu(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--invariants", "--only", "dataset", "readme", "demo", "spike-rates",
                           "--out", str(tmp_path / "numbers")], cwd=tmp_path, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    assert "the invariants hold and the exact blocks match the docs" in done.stdout


def test_every_block_the_script_makes_is_in_the_docs_once():
    script = load_script()
    documented = script.docs_blocks()  # raises on a block that appears twice
    assert set(script.TOLERANCE) <= set(documented)
    for name in ("readme-epochs", "demo", "spike-rates", "dataset-summary"):
        assert name in documented
    assert script.EXACT == {"demo", "dataset-summary"}  # the blocks with no training in them


def test_every_page_with_numbers_says_where_they_were_made():
    """Each page holding a numbers block holds a provenance block: the command and the machine."""
    script = load_script()
    documented = script.docs_blocks()
    pages = {page for page, _ in documented.values()}
    for page in pages:
        lines = [body for name, (p, body) in documented.items() if p == page and "provenance" in name]
        lines += [body for name, (p, body) in documented.items() if p == page and "Made by" in body]
        assert lines, f"{page}: numbers without a provenance line"
        for line in lines:
            assert "Made by `python scripts/make_docs_numbers.py`" in line and "CPU cores" in line, (page, line)


def test_comparison_catches_a_stale_number():
    script = load_script()
    docs = "| epoch | 1 | 2 |\n|---|---|---|\n| test accuracy (%) | 97.0 | 98.8 |"
    assert script.differences("readme-epochs", docs.replace("98.8", "99.0"), docs) == []        # 1 sample of 500
    assert script.differences("readme-epochs", docs.replace("98.8", "73.4"), docs) == [
        "readme-epochs: docs say 98.8, the code gives 73.4 (test accuracy (%)) -- beyond the tolerance"]
    assert script.differences("readme-epochs", docs.replace("epoch", "epochs"), docs)[0].startswith("readme-epochs: the text differs")
    rates = "| body.1 | 4096 | 4.92 % | 1,611 |"
    assert script.differences("spike-rates", "| body.1 | 4096 | 14.35 % | 1,611 |", rates)
    assert script.differences("spike-rates", "| body.1 | 4096 | 4.93 % | 1,612 |", rates) == []


def test_exact_blocks_are_compared_character_for_character():
    script = load_script()
    demo = "bernoulli estimator              0.3097         2.45%       0.0642"
    assert script.differences("demo", demo, demo) == []
    assert script.differences("demo", demo.replace("0.3097", "0.3098"), demo)[0].startswith("demo: differs from the docs")
    assert script.differences("demo", demo.replace("0.3097", "0.30970"), demo)  # the same value, printed otherwise


def test_drift_is_reported_per_number_and_only_beyond_tolerance_fails():
    script = load_script()
    docs = "| epoch | 1 | 2 |\n|---|---|---|\n| test accuracy (%) | 97.0 | 98.8 |"
    moved = script.drift("readme-epochs", docs.replace("98.8", "97.2").replace("97.0", "80.0"), docs)
    assert moved == [("readme-epochs: docs say 97.0, the code gives 80.0 (test accuracy (%)) -- beyond the tolerance", True),
                     ("readme-epochs: docs say 98.8, the code gives 97.2 (test accuracy (%))", False)]
    assert script.structure_differences("readme-epochs", docs.replace("98.8", "12.5"), docs) == []
    assert script.structure_differences("readme-epochs", docs + " | 3 |", docs)


def _fake_run(root, accuracies, losses):
    run = root / "runs" / "mpe"
    run.mkdir(parents=True)
    run.joinpath("metrics.jsonl").write_text("".join(
        json.dumps({"epoch": i, "test_acc": a, "train_loss": l}) + "\n" for i, (a, l) in enumerate(zip(accuracies, losses))))


def test_readme_invariants(tmp_path):
    script = load_script()
    work = script.Work(root=tmp_path, figures=tmp_path / "figures", smoke=False)
    _fake_run(tmp_path, [0.5, 0.96], [2.0, 0.3])
    assert script.readme_invariants(work) == []
    (tmp_path / "runs" / "mpe" / "metrics.jsonl").unlink()
    (tmp_path / "runs" / "mpe").rmdir()
    _fake_run(tmp_path, [0.5, 0.9], [2.0, float("nan")])
    problems = script.readme_invariants(work)
    assert len(problems) == 2 and "90.0 % test accuracy" in problems[0] and "did not fall" in problems[1]


def test_spike_rate_invariants(tmp_path):
    script = load_script()
    work = script.Work(root=tmp_path, figures=tmp_path / "figures", smoke=False)
    (tmp_path / "figures").mkdir()
    layers = [{"name": "body.1", "rate": 0.09}, {"name": "body.3", "rate": 0.0}]
    data = {"runs": [{"neuron": "mpe", "result": {"layers": layers, "total": {"rate": 0.05}}}]}
    (tmp_path / "figures" / "spike-rates.json").write_text(json.dumps(data))
    assert script.spike_rate_invariants(work) == [
        "spike-rates: mpe layer body.3 fires at rate 0.0, not strictly between 0 and 1"]


def test_blocks_are_replaced_in_place_and_nowhere_else():
    script = load_script()
    page = "a\n<!-- numbers:x -->\nold\n<!-- /numbers:x -->\nb\n<!-- numbers:y -->\nkeep\n<!-- /numbers:y -->\n"
    assert script.replace_blocks(page, {"x": "new\n"}) == page.replace("old", "new")


def test_refuses_to_write_into_docs_and_smoke_numbers_into_the_docs(tmp_path):
    for argv, message in ((["--out", str(REPO_ROOT / "docs" / "x")], "outside docs/"),
                          (["--smoke", "--write-docs"], "cannot be combined")):
        done = subprocess.run([sys.executable, str(SCRIPT), *argv], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 2 and message in done.stderr
