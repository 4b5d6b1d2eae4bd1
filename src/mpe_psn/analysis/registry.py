"""Every analysis in one table: its function, its figure, its text table, its options.

An analysis function takes ``(model, batches, *, max_batches, progress, **options)`` and
returns a JSON-able dict; ``options`` are plain keyword arguments named in ``options`` here
(nothing else reaches the function). ``mpe-psn analyze`` and :func:`mpe_psn.analysis.runner.
run_analysis` look analyses up here, so adding one is one entry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence

from mpe_psn.analysis import plots, tables
from mpe_psn.analysis.deploy import deploy_gap, deploy_table, plot_deploy
from mpe_psn.analysis.energy import energy
from mpe_psn.analysis.fidelity import fidelity
from mpe_psn.analysis.landscape import loss_landscape, save_landscape_npz
from mpe_psn.analysis.neurobench import neurobench, plot_neurobench, require_neurobench
from mpe_psn.analysis.refine import refinement_dial
from mpe_psn.analysis.spike_rates import spike_rates

__all__ = ["Analysis", "ANALYSES", "get_analysis", "table"]

Run = tuple[str, str, dict]  # (label, neuron, result)


@dataclass(frozen=True)
class Analysis:
    """One analysis: ``function(model, batches, *, max_batches, progress, **options) -> dict``,
    ``plot(runs, path)`` (all runs in one figure), ``table(runs) -> str``."""

    name: str
    function: Callable[..., dict]
    plot: Callable[[Sequence[Run], "str | os.PathLike[str]"], None]
    table: Callable[[Sequence[Run]], str]
    options: tuple[str, ...] = ()
    #: batches used when the caller does not say (None: the whole split)
    default_max_batches: int | None = None
    #: per-run raw arrays written next to the JSON (landscape: the loss grid as .npz)
    save_arrays: Callable[["str | os.PathLike[str]", dict], None] | None = None
    #: called before any checkpoint is loaded; raises (ImportError) when an optional dependency is missing
    requires: Callable[[], object] | None = None

    def __call__(self, model, batches, *, max_batches: int | None = None, progress: bool = False, **options) -> dict:
        """Run the analysis; an option it does not take is a ``ValueError`` naming the accepted ones."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ValueError(f"analysis {self.name!r} does not take option(s) {unknown}; it takes {list(self.options)}")
        if max_batches is None:
            max_batches = self.default_max_batches
        return self.function(model, batches, max_batches=max_batches, progress=progress, **options)


ANALYSES: dict[str, Analysis] = {
    a.name: a
    for a in (
        Analysis("fidelity", fidelity, plots.plot_fidelity, tables.fidelity_table, ("estimator", "refine_steps", "seed")),
        Analysis("spike-rates", spike_rates, plots.plot_spike_rates, tables.spike_rates_table, ("seed",)),
        Analysis("energy", energy, plots.plot_energy, tables.energy_table, ("e_ac_pj", "e_mac_pj", "counting", "seed")),
        Analysis("landscape", loss_landscape, plots.plot_landscape, tables.landscape_table,
                 ("steps", "span", "lambda_mem", "seed"), default_max_batches=4, save_arrays=save_landscape_npz),
        Analysis("refine", refinement_dial, plots.plot_refinement, tables.refinement_table, ("steps", "repeats")),
        Analysis("deploy", deploy_gap, plot_deploy, deploy_table, ("seeds",)),
        Analysis("neurobench", neurobench, plot_neurobench, tables.neurobench_table, ("seed",),
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
