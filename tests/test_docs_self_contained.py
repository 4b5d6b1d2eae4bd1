"""The repository stands on its own: no file cites a document or a folder that lives outside it."""

import shutil
import subprocess

import pytest

from tests.conftest import REPO_ROOT

# Built from parts so that this file does not match itself.
FORBIDDEN = ["SPEC" + ".md", "ANCHORS" + ".md", "ARCHITECTURE" + ".md", ".." + "/shared"]


def repository_files() -> list[str]:
    """Tracked files plus new files git does not ignore (what a commit of the tree would hold)."""
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            cwd=REPO_ROOT, capture_output=True, check=True).stdout
    return [name for name in listed.decode().split("\0") if name and (REPO_ROOT / name).is_file()]


def citations(name: str, text: str) -> list[str]:
    """``name:line: word`` for every forbidden word in ``text``."""
    return [f"{name}:{lineno}: {word}" for lineno, line in enumerate(text.splitlines(), 1)
            for word in FORBIDDEN if word in line]


def test_no_file_cites_a_document_outside_the_repository():
    files = repository_files()
    assert "docs/design.md" in files and "pyproject.toml" in files
    hits = []
    for name in files:
        try:
            text = (REPO_ROOT / name).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary files (figures, archives)
        hits += citations(name, text)
    assert not hits, "files cite documents outside the repository:\n" + "\n".join(hits)


def test_the_scan_finds_each_citation():
    text = "\n".join(["clean line"] + [f"see {word} section 1" for word in FORBIDDEN])
    assert citations("x.py", text) == [f"x.py:{i + 2}: {word}" for i, word in enumerate(FORBIDDEN)]
