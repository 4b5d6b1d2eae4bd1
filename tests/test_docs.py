"""Every example of README.md and docs/ runs as written.

Each page is run like a script, top to bottom, in a fresh working folder (never in the
repository), with its own dataset cache:

* every ```python block is executed (the blocks of a page share one namespace);
* in every ```bash block, every line whose command (after ``VAR=value`` prefixes) is
  ``mpe-psn``, ``torchrun``, ``python`` or ``python3`` is run by bash as written, except lines
  that install the package (``pip install``: CI's own first step, .ci/run).

Markers, written on the line (bash) or as the first line of the block (python):

* ``# long`` (bash only): runs longer than a test should; the test appends a smoke budget for that
  command (``SMOKE`` below: one epoch on 32 samples, a 3 x 3 landscape, ...) to the line;
* ``# gpu``: needs CUDA; run only where a GPU is available;
* ``# manual``: cannot run here at all (needs your own dataset, serves forever, ...).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PAGES = sorted([REPO_ROOT / "README.md", *(REPO_ROOT / "docs").rglob("*.md")])
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
MARKERS = ("long", "gpu", "manual")
RUNNABLE = ("mpe-psn", "torchrun", "python", "python3")
#: (pattern on the command, smoke budget appended to a ``# long`` line); first match wins.
SMOKE: tuple[tuple[str, str], ...] = (
    (r"\btrain\b.*--resume", "--epochs 2"),
    (r"\btrain\b", "--epochs 1 --data-option num_train=32 --data-option num_test=32"),
    (r"\banalyze landscape\b", "--grid 3 --batches 1"),
    (r"\banalyze\b", "--batches 1"),
    (r"scripts/make_docs_numbers\.py", "--smoke --only readme demo --out numbers-smoke"),
)


@dataclass
class Step:
    kind: str       # "python" or "bash"
    code: str       # the block, or the command without its comment
    line: int       # line in the page
    markers: set[str]
    text: str       # as written


def split_comment(line: str) -> tuple[str, str]:
    """``(command, comment)``: the shell comment starts at the first ``#`` outside quotes after a blank."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i:]
    return line.rstrip(), ""


def markers_of(comment: str) -> set[str]:
    return {part.strip() for part in comment.split("#")} & set(MARKERS)


def command_name(command: str) -> str | None:
    words = shlex.split(command) if command else []
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", words[0]):
        words = words[1:]
    return words[0] if words else None


def page_steps(text: str) -> list[Step]:
    steps = []
    for match in FENCE.finditer(text):
        language, body = match[1], match[2]
        first_line = text.count("\n", 0, match.start()) + 2
        if language == "python":
            head = re.match(r"#\s*(gpu|manual)\b", body.lstrip())  # e.g. "# gpu: needs CUDA"
            steps.append(Step("python", body, first_line, {head[1]} if head else set(), body))
        elif language in ("bash", "sh", "shell"):
            for offset, raw in enumerate(body.splitlines()):
                command, comment = split_comment(raw.strip())
                if command_name(command) in RUNNABLE and "pip install" not in command:
                    steps.append(Step("bash", command, first_line + offset, markers_of(comment), raw.strip()))
    return steps


def smoke_command(step: Step) -> str:
    if "long" not in step.markers:
        return step.code
    for pattern, budget in SMOKE:
        if re.search(pattern, step.code):
            return f"{step.code} {budget}"
    raise AssertionError(f"line {step.line}: a '# long' line with no smoke budget in tests/test_docs.py: {step.text}")


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


PAGE_STEPS = {page: page_steps(page.read_text()) for page in PAGES}


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p, s in PAGE_STEPS.items() if s], ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_page_runs_as_written(page, tmp_path, tmp_path_factory, monkeypatch, capsys):
    cache = tmp_path_factory.getbasetemp() / "docs-cache"  # one dataset cache for all pages
    env = {**os.environ, "MPE_PSN_CACHE": str(cache), "MPLBACKEND": "Agg",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPE_PSN_CACHE", str(cache))
    (tmp_path / "scripts").symlink_to(REPO_ROOT / "scripts")  # `python scripts/...` as from the repository root
    namespace: dict = {"__name__": "__docs__"}
    skipped = []
    for step in PAGE_STEPS[page]:
        where = f"{page.relative_to(REPO_ROOT)}:{step.line}"
        if "manual" in step.markers or ("gpu" in step.markers and not cuda_available()):
            skipped.append(where)
            continue
        if step.kind == "python":
            exec(compile(step.code, where, "exec"), namespace)
            continue
        command = smoke_command(step)
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{where}: `{command}` exited {done.returncode}:\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr, f"{where}: `{command}` printed a traceback:\n{done.stderr[-3000:]}"
    if skipped:
        print(f"not run here (marked gpu or manual): {', '.join(skipped)}")


def test_every_python_example_and_command_is_collected():
    """The collector finds the examples the pages are known to hold, and reads the markers."""
    steps = {page.relative_to(REPO_ROOT).as_posix(): s for page, s in PAGE_STEPS.items()}
    assert [s.kind for s in steps["README.md"]].count("python") == 1
    assert any(s.kind == "python" for s in steps["docs/neuron.md"])
    assert any(s.code.startswith("torchrun") and "long" in s.markers for s in steps["README.md"])
    assert any(s.code.startswith("torchrun") and "gpu" in s.markers for s in steps["docs/training.md"])
    assert any(s.code == "mpe-psn demo" and not s.markers for s in steps["docs/neuron.md"])
    for page, page_steps_ in steps.items():
        for step in page_steps_:
            if step.kind == "bash":
                smoke_command(step)  # every long line has a smoke budget


def test_the_collector_on_a_page():
    page = "\n".join([
        "text", "```bash", "mpe-psn train --name a   # small run   # long", "pip install -e .",
        "OMP_NUM_THREADS=1 mpe-psn analyze refine runs/a --out x", "echo not a command",
        "python -c 'print(\"# not a comment\")'", "torchrun --nproc-per-node 4 -m mpe_psn train   # gpu", "```",
        "```python", "# manual: needs your data", "x = 1", "```", "```text", "mpe-psn synopsis LINE", "```"])
    steps = page_steps(page)
    assert [(s.kind, s.code, s.line, s.markers) for s in steps] == [
        ("bash", "mpe-psn train --name a", 3, {"long"}),
        ("bash", "OMP_NUM_THREADS=1 mpe-psn analyze refine runs/a --out x", 5, set()),
        ("bash", "python -c 'print(\"# not a comment\")'", 7, set()),
        ("bash", "torchrun --nproc-per-node 4 -m mpe_psn train", 8, {"gpu"}),
        ("python", "# manual: needs your data\nx = 1\n", 11, {"manual"}),
    ]
    assert smoke_command(steps[0]) == "mpe-psn train --name a --epochs 1 --data-option num_train=32 --data-option num_test=32"
    with pytest.raises(AssertionError, match="no smoke budget"):
        smoke_command(Step("bash", "mpe-psn bench layer", 1, {"long"}, "mpe-psn bench layer  # long"))


def test_readme_starts_with_the_install_and_test_commands():
    blocks = re.findall(r"```bash\n(.*?)```", (REPO_ROOT / "README.md").read_text(), flags=re.S)
    assert "pip install -e . && mpe-psn train" in blocks[0]
    assert "python -m pytest" in blocks[1]
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "python -m pytest -q -n 2" in ci and "python -m pytest -q -n 2" in blocks[1]


def test_site_builds_strictly(tmp_path):
    """`mkdocs build --strict`: every nav page exists, every link and anchor resolves, the API
    reference renders from the docstrings and every command has its page."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=REPO_ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-4000:]
    site = tmp_path / "site"
    from mpe_psn.commands.cli import COMMANDS

    for name, _, _ in COMMANDS:
        page = (site / "commands" / name / "index.html").read_text()
        assert f"mpe-psn {name}" in page and "usage:" in page
    api = (site / "api" / "functional" / "index.html").read_text()
    assert 'id="mpe_psn.functional.mpe.mpe_psn"' in api  # rendered from the docstrings
