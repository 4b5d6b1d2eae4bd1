"""Presets: the paper's settings per dataset as JSON files a user can read, copy and edit.

``--preset NAME`` reads ``mpe_psn/presets/NAME.json``; ``--preset PATH`` reads any file of the
same form (a run folder's ``config.json`` is one too: it reruns that configuration in a new
run folder, since its ``name`` is dropped). A preset is a JSON object of config keys, plus an
optional ``"description"``. Explicit flags override it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mpe_psn.training.checkpoint import checkpoint_path, load_checkpoint
from mpe_psn.training.config import ConfigError, TrainConfig

__all__ = ["PRESET_DIR", "list_presets", "load_preset", "resolve_config"]

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"
_MAX_PRESET_BYTES = 1 << 20


def list_presets() -> dict[str, str]:
    """Built-in preset names and their descriptions."""
    out = {}
    for path in sorted(PRESET_DIR.glob("*.json")):
        try:
            out[path.stem] = str(json.loads(path.read_text(encoding="utf-8")).get("description", ""))
        except (OSError, ValueError):
            out[path.stem] = "(unreadable)"
    return out


def _preset_file(name_or_path: "str | os.PathLike[str]") -> Path:
    text = str(name_or_path)
    path = Path(text)
    if path.suffix == ".json" or os.sep in text or "/" in text or path.exists():
        if path.is_dir():
            hint = f"; pass {path / 'config.json'} to rerun that run" if (path / "config.json").is_file() else ""
            raise ConfigError(f"--preset {path} is a folder; expected a preset name or a JSON file{hint}")
        if not path.is_file():
            raise ConfigError(f"preset file {path} does not exist")
        return path
    builtin = PRESET_DIR / f"{text}.json"
    if not builtin.is_file():
        raise ConfigError(f"unknown preset {text!r}; built-in presets: {', '.join(list_presets())} (or give a path to a JSON file)")
    return builtin


def load_preset(name_or_path: "str | os.PathLike[str]") -> dict[str, Any]:
    """The config keys of a preset (name or file), checked; ``description`` dropped."""
    path = _preset_file(name_or_path)
    if path.stat().st_size > _MAX_PRESET_BYTES:
        raise ConfigError(f"preset file {path} is larger than 1 MiB; a preset is a small JSON object")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ConfigError(f"preset file {path} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}") from error
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read preset file {path}: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"preset file {path} must hold a JSON object of config keys, got {type(data).__name__}")
    data = {k: v for k, v in data.items() if k != "description"}
    if path.name == "config.json" and data.get("name") == path.parent.name:
        del data["name"]  # a run folder's own config: rerunning it makes a new run folder, not the same one
    TrainConfig.from_dict(data, source=str(path))  # unknown keys / bad values name the file
    return data


#: option dicts that flags merge into the preset's instead of replacing them
MERGED_KEYS = ("dataset_options", "model_options")


def resolve_config(preset: "str | os.PathLike[str] | None" = None, overrides: dict[str, Any] | None = None,
                   resume: "str | os.PathLike[str] | None" = None) -> TrainConfig:
    """Defaults < preset < overrides. Without a preset, the dataset's built-in preset applies if any.
    The option dicts (:data:`MERGED_KEYS`) merge key by key: ``--model-option hidden=128`` keeps
    the preset's depth. With ``resume`` (a run folder or checkpoint), the run's saved config takes
    the preset's place (and a preset is an error)."""
    overrides = dict(overrides or {})
    if resume is not None:
        return _resumed_config(resume, preset, overrides)
    unknown = [key for key in overrides if key not in TrainConfig.keys()]
    if unknown:
        TrainConfig.from_dict({unknown[0]: overrides[unknown[0]]}, source="command line")  # raises, naming the key
    if preset is None:
        dataset = overrides.get("dataset", TrainConfig.dataset)
        preset = dataset if isinstance(dataset, str) and (PRESET_DIR / f"{dataset}.json").is_file() else None
    values = load_preset(preset) if preset is not None else {}
    for key in MERGED_KEYS:  # a flag adds to (or changes one of) the preset's options, it does not drop the rest
        if isinstance(values.get(key), dict) and isinstance(overrides.get(key), dict):
            overrides[key] = {**values[key], **overrides[key]}
    values.update(overrides)
    return TrainConfig.from_dict(values, source=f"preset {preset} + command line" if preset is not None else "command line")


def _resumed_config(resume: "str | os.PathLike[str]", preset: "str | os.PathLike[str] | None",
                    overrides: dict[str, Any]) -> TrainConfig:
    saved = load_checkpoint(checkpoint_path(resume, prefer="last.pt"))["config"]
    if preset is not None:
        raise ConfigError("--resume continues a run with its saved settings; drop --preset (flags such as --epochs still apply)")
    return TrainConfig.from_dict({**saved, **overrides}, source=f"resumed config of {resume}")
