"""The numbers written in the docs come back from the current code (stale docs fail CI).

Reruns the cheap sections of ``scripts/make_docs_numbers.py``: the README command
(``mpe-psn train`` as written: per-epoch test accuracy), ``mpe-psn demo`` (docs/neuron.md) and
the spike-rates page (a LIF run on top of the README run), about 2-3 minutes of CPU, and
compares them with the tables in the docs. After a change that moves them, regenerate with
``python scripts/make_docs_numbers.py --write-docs`` (every section) and commit the pages.
"""

import importlib.util
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
def test_cheap_sections_match_the_docs(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--check", "--only", "readme", "demo", "spike-rates",
                           "--out", str(tmp_path / "numbers")], cwd=tmp_path, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    assert "the docs' numbers match the code" in done.stdout


def test_every_block_the_script_makes_is_in_the_docs_once():
    script = load_script()
    documented = script.docs_blocks()  # raises on a block that appears twice
    assert set(script.TOLERANCE) <= set(documented)
    for name in ("readme-epochs", "demo", "spike-rates"):
        assert name in documented


def test_comparison_catches_a_stale_number():
    script = load_script()
    docs = "| epoch | 1 | 2 |\n|---|---|---|\n| test accuracy (%) | 97.0 | 98.8 |"
    assert script.differences("readme-epochs", docs.replace("98.8", "99.0"), docs) == []        # 1 sample of 500
    assert script.differences("readme-epochs", docs.replace("98.8", "73.4"), docs) == [
        "readme-epochs: docs say 98.8, the code gives 73.4"]
    assert script.differences("readme-epochs", docs.replace("epoch", "epochs"), docs)[0].startswith("readme-epochs: the text differs")
    rates = "| body.1 | 4096 | 4.92 % | 1,611 |"
    assert script.differences("spike-rates", "| body.1 | 4096 | 14.35 % | 1,611 |", rates)
    assert script.differences("spike-rates", "| body.1 | 4096 | 4.93 % | 1,612 |", rates) == []


def test_blocks_are_replaced_in_place_and_nowhere_else():
    script = load_script()
    page = "a\n<!-- numbers:x -->\nold\n<!-- /numbers:x -->\nb\n<!-- numbers:y -->\nkeep\n<!-- /numbers:y -->\n"
    assert script.replace_blocks(page, {"x": "new\n"}) == page.replace("old", "new")


def test_refuses_to_write_into_docs_and_smoke_numbers_into_the_docs(tmp_path):
    for argv, message in ((["--out", str(REPO_ROOT / "docs" / "x")], "outside docs/"),
                          (["--smoke", "--write-docs"], "cannot be combined")):
        done = subprocess.run([sys.executable, str(SCRIPT), *argv], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 2 and message in done.stderr
