"""Imports point one way (docs/architecture.md): a test that fails when one goes the wrong way.

Every module under src/mpe_psn is parsed (``ast``, so imports inside functions count too, and
nothing is imported to find out); each ``mpe_psn`` import is checked against the table of
allowed rooms below, which is the drawing of docs/architecture.md written as data.
"""

from __future__ import annotations

import ast
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
    "face": BASE | MATH | {"models", "data", "training", "analysis", "bench", "export", "interop", "face"},
}

#: (importing module, imported module) pairs allowed for now, each with the reason.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def room(module: str) -> str:
    """The room of a module: ``face`` for the command line and the package's front door."""
    parts = module.split(".")
    if module in ("mpe_psn", "mpe_psn.cli", "mpe_psn.__main__", "mpe_psn.utils.cli_args") or parts[-1].endswith("_command"):
        return "face"
    return parts[1]


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
    if importer == "mpe_psn.__main__" and imported == "mpe_psn.cli":
        return None  # ``python -m mpe_psn`` is the command line itself
    if imported == "mpe_psn.cli" or imported.rpartition(".")[2].endswith("_command"):
        return "nothing imports the command line (cli.py loads the commands by name)"
    source, target = room(importer), room(imported)
    if source == target:
        return None
    if target not in ALLOWED[source]:
        return f"{source}/ may import {sorted(ALLOWED[source]) or 'nothing of mpe_psn'}, not {target}"
    return None


def violations(files: "list[tuple[Path, str]] | None" = None) -> list[str]:
    files = files if files is not None else [(p, p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))]
    found = []
    for path, source in files:
        importer = module_name(path)
        for line, imported in imported_modules(source, importer, path.name == "__init__.py"):
            reason = wrong_way(importer, imported)
            if reason and (importer, imported) not in KNOWN_EXCEPTIONS:
                found.append(f"{path.relative_to(SRC)}:{line}: {importer} imports {imported}: {reason}")
    return found


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
        ("mpe_psn/training/report.py", "from mpe_psn.cli import main\n", "nothing imports the command line"),
        ("mpe_psn/analysis/runner.py", "from mpe_psn.training import train_command\n", "nothing imports the command line"),
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
        ("mpe_psn/cli.py", "from mpe_psn import __version__\n"),
    ],
)
def test_the_check_lets_a_downward_import_pass(path, source):
    assert violations([(SRC / path, source)]) == []
