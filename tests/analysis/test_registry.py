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


def _analyze_parser():
    import argparse

    from mpe_psn.commands.cli import build_parser

    parser = build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["analyze"]


def test_the_command_offers_every_registered_analysis_and_its_options_exist(monkeypatch):
    assert _analyze_choices() == list(ANALYSES)
    from mpe_psn.analysis import registry

    extra = registry.Analysis("test-only", spike_rates, lambda runs, path: None, lambda runs: "",
                              (registry.SEED, registry.Option("gain", "a test-only option", 2.5, "positive_float")))
    monkeypatch.setitem(registry.ANALYSES, "test-only", extra)  # one entry: the command offers it and its flag
    assert _analyze_choices()[-1] == "test-only"
    help_text = _analyze_parser().format_help()
    assert "options of test-only:\n  --gain GAIN" in help_text and "a test-only option (default 2.5)" in help_text
    assert "options of fidelity, spike-rates, energy, landscape, neurobench, test-only:\n  --seed" in help_text
    for name, spec in ANALYSES.items():
        if name == "test-only":
            continue
        accepted = inspect.signature(spec.function).parameters
        assert {"max_batches", "progress", *spec.keywords} <= set(accepted), name
        for option in spec.options:  # the flag's default is the function's own, where the function has one
            if option.default is not None and accepted[option.keyword].default is not None:
                assert accepted[option.keyword].default == option.default, (name, option.keyword)


def test_the_command_passes_the_options_of_the_chosen_analysis_only(monkeypatch, tmp_path, capsys):
    from mpe_psn.commands import analyze

    calls = []
    monkeypatch.setattr("mpe_psn.analysis.runner.run_analysis", lambda *a, **kw: calls.append(kw) or 1 / 0)
    parser = _analyze_parser()
    args = parser.parse_args(["landscape", str(tmp_path), "--out", str(tmp_path / "o"), "--grid", "5"])
    assert analyze._options(args) == {"steps": 5, "span": 1.0, "lambda_mem": 0.0, "seed": 0}
    args = parser.parse_args(["refine", str(tmp_path), "--out", str(tmp_path / "o"), "--grid", "5"])
    assert analyze.run(args) == 2 and not calls
    assert "--grid is an option of landscape, not of 'refine'" in capsys.readouterr().err


def test_two_analyses_cannot_give_one_flag_two_meanings(monkeypatch):
    from mpe_psn.analysis import registry
    from mpe_psn.commands import analyze

    clash = registry.Analysis("clash", spike_rates, lambda runs, path: None, lambda runs: "",
                              (registry.Option("seed", "another seed", 7, "non_negative_int"),))
    monkeypatch.setitem(registry.ANALYSES, "clash", clash)
    with pytest.raises(ValueError, match=r"and 'clash' give --seed different meanings"):
        analyze.option_flags()


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
