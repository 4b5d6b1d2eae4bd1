"""The examples in the docs run as written."""

import re

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.parametrize("page", ["docs/neuron.md", "README.md"])
def test_python_examples_run(page, capsys):
    text = (REPO_ROOT / page).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, f"no python example in {page}"
    for block in blocks:
        exec(compile(block, page, "exec"), {})
    assert "spike mismatch vs LIF" in capsys.readouterr().out
