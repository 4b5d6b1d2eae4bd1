"""numba's disk cache follows ``ops/common``: every module whose cached kernels (``cache=True``)
use ``ops/common/numba_math.py`` carries ``COMMON_SOURCE_STAMP``, the stamp of that file and
``ops/common/codes.py`` (see numba_math's docstring). numba invalidates a cached kernel only
when its own file's text changes, so a stale stamp would load kernels compiled from the old
shared code. Files are parsed, nothing is imported.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

OPS = Path(__file__).resolve().parents[2] / "src" / "mpe_psn" / "ops"
#: the shared files compiled into the kernels, in the stamp's order
COMMON_SOURCES = (OPS / "common" / "numba_math.py", OPS / "common" / "codes.py")
SHARED_MODULE = "mpe_psn.ops.common.numba_math"


def common_source_stamp(sources: tuple[Path, ...] = COMMON_SOURCES) -> str:
    """The first 16 hex digits of the sha256 of the sources' text, one after the other."""
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.read_text(encoding="utf-8").encode())
    return digest.hexdigest()[:16]


def _uses_shared_math(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == SHARED_MODULE:
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "mpe_psn.ops.common":
            if any(alias.name == "numba_math" for alias in node.names):
                return True
        if isinstance(node, ast.Import) and any(alias.name == SHARED_MODULE for alias in node.names):
            return True
    return False


def _caches_a_kernel(tree: ast.AST) -> bool:
    return any(isinstance(node, ast.keyword) and node.arg == "cache" and isinstance(node.value, ast.Constant)
               and node.value.value is True for node in ast.walk(tree))


def _stamp(tree: ast.Module) -> str | None:
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "COMMON_SOURCE_STAMP"
                                                 for t in node.targets) and isinstance(node.value, ast.Constant)):
            return node.value.value
    return None


def dependent_modules(files: list[tuple[Path, str]]) -> list[Path]:
    """The files that cache a numba kernel and import ``ops/common/numba_math``."""
    found = []
    for path, source in files:
        tree = ast.parse(source)
        if _uses_shared_math(tree) and _caches_a_kernel(tree):
            found.append(path)
    return found


def stale_stamps(files: list[tuple[Path, str]], stamp: str) -> list[str]:
    """What is wrong with the ``COMMON_SOURCE_STAMP`` of each dependent module (empty: nothing)."""
    wrong = []
    for path in dependent_modules(files):
        have = _stamp(ast.parse(dict(files)[path]))
        if have != stamp:
            wrong.append(f"{path}: COMMON_SOURCE_STAMP is {have!r}, set it to {stamp!r}")
    return wrong


def _ops_files() -> list[tuple[Path, str]]:
    return [(p, p.read_text(encoding="utf-8")) for p in sorted(OPS.rglob("*.py")) if p.parent.name != "common"]


def test_the_scan_finds_both_cpu_kernel_modules():
    found = {p.relative_to(OPS).as_posix() for p in dependent_modules(_ops_files())}
    assert {"lif/cpu_kernels.py", "mpe/cpu_kernels.py"} <= found, found


def test_every_cached_kernel_module_carries_the_stamp_of_the_shared_math():
    wrong = stale_stamps(_ops_files(), common_source_stamp())
    assert not wrong, ("ops/common/numba_math.py or codes.py changed; numba would load the old kernels from "
                       "__pycache__ until these stamps change:\n" + "\n".join(wrong))


def test_a_missing_or_stale_stamp_is_found(tmp_path):
    kernel = ("from numba import njit\nfrom mpe_psn.ops.common.numba_math import ONE\n\n{stamp}\n\n"
              "@njit(cache=True)\ndef f(x):\n    return x + ONE\n")
    path = tmp_path / "k.py"
    assert stale_stamps([(path, kernel.format(stamp='COMMON_SOURCE_STAMP = "abc"'))], "abc") == []
    assert stale_stamps([(path, kernel.format(stamp='COMMON_SOURCE_STAMP = "abc"'))], "abd")
    assert stale_stamps([(path, kernel.format(stamp=""))], "abc")
    # without cache=True (or without the shared import) there is nothing to keep in step
    assert stale_stamps([(path, kernel.format(stamp="").replace("cache=True", ""))], "abc") == []


def test_the_stamp_follows_every_shared_source(tmp_path):
    copies = []
    for source in COMMON_SOURCES:
        copy = tmp_path / source.name
        copy.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
        copies.append(copy)
    before = common_source_stamp(tuple(copies))
    assert before == common_source_stamp()
    for copy in copies:
        copy.write_text(copy.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
        after = common_source_stamp(tuple(copies))
        assert after != before
        before = after
