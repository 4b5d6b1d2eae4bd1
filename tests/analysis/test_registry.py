"""The analysis registry: one entry per analysis, plain keyword options, clear errors."""

from __future__ import annotations

import inspect

import pytest

from mpe_psn.analysis.registry import ANALYSES, get_analysis
from mpe_psn.analysis.spike_rates import spike_rates


def _analyze_choices() -> list[str]:
    """The analyses ``mpe-psn analyze`` accepts, read from its parser."""
    import argparse

    from mpe_psn.commands.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["analyze"]
    return list(next(a for a in sub._actions if a.dest == "analysis").choices)


def test_the_command_offers_every_registered_analysis_and_its_options_exist(monkeypatch):
    assert _analyze_choices() == list(ANALYSES)
    from mpe_psn.analysis import registry

    extra = registry.Analysis("test-only", spike_rates, lambda runs, path: None, lambda runs: "", ("seed",))
    monkeypatch.setitem(registry.ANALYSES, "test-only", extra)  # one entry: the command offers it
    assert _analyze_choices()[-1] == "test-only"
    for name, spec in ANALYSES.items():
        accepted = set(inspect.signature(spec.function).parameters)
        assert {"max_batches", "progress", *spec.options} <= accepted, name


def test_an_entry_runs_its_function_with_plain_keywords(tiny_mpe, batches):
    got = get_analysis("spike-rates")(tiny_mpe, batches, max_batches=2)
    assert got == spike_rates(tiny_mpe, batches, max_batches=2)
    assert get_analysis("landscape").default_max_batches == 4


def test_unknown_analysis_and_option_are_named(tiny_mpe, batches):
    with pytest.raises(ValueError, match=r"unknown analysis 'rates'; choose one of \['fidelity', 'spike-rates'"):
        get_analysis("rates")
    with pytest.raises(ValueError, match=r"analysis 'spike-rates' does not take option\(s\) \['grid'\]; it takes \['seed'\]"):
        get_analysis("spike-rates")(tiny_mpe, batches, grid=1)


def test_run_analysis_checks_its_keywords_before_loading_anything(tmp_path):
    from mpe_psn.analysis.runner import AnalysisError, run_analysis

    with pytest.raises(AnalysisError, match=r"'energy' does not take option\(s\) \['grid'\]"):
        run_analysis("energy", [tmp_path / "missing.pt"], tmp_path / "out", grid=3)
    with pytest.raises(AnalysisError, match="unknown analysis 'energies'"):
        run_analysis("energies", [tmp_path / "missing.pt"], tmp_path / "out")
    assert not (tmp_path / "out").exists()
