"""The training configuration: five sections (data, model, neuron, optimisation, run) that
round-trip through JSON and check themselves.

A config is data: it is read from JSON (a preset file, a run folder's ``config.json``) and
from command-line flags, never executed. Every error names the key and the accepted values.
Resolution order: field defaults < preset file < explicit flags.

Each key is one field of its section, made with :func:`~mpe_psn.training.config_fields.setting`
(default, help, check, choices); ``mpe-psn train`` makes its flags from these fields, so a new key
is one field here and nothing else. :class:`TrainConfig` is all five sections in one flat
dataclass (it inherits their fields): ``config.lr``, ``TrainConfig(neuron="lif")`` and the saved
JSON stay flat, as in every earlier version, while each section still checks its own keys.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any, ClassVar

from mpe_psn.data.registry import DATASETS, check_dataset_options
from mpe_psn.functional.checks import ESTIMATORS
from mpe_psn.functional.surrogate import SURROGATES
from mpe_psn.models import MODELS, NEURONS
from mpe_psn.ops import registry as backends
from mpe_psn.training.config_fields import (
    BOOL, FRACTION, INT_AT_LEAST_0, NUMBER, NUMBER_AT_LEAST_0, OPTIONS, PATH, POSITIVE_INT, POSITIVE_NUMBER, Check,
    ConfigError, Section, nullable, setting,
)
from mpe_psn.training.finetune import FINETUNE_TARGETS, finetune_error
from mpe_psn.utils.device import AMP_MODES

__all__ = ["COMPILE_MODES", "ConfigError", "DataSection", "ModelSection", "NeuronSection", "OptimisationSection",
           "RunSection", "TrainConfig", "MODEL_KEYS", "compile_mode"]

#: Keys that define the network a checkpoint holds: they must match to load or resume it.
MODEL_KEYS = ("model", "neuron", "T", "input_size", "dataset", "model_options")


_DEVICE = Check(lambda v: v in ("auto", "cpu", "cuda") or (isinstance(v, str) and v.startswith("cuda:") and v[5:].isdigit()),
                "'auto', 'cpu', 'cuda' or 'cuda:N'")
_RUN_NAME = Check(lambda v: v is None or (PATH(v) and "/" not in v and "\\" not in v and v not in (".", "..")),
                  "a folder name without slashes (the folder goes in --out), or null")


@dataclass
class DataSection(Section):
    """What the network learns from (docs/datasets.md)."""

    title: ClassVar[str] = "data"

    dataset: str = setting("synthetic", "the dataset (synthetic is built in; see docs/datasets.md)", choices=DATASETS)
    data_dir: str | None = setting(None, "folder with your copy of the dataset", nullable(PATH), arg_type="existing_dir")
    dataset_options: dict = setting({}, "dataset option, e.g. num_train=500 for the built-in dataset (repeatable)", OPTIONS,
                                    flag=("--data-option",), metavar="KEY=VALUE")
    cache_dir: str | None = setting(None, "frame cache folder ($MPE_PSN_CACHE or ~/.cache/mpe-psn)", nullable(PATH),
                                    arg_type="folder_path")
    augment: bool = setting(False, "training augmentation", BOOL)
    num_workers: int = setting(0, "data loader worker processes", INT_AT_LEAST_0)

    @classmethod
    def check_together(cls, values: Any, source: str) -> None:
        try:
            check_dataset_options(values.dataset, values.dataset_options)
        except ValueError as error:
            raise ConfigError(f"{source}: config key 'dataset_options' (--data-option): {error}") from None


@dataclass
class ModelSection(Section):
    """The network: which one, built of which neuron, over how many steps."""

    title: ClassVar[str] = "model"

    model: str | None = setting(None, "the network (default: the dataset's; the built-in dataset's is small)",
                                choices=MODELS)
    neuron: str = setting("mpe", "the spiking neuron (mpe: MPE-PSN; lif: the exact sequential LIF; sj-lif: "
                                 "SpikingJelly's; snntorch: snnTorch's Leaky)", choices=NEURONS)
    T: int | None = setting(None, "time steps (default: the dataset's)", nullable(POSITIVE_INT), flag=("-T",))
    input_size: int | None = setting(None, "frame side in pixels (default: the dataset's)", nullable(POSITIVE_INT))
    model_options: dict = setting({}, "network option, e.g. hidden=512 or depth=3 for the mlp (repeatable)", OPTIONS,
                                  flag=("--model-option",), metavar="KEY=VALUE")

    @classmethod
    def check_together(cls, values: Any, source: str) -> None:
        if values.model is not None and values.model_options:
            accepted = MODELS[values.model].options
            unknown = sorted(set(values.model_options) - set(accepted))
            if unknown:
                raise ConfigError(f"{source}: config key 'model_options': model {values.model!r} does not take {unknown}; "
                                  f"it accepts {list(accepted) or 'none'}")
        if values.model == "dvsgesture-net" and values.input_size is not None and values.input_size < 32:
            raise ConfigError(f"{source}: config key 'input_size' must be at least 32 for the DVS-Gesture net "
                              f"(five 2x poolings), got {values.input_size!r}")


@dataclass
class NeuronSection(Section):
    """The neuron's settings (the MPE-PSN knobs reach MPE-PSN layers only).

    :meth:`TrainConfig.neuron_options` picks the ones the configured neuron takes.
    """

    title: ClassVar[str] = "neuron"

    tau: float = setting(0.25, "decay factor in [0, 1] (docs/training.md, 'What tau means')", FRACTION)
    surrogate: str = setting("triangular", "surrogate gradient of the spike", choices=SURROGATES)
    estimator: str = setting("bernoulli", "MPE-PSN's training estimator: bernoulli (the paper's) or expected",
                             choices=ESTIMATORS)
    # "bernoulli", as the net is trained, on a fixed evaluation seed (training.evaluate); the
    # expected estimator made the test accuracy of the README run drop by up to 23 points on
    # some CPUs while Bernoulli, refinement and the exact LIF stayed at 100 % (docs/results.md)
    eval_estimator: str = setting("bernoulli", "MPE-PSN's estimator at test time: bernoulli (on a fixed seed, so runs "
                                               "repeat) or expected", choices=ESTIMATORS)
    refine_steps: int = setting(0, "MPE-PSN's extra correction passes (T-1 = exact LIF)", INT_AT_LEAST_0)
    kappa: str = setting("learned", "L_mem step weights", choices=("learned", "uniform"))
    backend: str = setting("auto", "MPE-PSN kernel", choices=lambda: backends.choices("mpe"))


@dataclass
class OptimisationSection(Section):
    """How the weights are learnt: epochs, batch, optimiser and schedule, the losses, fine-tuning."""

    title: ClassVar[str] = "optimisation"

    epochs: int = setting(10, "epochs", POSITIVE_INT)
    batch_size: int = setting(32, "global batch (split over processes)", POSITIVE_INT)
    optimizer: str = setting("adam", "optimiser", choices=("sgd", "adam", "adamw"))
    lr: float = setting(1e-3, "learning rate", POSITIVE_NUMBER)
    momentum: float = setting(0.9, "SGD momentum", Check(lambda v: NUMBER(v) and 0.0 <= v < 1.0, "a number in [0, 1)"))
    nesterov: bool = setting(False, "SGD with Nesterov momentum", BOOL)
    weight_decay: float = setting(0.0, "weight decay of weight matrices and kernels", NUMBER_AT_LEAST_0)
    schedule: str = setting("cosine", "learning-rate schedule: cosine (over epochs) or constant",
                            choices=("cosine", "constant"))
    mixup: float = setting(0.0, "mixup Beta(alpha, alpha); 0 = off", Check(
        NUMBER_AT_LEAST_0, "a number >= 0 (the Beta(alpha, alpha) parameter; 0 = off)"))
    mixup_prob: float = setting(0.5, "probability of mixup per batch", FRACTION)
    lambda_mem: float = setting(0.01, "weight of the membrane loss L_mem (0 = off)", FRACTION)
    mem_loss_off_epoch: int | None = setting(None, "L_mem is used for epochs before this one (none = always)",
                                             nullable(INT_AT_LEAST_0), null_words=("none", "null", "never"))
    tet_lamb: float = setting(1e-3, "weight of TET's MSE regulariser", FRACTION)
    tet_phi: float = setting(1.0, "target of TET's MSE regulariser", NUMBER)
    mask_padding: bool = setting(False, "loss and prediction over each sample's true length (zero-padded temporal "
                                        "data such as SHD)", BOOL)
    # closing the deployment gap (training/finetune.py): the last finetune_epochs epochs as the exact LIF
    finetune_as: str | None = setting(None, "train the last --finetune-epochs epochs as this exact neuron (closes the "
                                            "deployment gap)", choices=FINETUNE_TARGETS, metavar="NEURON")
    finetune_epochs: int = setting(0, "how many of the last --epochs to fine-tune (with --finetune-as)", INT_AT_LEAST_0)


#: The values of ``--compile`` / the config key ``compile``: off (eager) or a ``torch.compile`` mode.
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")
#: configs saved before the modes hold true or false there (default and off): they load unchanged
_COMPILE = Check(lambda v: isinstance(v, bool) or v in COMPILE_MODES, f"one of {list(COMPILE_MODES)} (or true/false)")


def compile_mode(value: "str | bool") -> str:
    """The mode of the config value ``compile``: true and false (older configs) are default and off."""
    if isinstance(value, bool):
        return "default" if value else "off"
    return value


@dataclass
class RunSection(Section):
    """Where and how the run happens: device, precision, seed, the run folder."""

    title: ClassVar[str] = "run"

    device: str = setting("auto", "auto, cpu, cuda, cuda:N", _DEVICE, arg_type="device")
    amp: str = setting("off", "mixed precision: auto (bf16 on CPU; bf16 or fp16 on CUDA), bf16, fp16, off",
                       choices=AMP_MODES, const="auto")
    compile: str | bool = setting("off", "torch.compile the training network in this mode (--compile alone: default; "
                                         "reduce-overhead: CUDA graphs, CUDA only)", _COMPILE, choices=COMPILE_MODES,
                                  const="default", metavar="MODE")
    log_fidelity: bool = setting(False, "log the estimate's distance to the exact LIF on one test batch each epoch "
                                        "(plot it with `mpe-psn analyze fidelity --train RUN`)", BOOL)
    seed: int = setting(0, "run seed", INT_AT_LEAST_0)
    out: str = setting("runs", "parent folder of run folders", PATH, arg_type="folder_path")
    name: str | None = setting(None, "run folder name (default: dataset-model-neuron-time)", _RUN_NAME)


@dataclass
class TrainConfig(DataSection, ModelSection, NeuronSection, OptimisationSection, RunSection):
    """Everything that decides a training run (see docs/training.md for each key).

    The keys of its five :data:`SECTIONS`, read flat: ``config.lr``, ``config.neuron``. It
    inherits their fields rather than holding five section objects, so that every key is a real
    attribute (no ``__getattr__`` forwarding, type checkers see it) and the saved JSON keeps the
    flat form of earlier versions; a section is still the place its keys are declared and checked.
    """

    SECTIONS: ClassVar[tuple[type[Section], ...]] = (DataSection, ModelSection, NeuronSection, OptimisationSection,
                                                     RunSection)

    # ----------------------------------------------------------------------------------------
    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """Every config key, section by section."""
        return tuple(f.name for section in cls.SECTIONS for f in section.settings())

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
        values = dataclasses.asdict(self)
        return {key: values[key] for key in self.keys()}

    def replace(self, **changes: Any) -> "TrainConfig":
        """A validated copy with ``changes`` applied (keys checked like ``from_dict``)."""
        return type(self).from_dict({**self.to_dict(), **changes}, source="override")

    # ----------------------------------------------------------------------------------------
    @classmethod
    def check(cls, values: Any, source: str = "config") -> None:
        """Each section checks its keys, then the rules across sections (fine-tuning needs an
        MPE-PSN network and at most ``epochs`` epochs)."""
        for section in cls.SECTIONS:
            section.check(values, source)
        bad = finetune_error(values.finetune_as, values.finetune_epochs, values.epochs, values.neuron)
        if bad is not None:
            key, expected = bad
            raise ConfigError(f"{source}: config key {key!r} must be {expected}, got {getattr(values, key)!r}")

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
            return {"tau": self.tau, "surrogate": self.surrogate, "backend": self.backend}
        if self.neuron == "psn":
            return {"surrogate": self.surrogate}
        return {"tau": self.tau}
