"""Every analysis in one table: its function, its figure, its text table, its options.

An analysis function takes ``(model, batches, *, max_batches, progress, **options)`` and
returns a JSON-able dict; ``options`` are plain keyword arguments, each an :class:`Option`
here (nothing else reaches the function). ``mpe-psn analyze`` and
:func:`mpe_psn.analysis.runner.run_analysis` look analyses up here, and the command makes one
flag per option from these records, so adding an analysis is one entry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from mpe_psn.analysis import plots, tables
from mpe_psn.analysis.deploy import deploy_gap, deploy_table, plot_deploy
from mpe_psn.analysis.energy import COUNTING_RULES, E_AC_PJ, E_MAC_PJ, energy
from mpe_psn.analysis.fidelity import fidelity
from mpe_psn.analysis.landscape import loss_landscape, save_landscape_npz
from mpe_psn.analysis.neurobench import neurobench, plot_neurobench, require_neurobench
from mpe_psn.analysis.refine import refinement_dial
from mpe_psn.analysis.spike_rates import spike_rates
from mpe_psn.functional.checks import ESTIMATORS

__all__ = ["Analysis", "ANALYSES", "Option", "get_analysis", "table"]

Run = tuple[str, str, dict]  # (label, neuron, result)


@dataclass(frozen=True)
class Option:
    """One keyword option of an analysis function and the flag of ``mpe-psn analyze`` that sets
    it: ``flag`` (default ``--<keyword with dashes>``), the name of its argument converter in
    ``mpe_psn.commands.args`` (``arg_type``) or its ``choices``, its default (``None``: the
    function's own, as the help says) and help. Analyses that share a flag share one record."""

    keyword: str
    help: str
    default: Any = None
    arg_type: str | None = None
    choices: tuple[str, ...] | None = None
    flag: str | None = None

    @property
    def option_string(self) -> str:
        return self.flag or "--" + self.keyword.replace("_", "-")

    @property
    def dest(self) -> str:
        return self.option_string.lstrip("-").replace("-", "_")


SEED = Option("seed", "seed of the random directions and Bernoulli samples (the same seed gives the same spikes)", 0,
              "non_negative_int")


@dataclass(frozen=True)
class Analysis:
    """One analysis: ``function(model, batches, *, max_batches, progress, **options) -> dict``,
    ``plot(runs, path)`` (all runs in one figure), ``table(runs) -> str``."""

    name: str
    function: Callable[..., dict]
    plot: Callable[[Sequence[Run], "str | os.PathLike[str]"], None]
    table: Callable[[Sequence[Run]], str]
    options: tuple[Option, ...] = ()
    #: batches used when the caller does not say (None: the whole split)
    default_max_batches: int | None = None
    #: per-run raw arrays written next to the JSON (landscape: the loss grid as .npz)
    save_arrays: Callable[["str | os.PathLike[str]", dict], None] | None = None
    #: called before any checkpoint is loaded; raises (ImportError) when an optional dependency is missing
    requires: Callable[[], object] | None = None

    @property
    def keywords(self) -> tuple[str, ...]:
        return tuple(option.keyword for option in self.options)

    def check_options(self, options: dict[str, Any]) -> None:
        """A ``ValueError`` naming the options this analysis does not take, and those it does."""
        unknown = sorted(set(options) - set(self.keywords))
        if unknown:
            raise ValueError(f"analysis {self.name!r} does not take option(s) {unknown}; it takes {list(self.keywords)}")

    def __call__(self, model, batches, *, max_batches: int | None = None, progress: bool = False, **options) -> dict:
        """Run the analysis; an option it does not take is a ``ValueError`` naming the accepted ones."""
        self.check_options(options)
        if max_batches is None:
            max_batches = self.default_max_batches
        return self.function(model, batches, max_batches=max_batches, progress=progress, **options)


ANALYSES: dict[str, Analysis] = {
    a.name: a
    for a in (
        Analysis("fidelity", fidelity, plots.plot_fidelity, tables.fidelity_table, (
            Option("estimator", "estimator of the estimate (default: each layer's eval estimator)", choices=ESTIMATORS),
            Option("refine_steps", "refinement passes for the corrected potential (default: each layer's own)",
                   arg_type="non_negative_int"),
            SEED)),
        Analysis("spike-rates", spike_rates, plots.plot_spike_rates, tables.spike_rates_table, (SEED,)),
        Analysis("energy", energy, plots.plot_energy, tables.energy_table, (
            Option("e_ac_pj", "energy of one accumulate, pJ (45 nm)", E_AC_PJ, "positive_float"),
            Option("e_mac_pj", "energy of one multiply-accumulate, pJ (45 nm)", E_MAC_PJ, "positive_float"),
            Option("counting", "operation counting rule: dense (first layer dense MACs, ACs on non-zero inputs after "
                               "the first spiking layer) or effective (NeuroBench's: non-zero inputs and weights only, "
                               "AC iff the inputs are all 0/1); see docs/analyses.md", "dense", choices=COUNTING_RULES),
            SEED)),
        Analysis("landscape", loss_landscape, plots.plot_landscape, tables.landscape_table, (
            Option("steps", "grid points per axis, at least 2", 11, "grid_points", flag="--grid"),
            Option("span", "the grid covers [-span, span]", 1.0, "positive_float"),
            Option("lambda_mem", "weight of L_mem in the plotted loss (0: the classification loss)", 0.0, "fraction"),
            SEED), default_max_batches=4, save_arrays=save_landscape_npz),
        Analysis("refine", refinement_dial, plots.plot_refinement, tables.refinement_table, (
            Option("steps", "refinement passes to compare, e.g. 0,1,2,4,7 (default 0,1,2,4,T-1)", arg_type="int_list"),
            Option("repeats", "timed passes per setting; the fastest counts", 3, "positive_int"))),
        Analysis("deploy", deploy_gap, plot_deploy, deploy_table, (
            Option("seeds", "Bernoulli runs (seeds 0..N-1) for the deployment gap", 5, "positive_int"),)),
        Analysis("neurobench", neurobench, plot_neurobench, tables.neurobench_table, (SEED,),
                 requires=require_neurobench),
    )
}


def get_analysis(name: str) -> Analysis:
    """The analysis called ``name``; an unknown name is a ``ValueError`` listing the known ones."""
    try:
        return ANALYSES[name]
    except KeyError:
        raise ValueError(f"unknown analysis {name!r}; choose one of {list(ANALYSES)}") from None


def table(analysis: str, runs: Sequence[Run]) -> str:
    """A table of the headline numbers of ``runs`` (``(label, neuron, result)``) of ``analysis``."""
    return get_analysis(analysis).table(runs)
