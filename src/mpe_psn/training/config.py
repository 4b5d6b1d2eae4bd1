"""The training configuration: a dataclass that round-trips through JSON and checks itself.

A config is data: it is read from JSON (a preset file, a run folder's ``config.json``) and
from command-line flags, never executed. Every error names the key and the accepted values.
Resolution order: field defaults < preset file < explicit flags.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from mpe_psn.errors import UsageError

__all__ = ["ConfigError", "TrainConfig", "MODEL_KEYS"]

#: Keys that define the network a checkpoint holds: they must match to load or resume it.
MODEL_KEYS = ("model", "neuron", "T", "input_size", "dataset", "model_options")


class ConfigError(UsageError):
    """A configuration that cannot be trained: unknown key or impossible value."""


@dataclass
class TrainConfig:
    """Everything that decides a training run (see docs/training.md for each key)."""

    # data
    dataset: str = "synthetic"
    data_dir: str | None = None
    dataset_options: dict = field(default_factory=dict)
    cache_dir: str | None = None
    augment: bool = False
    num_workers: int = 0
    # network
    model: str | None = None  # None: "small" for the built-in dataset (presets name the paper nets)
    neuron: str = "mpe"
    T: int | None = None  # None: the dataset's default
    input_size: int | None = None  # None: the dataset's frame size
    model_options: dict = field(default_factory=dict)  # the network's own options (mlp: hidden, depth, norm, dropout)
    # neuron
    tau: float = 0.25
    surrogate: str = "triangular"
    estimator: str = "bernoulli"
    # "bernoulli", as the net is trained, on a fixed evaluation seed (training.evaluate); the
    # expected estimator made the test accuracy of the README run drop by up to 23 points on
    # some CPUs while Bernoulli, refinement and the exact LIF stayed at 100 % (docs/results.md)
    eval_estimator: str = "bernoulli"
    refine_steps: int = 0
    kappa: str = "learned"
    backend: str = "auto"
    # optimisation
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "cosine"
    mixup: float = 0.0  # Beta(alpha, alpha) mixing; 0 = off
    mixup_prob: float = 0.5
    # losses
    lambda_mem: float = 0.01
    mem_loss_off_epoch: int | None = None  # L_mem is used in epochs [0, this); None = always
    tet_lamb: float = 1e-3
    tet_phi: float = 1.0
    mask_padding: bool = False  # loss and prediction over each sample's true length (zero-padded temporal data)
    # closing the deployment gap (training/finetune.py): the last finetune_epochs epochs as the exact LIF
    finetune_as: str | None = None  # None | "lif"
    finetune_epochs: int = 0
    # machinery
    device: str = "auto"
    amp: str = "off"  # off | auto | bf16 | fp16
    compile: bool = False
    log_fidelity: bool = False  # log MPE-PSN's estimate fidelity on one test batch every epoch (Fig. 3a)
    seed: int = 0
    out: str = "runs"
    name: str | None = None  # run folder name; None: dataset-model-neuron-time

    # ----------------------------------------------------------------------------------------
    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "TrainConfig":
        """Build and validate a config; ``source`` names where ``data`` came from in errors."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a config must be a JSON object of keys and values, got {type(data).__name__}")
        known = set(cls.keys())
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"{source}: unknown config key {key!r}{hint}; valid keys: {', '.join(sorted(known))}")
        config = cls(**data)
        config.validate(source)
        return config

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A validated copy with ``changes`` applied (keys checked like ``from_dict``)."""
        return type(self).from_dict({**self.to_dict(), **changes}, source="override")

    # ----------------------------------------------------------------------------------------
    def validate(self, source: str = "config") -> None:
        """Raise :class:`ConfigError` naming the first key whose value is impossible."""
        from mpe_psn.functional.checks import ESTIMATORS
        from mpe_psn.functional.surrogate import SURROGATES
        from mpe_psn.models import MODELS, NEURONS
        from mpe_psn.ops import BACKENDS
        from mpe_psn.utils.device import AMP_MODES

        def fail(key: str, expected: str) -> None:
            raise ConfigError(f"{source}: config key {key!r} must be {expected}, got {getattr(self, key)!r}")

        def check(key: str, ok: Callable[[Any], bool], expected: str) -> None:
            try:
                good = ok(getattr(self, key))
            except TypeError:
                good = False
            if not good:
                fail(key, expected)

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        def is_str(v: Any) -> bool:
            return isinstance(v, str) and v != ""

        def one_of(*choices: Any) -> Callable[[Any], bool]:
            return lambda v: v in choices

        from mpe_psn.data.registry import DATASETS, check_dataset_options

        check("dataset", lambda v: v in DATASETS, f"one of {list(DATASETS)}")
        check("data_dir", lambda v: v is None or is_str(v), "a folder path or null")
        check("dataset_options", lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v), "a JSON object of options")
        try:
            check_dataset_options(self.dataset, self.dataset_options)
        except ValueError as error:
            raise ConfigError(f"{source}: config key 'dataset_options' (--data-option): {error}") from None
        check("cache_dir", lambda v: v is None or is_str(v), "a folder path or null")
        check("augment", lambda v: isinstance(v, bool), "true or false")
        check("num_workers", lambda v: is_int(v) and v >= 0, "an int >= 0")
        check("model", lambda v: v is None or v in MODELS, f"one of {list(MODELS)} or null")
        check("neuron", one_of(*NEURONS), f"one of {list(NEURONS)}")
        check("T", lambda v: v is None or (is_int(v) and v >= 1), "a positive int or null")
        check("input_size", lambda v: v is None or (is_int(v) and v >= 1), "a positive int or null")
        check("model_options", lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v), "a JSON object of options")
        if self.model is not None and self.model_options:
            accepted = MODELS[self.model].options
            unknown = sorted(set(self.model_options) - set(accepted))
            if unknown:
                raise ConfigError(f"{source}: config key 'model_options': model {self.model!r} does not take {unknown}; "
                                  f"it accepts {list(accepted) or 'none'}")
        check("tau", lambda v: is_num(v) and 0.0 <= v <= 1.0, "a number in [0, 1]")
        check("surrogate", one_of(*SURROGATES), f"one of {list(SURROGATES)}")
        check("estimator", one_of(*ESTIMATORS), f"one of {list(ESTIMATORS)}")
        check("eval_estimator", one_of(*ESTIMATORS), f"one of {list(ESTIMATORS)}")
        check("refine_steps", lambda v: is_int(v) and v >= 0, "an int >= 0")
        check("kappa", one_of("learned", "uniform"), "'learned' or 'uniform'")
        check("backend", one_of(*BACKENDS), f"one of {list(BACKENDS)}")
        check("epochs", lambda v: is_int(v) and v >= 1, "a positive int")
        check("batch_size", lambda v: is_int(v) and v >= 1, "a positive int")
        check("optimizer", one_of("sgd", "adam", "adamw"), "one of ['sgd', 'adam', 'adamw']")
        check("lr", lambda v: is_num(v) and v > 0, "a positive number")
        check("momentum", lambda v: is_num(v) and 0.0 <= v < 1.0, "a number in [0, 1)")
        check("nesterov", lambda v: isinstance(v, bool), "true or false")
        check("weight_decay", lambda v: is_num(v) and v >= 0, "a number >= 0")
        check("schedule", one_of("cosine", "constant"), "'cosine' or 'constant'")
        check("mixup", lambda v: is_num(v) and v >= 0, "a number >= 0 (the Beta(alpha, alpha) parameter; 0 = off)")
        check("mixup_prob", lambda v: is_num(v) and 0.0 <= v <= 1.0, "a number in [0, 1]")
        check("lambda_mem", lambda v: is_num(v) and 0.0 <= v <= 1.0, "a number in [0, 1]")
        check("mem_loss_off_epoch", lambda v: v is None or (is_int(v) and v >= 0), "an int >= 0 or null")
        check("tet_lamb", lambda v: is_num(v) and 0.0 <= v <= 1.0, "a number in [0, 1]")
        check("tet_phi", is_num, "a number")
        check("mask_padding", lambda v: isinstance(v, bool), "true or false")
        from mpe_psn.training.finetune import finetune_error

        bad = finetune_error(self.finetune_as, self.finetune_epochs, self.epochs, self.neuron)
        if bad is not None:
            fail(*bad)
        check("device", lambda v: v in ("auto", "cpu", "cuda") or (isinstance(v, str) and v.startswith("cuda:") and v[5:].isdigit()),
              "'auto', 'cpu', 'cuda' or 'cuda:N'")
        check("amp", one_of(*AMP_MODES), f"one of {list(AMP_MODES)}")
        check("compile", lambda v: isinstance(v, bool), "true or false")
        check("log_fidelity", lambda v: isinstance(v, bool), "true or false")
        check("seed", lambda v: is_int(v) and v >= 0, "an int >= 0")
        check("out", is_str, "a folder path")
        check("name", lambda v: v is None or (is_str(v) and "/" not in v and "\\" not in v and v not in (".", "..")),
              "a folder name without slashes, or null")
        if self.model == "dvsgesture-net" and self.input_size is not None and self.input_size < 32:
            fail("input_size", "at least 32 for the DVS-Gesture net (five 2x poolings)")

    # ----------------------------------------------------------------------------------------
    def neuron_options(self) -> dict[str, Any]:
        """Constructor options for this config's neuron (MPE-PSN knobs only go to MPE-PSN)."""
        if self.neuron == "mpe":
            return {
                "tau": self.tau, "surrogate": self.surrogate, "estimator": self.estimator,
                "eval_estimator": self.eval_estimator, "refine_steps": self.refine_steps,
                "kappa": self.kappa, "backend": self.backend,
            }
        if self.neuron == "lif":
            return {"tau": self.tau, "surrogate": self.surrogate}
        if self.neuron == "psn":
            return {"surrogate": self.surrogate}
        return {"tau": self.tau}
