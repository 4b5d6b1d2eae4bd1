"""mkdocs hooks: the generated pages of the documentation site (see mkdocs.yml).

* ``commands/<name>.md``: one page per ``mpe-psn`` command, its ``--help`` text (and that of
  its sub-commands), taken from the parser of the installed package, so it never goes stale;
* ``api/<page>.md``: the API reference, ``:::`` directives that mkdocstrings fills from the
  docstrings. A module that is not part of this build (an optional package another part of
  the project has not added yet) is left out with a note, so the site still builds;
* pages of the nav that are optional (written by other parts of the project) and absent are
  dropped from the nav instead of breaking the strict build.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
from contextlib import redirect_stdout

from mkdocs.structure.files import File

#: (file under api/, title, intro, modules). Modules of OPTIONAL_PACKAGES that do not import are
#: left out; any other missing module fails the build.
API_PAGES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("mpe_psn.md", "mpe_psn", "The top-level package: the neurons and losses most users need.", ("mpe_psn",)),
    ("functional.md", "functional", "The math as pure functions: MPE-PSN reference, exact LIF, PSN, surrogates.",
     ("mpe_psn.functional.mpe", "mpe_psn.functional.lif", "mpe_psn.functional.psn", "mpe_psn.functional.surrogate")),
    ("neurons.md", "neurons and losses", "The `nn.Module` faces and the training losses.",
     ("mpe_psn.neurons", "mpe_psn.losses")),
    ("ops.md", "ops", "The fused MPE-PSN op and the dispatch between its backends.",
     ("mpe_psn.ops", "mpe_psn.ops.mpe.dispatch")),
    ("data.md", "data", "Datasets, readers, frames, cache and loaders. Loaders yield batch-major `[B, T, ...]`.",
     ("mpe_psn.data", "mpe_psn.data.frames", "mpe_psn.data.loaders", "mpe_psn.data.summary")),
    ("models.md", "models", "The paper's networks and the small net. Models take time-major `[T, B, ...]`.",
     ("mpe_psn.models", "mpe_psn.models.nets")),
    ("training.md", "training", "Configuration, the training loop, checkpoints and evaluation.",
     ("mpe_psn.training", "mpe_psn.training.config", "mpe_psn.training.checkpoint", "mpe_psn.training.evaluate")),
    ("analysis.md", "analysis", "The analyses of `mpe-psn analyze` as functions.",
     ("mpe_psn.analysis.fidelity", "mpe_psn.analysis.spike_rates", "mpe_psn.analysis.energy",
      "mpe_psn.analysis.landscape", "mpe_psn.analysis.refine")),
    ("bench.md", "bench", "Layer and network benchmarks.", ("mpe_psn.bench.layer", "mpe_psn.bench.net", "mpe_psn.bench.timing")),
    ("interop.md", "interop", "Conversion from and to SpikingJelly, snnTorch and Norse; Tonic as a source.", ("mpe_psn.interop",)),
    ("export.md", "export", "Leaving the library: NIR and ONNX.", ("mpe_psn.export",)),
)

#: Packages other parts of the project are adding; their API pages appear once they import.
OPTIONAL_PACKAGES = ("mpe_psn.interop", "mpe_psn.export")

#: Nav pages written by other parts of the project; dropped from the nav while absent.
OPTIONAL_PAGES = {"architecture.md", "convert.md", "deploy.md"}


def module_exists(name: str) -> bool:
    """True for a module of this build; False for an optional package that does not import yet."""
    if not name.startswith(OPTIONAL_PACKAGES):
        return True  # mkdocstrings reports a missing core module, which fails the build
    try:
        module = importlib.import_module(name)
    except Exception:  # noqa: BLE001 - a package being written may fail in any way
        return False
    return getattr(module, "__file__", None) is not None  # not a bare namespace folder


def api_page(title: str, intro: str, modules: tuple[str, ...]) -> str | None:
    present = [m for m in modules if module_exists(m)]
    if not present:
        return None
    lines = [f"# API: {title}", "", intro, ""]
    for module in present:
        lines += [f"## `{module}`", "", f"::: {module}", "    options:", "      heading_level: 3", ""]
    return "\n".join(lines)


def help_text(parser: argparse.ArgumentParser) -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: fix it for a stable page
    try:
        out = io.StringIO()
        with redirect_stdout(out):
            parser.print_help()
        return out.getvalue().rstrip()
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def sub_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps sub-commands here; there is no public accessor
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def command_pages() -> dict[str, str]:
    """``{command: markdown}`` for every command of ``mpe-psn``, from its parser."""
    from mpe_psn.commands import cli

    pages = {}
    for name, parser in sub_parsers(cli.build_parser()).items():
        lines = [f"# mpe-psn {name}", "", parser.description or "", "",
                 "Generated from the command's `--help` when the site is built.", "",
                 "```text", help_text(parser), "```", ""]
        for sub_name, sub in sub_parsers(parser).items():
            lines += [f"## mpe-psn {name} {sub_name}", "", "```text", help_text(sub), "```", ""]
        pages[name] = "\n".join(lines)
    return pages


def _prune(nav: list, docs_dir: str) -> list:
    kept = []
    for entry in nav:
        if isinstance(entry, dict):
            (title, value), = entry.items()
            if isinstance(value, list):
                value = _prune(value, docs_dir)
                if value:
                    kept.append({title: value})
                continue
            entry_path = value
        else:
            entry_path = entry
        if isinstance(entry_path, str) and entry_path in OPTIONAL_PAGES and not os.path.isfile(os.path.join(docs_dir, entry_path)):
            continue
        kept.append(entry)
    return kept


def on_config(config, **kwargs):
    commands = [{f"mpe-psn {name}": f"commands/{name}.md"} for name in command_pages()]
    api = [{title: f"api/{file}"} for file, title, intro, modules in API_PAGES if api_page(title, intro, modules)]
    for entry in config["nav"]:
        if isinstance(entry, dict) and "Commands" in entry:
            entry["Commands"] = commands
        if isinstance(entry, dict) and "API reference" in entry:
            entry["API reference"] = api
    config["nav"] = _prune(config["nav"], config["docs_dir"])
    return config


def on_files(files, config, **kwargs):
    for name, text in command_pages().items():
        files.append(File.generated(config, f"commands/{name}.md", content=text))
    for file, title, intro, modules in API_PAGES:
        text = api_page(title, intro, modules)
        if text is not None:
            files.append(File.generated(config, f"api/{file}", content=text))
    return files
