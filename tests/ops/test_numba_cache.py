"""numba's disk cache follows the sources a kernel compiles in: every module that caches a
numba kernel (``cache=True``) carries ``COMMON_SOURCE_STAMP``, the stamp of every project module
it imports, transitively (``ops/common/numba_math.py`` and ``codes.py`` for both ops; MPE-PSN's
also ``mpe/noise.py``, whose hash constants it bakes in, and ``mpe/codes.py``; see
numba_math's docstring). numba invalidates a cached kernel only when its own file's text
changes, so a stale stamp would load kernels compiled from the old code. Files are parsed,
nothing is imported.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
OPS = SRC / "mpe_psn" / "ops"
SHARED_MODULE = "mpe_psn.ops.common.numba_math"


def source_stamp(sources: "list[Path] | tuple[Path, ...]") -> str:
    """The first 16 hex digits of the sha256 of the sources' text, one after the other."""
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.read_text(encoding="utf-8").encode())
    return digest.hexdigest()[:16]


def _module_file(name: str) -> Path | None:
    """The file of project module ``name`` (a module or a package's ``__init__``), None outside it."""
    if not name.startswith("mpe_psn."):
        return None
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_files(tree: ast.AST) -> set[Path]:
    """The project files ``tree`` imports (``from a.b import c`` counts ``a/b/c.py`` when it is a module)."""
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found.update(path for path in map(_module_file, names) if path is not None and path.name != "__init__.py")
    return found


def compiled_in_sources(path: Path, source: str) -> list[Path]:
    """Every project file ``source`` (at ``path``) imports, transitively, itself excluded, sorted."""
    seen: set[Path] = set()
    todo = list(_imported_files(ast.parse(source)))
    while todo:
        current = todo.pop()
        if current in seen or current == path:
            continue
        seen.add(current)
        todo.extend(_imported_files(ast.parse(current.read_text(encoding="utf-8"))))
    return sorted(seen)


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


def stale_stamps(files: list[tuple[Path, str]], stamp: "str | None" = None) -> list[str]:
    """What is wrong with the ``COMMON_SOURCE_STAMP`` of each dependent module (empty: nothing);
    ``stamp`` None: each module's own (:func:`compiled_in_sources`)."""
    wrong = []
    for path in dependent_modules(files):
        source = dict(files)[path]
        want = stamp if stamp is not None else source_stamp(compiled_in_sources(path, source))
        have = _stamp(ast.parse(source))
        if have != want:
            wrong.append(f"{path}: COMMON_SOURCE_STAMP is {have!r}, set it to {want!r}")
    return wrong


def _ops_files() -> list[tuple[Path, str]]:
    return [(p, p.read_text(encoding="utf-8")) for p in sorted(OPS.rglob("*.py")) if p.parent.name != "common"]


def test_the_scan_finds_both_cpu_kernel_modules():
    found = {p.relative_to(OPS).as_posix() for p in dependent_modules(_ops_files())}
    assert {"lif/cpu_kernels.py", "mpe/cpu_kernels.py"} <= found, found


def test_every_cached_kernel_module_carries_the_stamp_of_what_it_compiles_in():
    wrong = stale_stamps(_ops_files())
    assert not wrong, ("a module compiled into the numba kernels changed; numba would load the old kernels from "
                       "__pycache__ until these stamps change:\n" + "\n".join(wrong))


def test_the_mpe_kernels_follow_the_noise_constants_and_both_ops_the_shared_math():
    files = dict(_ops_files())
    mpe, lif = OPS / "mpe" / "cpu_kernels.py", OPS / "lif" / "cpu_kernels.py"
    common = [OPS / "common" / "codes.py", OPS / "common" / "numba_math.py"]
    assert compiled_in_sources(mpe, files[mpe]) == common + [OPS / "mpe" / "codes.py", OPS / "mpe" / "noise.py"]
    assert compiled_in_sources(lif, files[lif]) == common


def test_a_missing_or_stale_stamp_is_found(tmp_path):
    kernel = ("from numba import njit\nfrom mpe_psn.ops.common.numba_math import ONE\n\n{stamp}\n\n"
              "@njit(cache=True)\ndef f(x):\n    return x + ONE\n")
    path = tmp_path / "k.py"
    assert stale_stamps([(path, kernel.format(stamp='COMMON_SOURCE_STAMP = "abc"'))], "abc") == []
    assert stale_stamps([(path, kernel.format(stamp='COMMON_SOURCE_STAMP = "abc"'))], "abd")
    assert stale_stamps([(path, kernel.format(stamp=""))], "abc")
    # without cache=True (or without the shared import) there is nothing to keep in step
    assert stale_stamps([(path, kernel.format(stamp="").replace("cache=True", ""))], "abc") == []


def test_the_stamp_follows_every_compiled_in_source(tmp_path):
    mpe = OPS / "mpe" / "cpu_kernels.py"
    copies = []
    for source in compiled_in_sources(mpe, mpe.read_text(encoding="utf-8")):
        copy = tmp_path / f"{source.parent.name}_{source.name}"
        copy.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
        copies.append(copy)
    before = source_stamp(copies)
    for copy in copies:
        copy.write_text(copy.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
        after = source_stamp(copies)
        assert after != before, copy
        before = after
