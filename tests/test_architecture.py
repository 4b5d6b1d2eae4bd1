"""Imports point one way (docs/architecture.md): a test that fails when one goes the wrong way.

Every module under src/mpe_psn is parsed (``ast``, so imports inside functions count too, and
nothing is imported to find out); each ``mpe_psn`` import is checked against the table of
allowed rooms below, which is the drawing of docs/architecture.md written as data. No two
files import each other, even through others, and the command line (``commands/``) imports only
the public names of the rooms below it.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "mpe_psn"
ARCHITECTURE_DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"

BASE = {"errors", "utils"}
MATH = {"functional", "ops", "neurons", "losses"}
#: room -> the rooms its modules may import (besides their own room)
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "utils": {"errors"},
    "functional": BASE,
    "ops": BASE | {"functional"},
    "neurons": BASE | {"functional", "ops"},
    "losses": BASE | {"functional", "ops", "neurons"},
    "models": BASE | MATH,
    "data": BASE,  # data stands on its own
    "training": BASE | MATH | {"models", "data"},
    "analysis": BASE | MATH | {"models", "data"},
    "bench": BASE | MATH | {"models", "data"},
    "export": BASE | MATH | {"models", "data"},
    "interop": BASE | MATH | {"models", "data"},
    "commands": BASE | MATH | {"models", "data", "training", "analysis", "bench", "export", "interop", "face"},
    "face": BASE | MATH | {"models", "data", "training", "analysis", "bench", "export", "interop", "commands"},
}

#: (importing module, imported module) pairs allowed for now, each with the reason.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def room(module: str) -> str:
    """The room of a module: ``face`` for the package's front door and ``python -m mpe_psn``."""
    if module in ("mpe_psn", "mpe_psn.__main__"):
        return "face"
    return module.split(".")[1]


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """``(line, module)`` of every ``mpe_psn`` import in ``source``, wherever it stands."""
    found = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                is_module = (SRC / Path(*candidate.split("."))).with_suffix(".py").is_file() or (
                    SRC / Path(*candidate.split(".")) / "__init__.py").is_file()
                found.append((node.lineno, candidate if is_module else base))
    return [(line, name) for line, name in found if name == "mpe_psn" or name.startswith("mpe_psn.")]


def wrong_way(importer: str, imported: str) -> str | None:
    """Why ``importer`` must not import ``imported`` (None when it may)."""
    source, target = room(importer), room(imported)
    if target == "commands" and source != "commands" and importer != "mpe_psn.__main__":  # python -m mpe_psn
        return "nothing imports the command line (commands/cli.py loads the commands by name)"
    if source == target:
        return None
    if target not in ALLOWED[source]:
        return f"{source}/ may import {sorted(ALLOWED[source]) or 'nothing of mpe_psn'}, not {target}"
    return None


def package_files() -> list[tuple[Path, str]]:
    return [(p, p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))]


def violations(files: "list[tuple[Path, str]] | None" = None) -> list[str]:
    files = files if files is not None else package_files()
    found = []
    for path, source in files:
        importer = module_name(path)
        for line, imported in imported_modules(source, importer, path.name == "__init__.py"):
            reason = wrong_way(importer, imported)
            if reason and (importer, imported) not in KNOWN_EXCEPTIONS:
                found.append(f"{path.relative_to(SRC)}:{line}: {importer} imports {imported}: {reason}")
    return found


def circles(files: "list[tuple[Path, str]] | None" = None) -> list[list[str]]:
    """Groups of modules that import each other, directly or through others (Tarjan's strongly
    connected components of the import graph; any import counts, inside a function too)."""
    files = files if files is not None else package_files()
    graph = {module_name(p): set() for p, _ in files}
    for path, source in files:
        importer = module_name(path)
        graph[importer] |= {m for _, m in imported_modules(source, importer, path.name == "__init__.py")
                            if m in graph and m != importer}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def private_imports(files: "list[tuple[Path, str]] | None" = None) -> list[str]:
    """Imports by ``commands/`` of a private name (``_rows``) or module of another room."""
    files = files if files is not None else package_files()
    found = []
    for path, source in files:
        importer = module_name(path)
        if room(importer) != "commands":
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mpe_psn.") and node.level == 0:
                names = [node.module.split("."), *([alias.name] for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name.split(".") for alias in node.names if alias.name.startswith("mpe_psn.")]
            else:
                continue
            if not names or room(".".join(names[0])) == "commands":
                continue
            private = [part for parts in names for part in parts if part.startswith("_") and not part.endswith("__")]
            if private:
                found.append(f"{path.relative_to(SRC)}:{node.lineno}: {importer} imports private {private}")
    return found


def test_no_module_imports_itself_through_others():
    found = circles()
    assert not found, "modules that import each other (move what both need below them):\n" + "\n".join(map(str, found))


def test_the_commands_import_only_public_names():
    found = private_imports()
    assert not found, "the command line reaches into a room's private parts:\n" + "\n".join(found)


def test_the_checks_find_a_circle_and_a_private_import():
    pair = [(SRC / "mpe_psn/analysis/tables.py", "def t():\n    from mpe_psn.analysis.registry import get_analysis\n"),
            (SRC / "mpe_psn/analysis/registry.py", "from mpe_psn.analysis import tables\n")]
    assert circles(pair) == [["mpe_psn.analysis.registry", "mpe_psn.analysis.tables"]]
    assert private_imports([(SRC / "mpe_psn/commands/analyze.py", "from mpe_psn.analysis.tables import _rows\n")])
    assert private_imports([(SRC / "mpe_psn/commands/train.py", "from mpe_psn.training.config import TrainConfig\n")]) == []


def test_every_import_points_down():
    wrong = violations()
    assert not wrong, "imports that go the wrong way (see docs/architecture.md):\n" + "\n".join(wrong)


def test_every_room_is_placed_and_described():
    rooms = {room(module_name(p)) for p in PACKAGE.rglob("*.py")}
    unplaced = sorted(rooms - set(ALLOWED))
    assert not unplaced, f"rooms without a place in ALLOWED (and docs/architecture.md): {unplaced}"
    doc = ARCHITECTURE_DOC.read_text(encoding="utf-8")
    missing = sorted(r for r in rooms - {"face", "errors"} if f"{r}/" not in doc and f"{r}.py" not in doc)
    assert not missing, f"docs/architecture.md does not describe: {missing}"


def fused_op(module: str) -> str | None:
    """The fused op (package under ``ops/``: ``mpe``, ``lif``, ...) a module belongs to; ``common``
    (what every op shares) counts as one too; None outside them."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] == "ops" and (PACKAGE / "ops" / parts[2]).is_dir():
        return parts[2]
    return None


def cross_op_imports(files: "list[tuple[Path, str]] | None" = None) -> list[str]:
    """Imports by one fused op of another's modules (what both need belongs in ``ops/common/``),
    and by ``ops/common`` of any op."""
    files = files if files is not None else package_files()
    found = []
    for path, source in files:
        importer = module_name(path)
        for line, imported in imported_modules(source, importer, path.name == "__init__.py"):
            mine, theirs = fused_op(importer), fused_op(imported)
            if mine and theirs and theirs not in (mine, "common"):
                found.append(f"{path.relative_to(SRC)}:{line}: {importer} imports {imported}")
    return found


def test_fused_ops_import_only_themselves_and_common():
    found = cross_op_imports()
    assert not found, "a fused op reaches into another (move the shared part to ops/common/):\n" + "\n".join(found)


def test_the_check_finds_an_import_across_fused_ops():
    assert cross_op_imports([(SRC / "mpe_psn/ops/lif/cpu_host.py", "from mpe_psn.ops.mpe.cpu_host import run\n")])
    assert cross_op_imports([(SRC / "mpe_psn/ops/mpe/op.py", "def f():\n    from mpe_psn.ops.lif import op\n")])
    assert cross_op_imports([(SRC / "mpe_psn/ops/lif/dispatch.py", "from mpe_psn.ops.mpe import mpe_psn_layer\n")])
    assert cross_op_imports([(SRC / "mpe_psn/ops/common/threads.py", "from mpe_psn.ops.mpe import codes\n")])
    assert cross_op_imports([(SRC / "mpe_psn/ops/lif/cpu_kernels.py",
                              "from mpe_psn.ops.common.numba_math import ONE\nfrom mpe_psn.ops import registry\n"
                              "from mpe_psn.ops.lif import cpu_host\n")]) == []


def test_known_exceptions_are_still_needed():
    all_imports = set()
    for path in PACKAGE.rglob("*.py"):
        importer = module_name(path)
        all_imports |= {(importer, m) for _, m in imported_modules(path.read_text(encoding="utf-8"), importer, path.name == "__init__.py")}
    stale = sorted(pair for pair in KNOWN_EXCEPTIONS if pair not in all_imports)
    assert not stale, f"KNOWN_EXCEPTIONS lists imports that are gone; remove them: {stale}"


@pytest.mark.parametrize(
    "path, source, expected",
    [
        # an upward import hidden inside a function is found
        ("mpe_psn/functional/mpe.py", "def f():\n    from mpe_psn.ops import mpe_psn_layer\n", "functional/ may import"),
        # training and analysis never import each other, in either direction
        ("mpe_psn/training/loop.py", "import mpe_psn.analysis.fidelity\n", "not analysis"),
        ("mpe_psn/analysis/runner.py", "from mpe_psn.training import load_model\n", "not training"),
        # a relative import resolves to its module
        ("mpe_psn/data/synthetic.py", "from ..models import build_model\n", "not models"),
        # ``from mpe_psn import x`` resolves to the submodule x
        ("mpe_psn/ops/mpe/op.py", "from mpe_psn import neurons\n", "not neurons"),
        ("mpe_psn/training/report.py", "from mpe_psn.commands.cli import main\n", "nothing imports the command line"),
        ("mpe_psn/analysis/runner.py", "from mpe_psn.commands import train\n", "nothing imports the command line"),
        ("mpe_psn/__init__.py", "from mpe_psn.commands.cli import main\n", "nothing imports the command line"),
        # the base imports nothing above it
        ("mpe_psn/utils/device.py", "from mpe_psn.data.registry import DATASETS\n", "utils/ may import"),
    ],
)
def test_the_check_finds_a_wrong_import(path, source, expected):
    found = violations([(SRC / path, source)])
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize(
    "path, source",
    [
        ("mpe_psn/training/loop.py", "from mpe_psn.models.fidelity import fidelity_summary\nfrom mpe_psn.data import build_loader\n"),
        ("mpe_psn/ops/mpe/dispatch.py", "from mpe_psn.functional.mpe import mpe_psn\nfrom . import op\n"),
        ("mpe_psn/commands/cli.py", "from mpe_psn import __version__\n"),
        ("mpe_psn/commands/train.py", "from mpe_psn.training.config import TrainConfig\nfrom . import args\n"),
        ("mpe_psn/__main__.py", "from mpe_psn.commands.cli import main\n"),
    ],
)
def test_the_check_lets_a_downward_import_pass(path, source):
    assert violations([(SRC / path, source)]) == []


# --- Imports inside functions: only for an optional dependency, or with a comment saying why ---

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
#: comments that are tool directives, not a reason
_PRAGMA = re.compile(r"#\s*(noqa|type:|pragma|fmt:)")


def required_modules() -> set[str]:
    """Top-level modules of ``[project] dependencies`` in pyproject.toml (``torch>=2.4`` -> ``torch``;
    each required distribution installs the module of its name)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10: the same parser, as the tomli package
        tomllib = pytest.importorskip("tomli")
    with PYPROJECT.open("rb") as file:
        dependencies = tomllib.load(file)["project"]["dependencies"]
    return {re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0].lower().replace("-", "_") for d in dependencies}


def _is_optional(node: "ast.Import | ast.ImportFrom", required: set[str]) -> bool:
    """Whether ``node`` imports a third-party module that pyproject does not require."""
    if isinstance(node, ast.ImportFrom):
        if node.level:
            return False
        names = [node.module or ""]
    else:
        names = [alias.name for alias in node.names]
    tops = {name.split(".")[0] for name in names}
    return all(top not in required and top not in sys.stdlib_module_names and top != "mpe_psn" for top in tops)


def uncommented_imports(files: "list[tuple[Path, str]] | None" = None) -> list[str]:
    """``file:line`` of each import inside a function that is neither of an optional dependency nor
    commented: a comment on its line, or on a comment line just above it (or just above the run of
    import lines it stands in, so one comment covers a block of imports)."""
    files = files if files is not None else package_files()
    required = required_modules()
    found = []
    for path, source in files:
        lines = source.splitlines()
        commented = {token.start[0] for token in tokenize.generate_tokens(io.StringIO(source).readline)
                     if token.type == tokenize.COMMENT and not _PRAGMA.match(token.string)}
        nodes = {node.lineno: node for function in ast.walk(ast.parse(source))
                 if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for node in ast.walk(function) if isinstance(node, (ast.Import, ast.ImportFrom))}
        ends = {node.end_lineno: node for node in nodes.values()}
        for line, node in sorted(nodes.items()):
            if _is_optional(node, required) or commented & set(range(line, node.end_lineno + 1)):
                continue
            above = line - 1
            while above in ends and above not in commented:  # the block's first import
                above = ends[above].lineno - 1
            if above >= 1 and above in commented and lines[above - 1].lstrip().startswith("#"):
                continue
            found.append(f"{path.relative_to(SRC)}:{line}: {lines[line - 1].strip()}")
    return found


def test_every_import_inside_a_function_is_optional_or_says_why():
    found = uncommented_imports()
    assert not found, ("imports inside functions, neither of an optional dependency nor commented (move them to the "
                       "top of the module, or say why they stay: start-up time, an import circle, ...):\n" + "\n".join(found))


def test_the_check_finds_an_uncommented_import_inside_a_function():
    source = (
        "import json\n"  # module level: not the check's business
        "\n"
        "\n"
        "def f():\n"
        "    import numpy as np\n"  # 5: a required dependency
        "    from mpe_psn.utils import atomic\n"  # 6: the package itself
        "    if np:  # a comment about the if, not the import\n"
        "        from . import plots\n"  # 8: relative, so the package
        "    import hashlib  # noqa: F401\n"  # 9: the standard library; a pragma says no why
        "    import nir\n"  # optional (the export extra): passes
        "    import spikingjelly.activation_based.neuron\n"  # optional: passes
        "\n"
        "\n"
        "def g():\n"
        "    import torch  # imported here: start-up time\n"
        "    # imported here: start-up time of the command line\n"
        "    import tqdm\n"
        "    from mpe_psn.data import (\n"  # a multi-line import in the commented block
        "        build_loader,\n"
        "    )\n"
        "    from mpe_psn.models import build_model\n"
        "\n"
        "    from mpe_psn.losses import total_loss\n"  # 23: a blank line ends the block
        "    return json, torch\n"
    )
    found = uncommented_imports([(SRC / "mpe_psn/analysis/example.py", source)])
    assert [entry.split(": ")[0] for entry in found] == [f"mpe_psn/analysis/example.py:{n}" for n in (5, 6, 8, 9, 23)], found
    assert {"numpy", "torch", "tqdm", "matplotlib"} <= required_modules()
