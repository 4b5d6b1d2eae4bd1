"""`mpe-psn bench open`: every library on one tiny grid, the spike-count cross-check, the outputs."""

import json

import pytest

from mpe_psn.bench.open_bench import OpenGrid, cross_check, open_markdown, run_open_bench
from mpe_psn.commands.cli import main

pytest.importorskip("spikingjelly.activation_based.neuron")
pytest.importorskip("snntorch")
pytest.importorskip("norse.torch")


def test_every_exact_lif_gives_the_same_spikes_on_the_same_input():
    result = run_open_bench(OpenGrid(T=12, ns=(48,), batch=4, repeats=1, warmup=0), progress=False)
    rows = {r["library"]: r for r in result["rows"]}
    assert {"mpe-fused", "mpe-plain", "mpe-lif", "sj-lif-torch", "sj-psn", "snntorch", "norse"} <= set(rows)
    assert all(r["status"] == "ok" and r["ms"] > 0 for r in rows.values())
    exact = {rows[k]["spikes"] for k in ("mpe-lif", "sj-lif-torch", "snntorch", "norse")}
    assert len(exact) == 1 and 0.05 < rows["mpe-lif"]["rate"] < 0.95
    assert "norse-compiled" in result["meta"]["skipped"]  # not compiled on a CPU by default
    table = open_markdown(result)
    assert "| sj-lif-torch |" in table and "Cross-check passed" in table


def test_cross_check_fails_loudly_when_an_exact_lif_disagrees():
    rows = [
        {"library": "mpe-lif", "kind": "exact", "n": 8, "status": "ok", "spikes": 100},
        {"library": "snntorch", "kind": "exact", "n": 8, "status": "ok", "spikes": 101},
    ]
    with pytest.raises(RuntimeError, match=r"n = 8: the exact LIFs disagree.*'snntorch': 101"):
        cross_check(rows)
    rows[1]["spikes"] = 100
    rows.append({"library": "norse", "kind": "rounding", "n": 8, "status": "ok", "spikes": 90})
    with pytest.raises(RuntimeError, match="norse gives 90 spikes, the exact LIFs 100"):
        cross_check(rows)
    rows[2]["spikes"] = 100
    cross_check(rows)  # all agree: no error


def test_unknown_library_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown library 'brian2'"):
        run_open_bench(OpenGrid(T=2, ns=(4,), libraries=("brian2",)), progress=False)


def test_bench_open_command_writes_json_markdown_and_png(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["bench", "open", "-T", "6", "--n", "16", "--batch", "2", "--libraries", "mpe-fused", "mpe-lif",
                 "snntorch", "--repeats", "1", "--warmup", "0", "--device", "cpu", "--no-progress", "--out", str(out)])
    assert code == 0
    data = json.loads((out / "open.json").read_text())
    assert [r["library"] for r in data["rows"]] == ["mpe-fused", "mpe-lif", "snntorch"]
    assert (out / "open.png").stat().st_size > 0 and "| mpe-lif |" in (out / "open.md").read_text()
    assert "wrote" in capsys.readouterr().out
