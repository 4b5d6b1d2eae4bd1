"""The examples in the docs run as written."""

import re

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.parametrize("page,prints", [("docs/neuron.md", "spike mismatch vs LIF"), ("README.md", None)])
def test_python_examples_run(page, prints, capsys):
    text = (REPO_ROOT / page).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, f"no python example in {page}"
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, page, "exec"), namespace)
    if prints:
        assert prints in capsys.readouterr().out


def test_readme_starts_with_the_install_and_test_commands():
    blocks = re.findall(r"```bash\n(.*?)```", (REPO_ROOT / "README.md").read_text(), flags=re.S)
    assert "pip install -e . && mpe-psn train" in blocks[0]
    assert "python -m pytest" in blocks[1]
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "python -m pytest -q -n 2" in ci and "python -m pytest -q -n 2" in blocks[1]
