"""Every number of docs/results.md, the demo table of docs/neuron.md and the figure pages, from
the current code, with one command.

    python scripts/make_docs_numbers.py                  # everything, into docs-numbers/ (untracked)
    python scripts/make_docs_numbers.py --write-docs     # the same, then update the docs in place
    python scripts/make_docs_numbers.py --check          # drift of every number against the docs' machine
    python scripts/make_docs_numbers.py --invariants --only dataset readme demo spike-rates   # what CI runs

Each section runs the ``mpe-psn`` commands its page documents (in a fresh work folder, with
its own dataset cache), reads what they wrote (``metrics.jsonl``, the analyses' JSON, ``eval
--json``) and renders markdown blocks. A docs page holds each block between the markers
``<!-- numbers:NAME -->`` and ``<!-- /numbers:NAME -->``.

* Without ``--write-docs`` nothing under docs/ changes: blocks go to ``OUT/blocks/NAME.md``,
  the pages with their blocks replaced to ``OUT/pages/``, figures and JSON to ``OUT/figures/``.
* ``--write-docs`` also replaces the blocks in docs/ and copies the figures to docs/figures/.
* ``--check`` compares the blocks it made with those in docs/ and prints the drift of every
  number against the machine line the docs hold; it exits 1 beyond a block's tolerance. Trained
  numbers are chaotic (another CPU trains another net), so this is for whoever regenerates the
  docs on their machine, not for CI.
* ``--invariants`` is what CI runs on any machine: the blocks with no training in them (the
  demo's math, dataset statistics) must match the docs character for character, the others
  their text with numbers masked, and each section's invariants must hold (the README run ends
  above 90 % test accuracy, spike rates lie strictly between 0 and 1, ...): see ``Section``.
* ``--smoke`` shrinks every budget (1 epoch, 32 samples, ...) to test this script itself; its
  numbers mean nothing, so it refuses ``--write-docs`` and ``--check``.

The README command (``mpe-psn train``) is run exactly as written, in the work folder; its run
folder is then linked as ``runs/mpe`` (``--name mpe`` would only rename the folder).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
MARKER = ".made-by-make_docs_numbers"
SMOKE_TRAIN = ["--epochs", "1", "--data-option", "num_train=32", "--data-option", "num_test=32"]
BLOCK = re.compile(r"<!-- numbers:(?P<name>[\w.-]+) -->\n(?P<body>.*?)<!-- /numbers:(?P=name) -->", re.S)
NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")
#: Figure and data files the pages show; copied to docs/figures by --write-docs.
FIGURE_FILES = ("fidelity.png", "fidelity.json", "fidelity-training.png", "fidelity-training.json",
                "spike-rates.png", "spike-rates.json", "energy.png", "energy.json", "landscape.png",
                "landscape.json", "landscape-mpe.npz", "landscape-lif.npz", "refine.png", "refine.json",
                "training-neurons-400.png")


# ------------------------------------------------------------------------------------------- runs

@dataclass
class Work:
    """The work folder: runs/, the dataset cache, command logs; ``figures`` collects the output."""

    root: Path
    figures: Path
    smoke: bool
    keep_runs: bool = False
    log: list[str] = field(default_factory=list)
    walls: dict[str, float] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    load: float = field(default_factory=lambda: os.getloadavg()[0])

    def sh(self, command: str, *, key: str | None = None, stdout: Path | None = None) -> float:
        """Run one documented shell command in the work folder; return its wall time in seconds."""
        env = {**os.environ, "MPE_PSN_CACHE": str(self.root / "cache"),
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.log.append(command)
        print(f"$ {command}", flush=True)
        start = time.perf_counter()
        with open(self.root / "commands.log", "a") as log:
            log.write(f"$ {command}\n")
            log.flush()
            out = open(stdout, "w") if stdout else log
            try:
                status = subprocess.run(["bash", "-c", command], cwd=self.root, env=env, stdout=out,
                                        stderr=log).returncode
            finally:
                if stdout:
                    out.close()
        wall = time.perf_counter() - start
        if status != 0:
            raise SystemExit(f"failed ({status}): {command}\n(see {self.root / 'commands.log'})")
        if key:
            self.walls[key] = wall
        return wall

    def train(self, name: str, flags: str = "", prefix: str = "") -> Path:
        """``mpe-psn train --quiet --name NAME FLAGS`` once; ``mpe`` is the README command as written."""
        run = self.root / "runs" / name
        if name in self.done or (self.keep_runs and (run / "last.pt").is_file()):
            return run
        smoke = " " + " ".join(SMOKE_TRAIN) if self.smoke else ""
        if name == "mpe":
            before = set((self.root / "runs").glob("*")) if (self.root / "runs").is_dir() else set()
            self.sh("mpe-psn train" + smoke, key=name)  # the README command
            (made,) = set((self.root / "runs").glob("*")) - before
            run.symlink_to(made.name)
        else:
            self.sh(f"{prefix}mpe-psn train --quiet --name {name}{(' ' + flags) if flags else ''}{smoke}", key=name)
        self.done.add(name)
        return run

    def analyze(self, command: str) -> dict:
        """``mpe-psn analyze ANALYSIS ... --out figures``; returns the JSON it wrote."""
        if self.smoke:
            command += " --grid 3 --batches 1" if " landscape " in command else " --batches 1"
        self.sh(command + " --out figures --no-progress")
        analysis = command.split("analyze ")[1].split()[0]
        name = "fidelity-training" if " --train " in command else analysis
        return json.loads((self.root / "figures" / f"{name}.json").read_text())


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------------------------ formatting

def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}"


def provenance(work: Work, what: str) -> str:
    return (f"Made by `python scripts/make_docs_numbers.py` ({what}) on {work.started:%Y-%m-%d %H:%M} UTC, "
            f"commit {commit()}, {machine()}; load average {work.load:.1f} at the start.")


def commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + (" with local changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def machine() -> str:
    import torch

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return f"{model}, {os.cpu_count()} CPU cores{gpu}, PyTorch {torch.__version__}"


# -------------------------------------------------------------------------------------- sections
# Each section: (function(work) -> {block name: markdown}, {block name: (absolute, relative) tolerance}).

NEURONS = (("mpe", "", "MPE-PSN (lambda_mem 0.01)"), ("mpe-nomem", "--lambda-mem 0", "MPE-PSN, no L_mem (`--lambda-mem 0`)"),
           ("lif", "--neuron lif", "exact LIF (`--neuron lif`)"), ("psn", "--neuron psn", "PSN (`--neuron psn`)"))


def section_readme(work: Work) -> dict[str, str]:
    rows = metrics(work.train("mpe"))
    header = ["epoch"] + [str(r["epoch"] + 1) for r in rows]
    return {"readme-epochs": table(header, [["test accuracy (%)"] + [pct(r["test_acc"]) for r in rows],
                                            ["training loss"] + [f"{r['train_loss']:.3f}" for r in rows]]),
            "readme-provenance": provenance(work, "section readme")}


def section_neurons(work: Work) -> dict[str, str]:
    acc_rows, time_rows = [], []
    for name, flags, label in NEURONS:
        rows = metrics(work.train(name, flags))
        picks = [rows[i] for i in sorted({0, min(1, len(rows) - 1), len(rows) - 1})]
        acc_rows.append([label, " / ".join(pct(r["test_acc"]) for r in picks)])
        time_rows.append([label, f"{statistics.median(r['epoch_seconds'] for r in rows):.1f}",
                          f"{statistics.median(r['epoch_cpu_seconds'] for r in rows):.1f}",
                          f"{statistics.median(r['samples_per_s'] for r in rows):.0f}", f"{work.walls.get(name, float('nan')):.0f}"])
    return {"neurons-accuracy": table(["neuron", "test accuracy (%) after epoch 1 / 2 / last"], acc_rows),
            "neurons-timing": table(["neuron", "wall s per epoch (median)", "CPU s per epoch (median)",
                                     "training samples/s (median)", "whole command, wall s"], time_rows),
            "neurons-provenance": provenance(work, "section neurons")}


def seeds(work: Work) -> tuple[int, ...]:
    return (0,) if work.smoke else (0, 1, 2)


def section_seeds400(work: Work) -> dict[str, str]:
    acc_rows, mem_rows, curves = [], [], {}
    for name, flags, label in NEURONS:
        accs, mems = [], []
        for seed in seeds(work):
            run = work.train(f"{name}-400-s{seed}", f"{flags} --data-option num_train=400 --seed {seed}".strip())
            rows = metrics(run)
            accs.append(rows[-1]["test_acc"])
            mems.append(rows[-1].get("mem_loss"))
            if seed == 0:
                curves[label] = rows
        acc_rows.append([label] + [pct(a) for a in accs] + [f"**{pct(statistics.mean(accs))}**"])
        if name.startswith("mpe"):
            mem_rows.append([label] + [f"{m:.3f}" if m is not None else "-" for m in mems])
    from mpe_psn.training.curves import plot_run_comparison

    plot_run_comparison(curves, work.figures / "training-neurons-400.png",
                        title="400 training samples, seed 0")
    seed_cols = [f"seed {s}" for s in seeds(work)]
    return {"seeds-400": table(["neuron"] + seed_cols + ["mean"], acc_rows),
            "seeds-400-mem": table(["run"] + seed_cols, mem_rows),
            "seeds-400-provenance": provenance(work, "section seeds400")}


def section_estimators(work: Work) -> dict[str, str]:
    n_seeds = 2 if work.smoke else 10
    runs = [(f"mpe-400-s{s}", "", f"MPE-PSN, 400 samples, seed {s}") for s in seeds(work)]
    runs += [("mpe-nomem-400-s0", "--lambda-mem 0", "MPE-PSN no L_mem, 400 samples, seed 0"), ("mpe", "", "MPE-PSN, 2000 samples")]
    rows = []
    for name, flags, label in runs:
        if name == "mpe":
            work.train("mpe")
        else:
            base, seed = name.rsplit("-400-s", 1)
            work.train(name, f"{flags} --data-option num_train=400 --seed {seed}".strip())
        (work.root / "evals").mkdir(exist_ok=True)
        expected, bernoulli = (work.root / "evals" / f"{name}-{e}.json" for e in ("expected", "bernoulli"))
        work.sh(f"mpe-psn eval runs/{name}/last.pt --estimator expected --json --plot ''", stdout=expected)
        work.sh(f"mpe-psn eval runs/{name}/last.pt --estimator bernoulli --seeds {n_seeds} --json --plot ''", stdout=bernoulli)
        e, b = json.loads(expected.read_text()), json.loads(bernoulli.read_text())
        rows.append([label, pct(e["accuracy"]), f"{pct(b['accuracy'], 2)} +- {pct(b['accuracy_std'], 2)} "
                     f"({pct(b['accuracy_min'])}-{pct(b['accuracy_max'])})"])
    return {"estimators": table(["run (last epoch)", "expected", f"Bernoulli, mean +- sd over {n_seeds} seeds (min-max)"], rows),
            "estimators-provenance": provenance(work, "section estimators")}


def section_demo(work: Work) -> dict[str, str]:
    out = work.root / "demo.txt"
    work.sh("mpe-psn demo", stdout=out)
    return {"demo": "```text\n" + out.read_text().rstrip() + "\n```", "demo-provenance": provenance(work, "section demo")}


def layer_rows(result: dict) -> list[dict]:
    return result["layers"]


def section_fidelity(work: Work) -> dict[str, str]:
    work.train("mpe"), work.train("lif", "--neuron lif")
    data = work.analyze("mpe-psn analyze fidelity runs/mpe runs/lif")
    rows = []
    for run in data["runs"]:
        label = "MPE-PSN" if run["neuron"] == "mpe" else f"{run['neuron'].upper()} (what if)"
        result = run["result"]
        if run["neuron"] == "mpe":
            for layer in layer_rows(result):
                rows.append([label, layer["name"], layer["neurons"], f"{layer['v_hat_mse']:.4f}", f"{layer['v_mse']:.4f}",
                             f"{pct(layer['spike_mismatch'], 2)} %"])
        total = result["total"]
        rows.append([label, "all", "", f"{total['v_hat_mse']:.4f}", f"{total['v_mse']:.4f}", f"{pct(total['spike_mismatch'], 2)} %"])
    return {"fidelity-layers": table(["run", "layer", "neurons", "MSE(V_hat, V_LIF)", "MSE(V, V_LIF)", "spike mismatch"], rows),
            "fidelity-provenance": provenance(work, "section fidelity")}


FIDELITY_RUNS = (("fid-0.01", "", "lambda_mem = 0.01 (paper)"), ("fid-0.1", "--lambda-mem 0.1", "lambda_mem = 0.1"),
                 ("fid-0", "--lambda-mem 0", "without L_mem"))


def section_fidelity_training(work: Work) -> dict[str, str]:
    for name, flags, _ in FIDELITY_RUNS:
        work.train(name, f"--log-fidelity {flags}".strip())
    labels = " ".join(f"'{label}'" for _, _, label in FIDELITY_RUNS)
    work.analyze("mpe-psn analyze fidelity --train " + " ".join(f"runs/{n}" for n, _, _ in FIDELITY_RUNS) + f" --labels {labels}")
    rows = []
    for name, _, label in FIDELITY_RUNS:
        last = [r for r in metrics(work.root / "runs" / name) if "fidelity" in r][-1]
        rows.append([label, f"{last['fidelity']['v_hat_mse']:.4f}", f"{pct(last['fidelity']['spike_mismatch'], 2)} %",
                     f"{pct(last['test_acc'])} %"])
    return {"fidelity-training": table(["run", "MSE(V_hat, V_LIF) after the last epoch", "spike mismatch", "test accuracy"], rows),
            "fidelity-training-provenance": provenance(work, "section fidelity-training")}


def section_spike_rates(work: Work) -> dict[str, str]:
    work.train("mpe"), work.train("lif", "--neuron lif")
    data = work.analyze("mpe-psn analyze spike-rates runs/mpe runs/lif")
    (mpe,) = [r["result"] for r in data["runs"] if r["neuron"] == "mpe"]
    (lif,) = [r["result"] for r in data["runs"] if r["neuron"] == "lif"]
    rows = [[a["name"], a["neurons"], f"{pct(a['rate'], 2)} %", f"{pct(b['rate'], 2)} %", f"{a['spikes_per_sample']:.0f}",
             f"{b['spikes_per_sample']:.0f}"] for a, b in zip(layer_rows(mpe), layer_rows(lif))]
    rows.append(["all", sum(a["neurons"] for a in layer_rows(mpe)), f"{pct(mpe['total']['rate'], 2)} %",
                 f"{pct(lif['total']['rate'], 2)} %", f"{mpe['total']['spikes_per_sample']:.0f}", f"{lif['total']['spikes_per_sample']:.0f}"])
    return {"spike-rates": table(["layer", "neurons", "MPE-PSN rate", "LIF rate", "MPE-PSN spikes/sample", "LIF spikes/sample"], rows),
            "spike-rates-provenance": provenance(work, "section spike-rates")}


def section_energy(work: Work) -> dict[str, str]:
    work.train("mpe"), work.train("lif", "--neuron lif")
    data = work.analyze("mpe-psn analyze energy runs/mpe runs/lif")
    (mpe,) = [r["result"] for r in data["runs"] if r["neuron"] == "mpe"]
    (lif,) = [r["result"] for r in data["runs"] if r["neuron"] == "lif"]
    rows = [[a["name"], a["op"], f"{a['ops_per_sample']:,.0f}", f"{b['ops_per_sample']:,.0f}", f"{a['ann_macs_per_sample']:,.0f}"]
            for a, b in zip(mpe["layers"], lif["layers"])]
    rows.append(["energy per sample", "", f"{mpe['total']['energy_uj_per_sample']:.2f} uJ", f"{lif['total']['energy_uj_per_sample']:.2f} uJ",
                 f"{mpe['total']['ann_energy_uj_per_sample']:.2f} uJ"])
    return {"energy": table(["layer", "op", "MPE-PSN ops/sample", "LIF ops/sample", "same-shape ANN MACs"], rows),
            "energy-provenance": provenance(work, "section energy")}


def section_landscape(work: Work) -> dict[str, str]:
    work.train("mpe"), work.train("lif", "--neuron lif")
    data = work.analyze("mpe-psn analyze landscape runs/mpe runs/lif --grid 11 --span 1.0 --batches 2")
    rows = []
    for run in data["runs"]:
        r = run["result"]
        alphas, betas, loss = r["alphas"], r["betas"], r["loss"]
        ia0, ib0 = alphas.index(min(alphas, key=abs)), betas.index(min(betas, key=abs))
        flat = [v for row in loss for v in row]
        rows.append(["MPE-PSN" if run["neuron"] == "mpe" else run["neuron"].upper(), f"{r['center_loss']:.3f}",
                     f"{loss[0][ib0]:.2f}, {loss[-1][ib0]:.2f}", f"{loss[ia0][0]:.2f}, {loss[ia0][-1]:.2f}", f"{max(flat):.2f}",
                     f"{sum(v < 2 * r['center_loss'] for v in flat)} of {len(flat)}"])
    return {"landscape": table(["", "centre loss", "loss at a = -span, span (b = 0)", "loss at b = -span, span (a = 0)", "max on the grid",
                                "grid points below twice the centre loss"], rows),
            "landscape-provenance": provenance(work, "section landscape")}


def section_refine(work: Work) -> dict[str, str]:
    work.train("mpe")
    steps = " --steps 0,1" if work.smoke else ""
    data = work.analyze(f"OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 mpe-psn analyze refine runs/mpe{steps}")
    result = data["runs"][0]["result"]
    T = result["T"]
    acc_rows, time_rows = [], []
    for row in result["rows"]:
        k = row["refine_steps"]
        label = "0 (MPE-PSN)" if k == 0 else (f"{k} = T - 1 (exact)" if k == T - 1 else str(k))
        acc_rows.append([label, f"{pct(row['accuracy'])} %", f"{pct(row['spike_mismatch'], 3)} %"])
        time_rows.append([label, f"{row['ms_per_sample']:.2f}", f"{row['relative_time']:.2f}x"])
    lif = result["exact_lif"]
    acc_rows.append(["sequential LIF module", f"{pct(lif['accuracy'])} %", "(exact)"])
    time_rows.append(["sequential LIF module", f"{lif['ms_per_sample']:.2f}", f"{lif['relative_time']:.2f}x"])
    return {"refine": table(["k", "test accuracy", "spikes differing from LIF"], acc_rows),
            "refine-timing": table(["k", "ms per sample", "time vs k = 0"], time_rows),
            "refine-provenance": provenance(work, "section refine")}


#: the neurons of the temporal table: (name, label); sj-lif and snntorch need the [rivals] extra
TEMPORAL_NEURONS = (("mpe", "MPE-PSN"), ("lif", "exact LIF"), ("psn", "PSN"), ("sj-lif", "SpikingJelly LIF"),
                    ("snntorch", "snnTorch Leaky"))
TEMPORAL_TS = (100, 250)


def exact_lif_accuracy(work: Work, run: Path) -> float:
    """Test accuracy of a trained MPE-PSN run with every MPE-PSN layer replaced by the exact LIF
    (the same weights, tau and thresholds: the deployment gap), on the run's own test split."""
    import torch

    from mpe_psn.data import build_dataset, build_loader
    from mpe_psn.interop import convert
    from mpe_psn.models.checkpoint import load_model
    from mpe_psn.training.evaluate import evaluate

    model, config = load_model(run / "last.pt")
    model, _ = convert(model, to="lif")
    test = build_dataset(config["dataset"], "test", T=config["T"], cache_dir=str(work.root / "cache"),
                         progress=False, **config["dataset_options"])
    loader = build_loader(test, batch_size=64, shuffle=False)
    torch.manual_seed(0)
    return evaluate(model, loader, len(test.class_names), mask_padding=config.get("mask_padding", False)).accuracy


#: every run of the temporal table on one CPU thread, two runs at a time on a 2-core machine: the
#: table then takes half the wall time, and two runs never fight over one core's threads
TEMPORAL_THREADS = "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 "
TEMPORAL_PARALLEL = 2


def section_temporal(work: Work) -> dict[str, str]:
    """The built-in temporal task at T = 100 and 250, 3 seeds, one feed-forward net, five neurons.
    Seed by seed, every neuron in turn (two runs at a time, one thread each), so that a change of
    the machine's load hits all neurons alike."""
    from concurrent.futures import ThreadPoolExecutor

    smoke = " --epochs 1" if work.smoke else ""
    jobs = [(f"temporal-{neuron}-T{T}-s{seed}", f"--preset temporal --neuron {neuron} -T {T} --seed {seed}{smoke}")
            for T in TEMPORAL_TS for seed in seeds(work) for neuron, _ in TEMPORAL_NEURONS]
    jobs += [(f"temporal-shuffled-s{seed}", f"--preset temporal --data-option shuffle_time=true --seed {seed}{smoke}")
             for seed in seeds(work)]
    with ThreadPoolExecutor(TEMPORAL_PARALLEL) as pool:
        list(pool.map(lambda job: work.train(job[0], job[1], prefix=TEMPORAL_THREADS), jobs))
    acc_rows, speed_rows, gap_rows = [], [], []
    for T in TEMPORAL_TS:
        secs: dict[str, float] = {}
        for neuron, label in TEMPORAL_NEURONS:
            runs = [metrics(work.root / "runs" / f"temporal-{neuron}-T{T}-s{seed}") for seed in seeds(work)]
            accs = [rows[-1]["test_acc"] for rows in runs]
            secs[neuron] = statistics.median(statistics.median(r["epoch_seconds"] for r in rows[1:] or rows) for rows in runs)
            mem = max(r["peak_memory_bytes"] for rows in runs for r in rows)
            acc_rows.append([str(T), label] + [pct(a) for a in accs] + [f"**{pct(statistics.mean(accs))}**"])
            speed_rows.append([str(T), label, f"{secs[neuron]:.1f}", f"{mem / 2**20:.0f}"])
        for row, (neuron, _) in zip(speed_rows[-len(TEMPORAL_NEURONS):], TEMPORAL_NEURONS):
            row.append(f"{secs[neuron] / secs['mpe']:.2f}x")
        for seed in seeds(work):
            run = work.root / "runs" / f"temporal-mpe-T{T}-s{seed}"
            gap_rows.append([str(T), str(seed), pct(metrics(run)[-1]["test_acc"]), pct(exact_lif_accuracy(work, run))])
    shuffled = [metrics(work.root / "runs" / f"temporal-shuffled-s{seed}")[-1]["test_acc"] for seed in seeds(work)]
    seed_cols = [f"seed {s}" for s in seeds(work)]
    acc_rows.append(["100", "MPE-PSN, time-shuffled control"] + [pct(a) for a in shuffled] + [f"**{pct(statistics.mean(shuffled))}**"])
    return {"temporal-accuracy": table(["T", "neuron"] + seed_cols + ["mean"], acc_rows),
            "temporal-speed": table(["T", "neuron", "wall s per epoch (median)", "peak memory (MiB, process)",
                                     "epoch time / MPE-PSN's"], speed_rows),
            "temporal-gap": table(["T", "seed", "MPE-PSN (as trained)", "same weights as the exact LIF"], gap_rows),
            "temporal-provenance": provenance(work, "section temporal") + " Each run on one thread, two runs at a time."}


#: the long-memory table: (run name, label, T, flags); every row at T = 250 is compared with the
#: plain MPE-PSN at T = 250 (its first row), the T = 100 rows with the plain MPE-PSN at T = 100
MEMORY_RUNS = (
    ("mem-mpe-T100", "MPE-PSN", 100, "--preset temporal"),
    ("mem-mpe-r1-T100", "MPE-PSN, refine_steps 1", 100, "--preset temporal --refine-steps 1"),
    ("mem-mpe-T250", "MPE-PSN", 250, "--preset temporal -T 250"),
    ("mem-mpe-r2-T250", "MPE-PSN, refine_steps 2", 250, "--preset temporal -T 250 --refine-steps 2"),
    ("mem-mpe-r4-T250", "MPE-PSN, refine_steps 4", 250, "--preset temporal -T 250 --refine-steps 4"),
    ("mem-mpe-tau08-T250", "MPE-PSN, decay 0.8 (`--tau 0.8`)", 250, "--preset temporal -T 250 --tau 0.8"),
    ("mem-mpe-tau08-r4-T250", "MPE-PSN, decay 0.8, refine_steps 4", 250,
     "--preset temporal -T 250 --tau 0.8 --refine-steps 4"),
    ("mem-lif-tau08-T250", "exact LIF (fused), decay 0.8: `--preset temporal-long`", 250, "--preset temporal-long"),
)


def section_memory(work: Work) -> dict[str, str]:
    """How much memory the built-in temporal task needs: MPE-PSN with refinements and a slower
    decay, and the fused exact LIF, at T = 100 and 250, 3 seeds, two runs at a time, one thread each."""
    from concurrent.futures import ThreadPoolExecutor

    smoke = " --epochs 1" if work.smoke else ""
    jobs = [(f"{name}-s{seed}", f"{flags} --seed {seed}{smoke}") for seed in seeds(work) for name, _, _, flags in MEMORY_RUNS]
    with ThreadPoolExecutor(TEMPORAL_PARALLEL) as pool:
        list(pool.map(lambda job: work.train(job[0], job[1], prefix=TEMPORAL_THREADS), jobs))
    rows, plain = [], {}
    for name, label, T, _ in MEMORY_RUNS:
        runs = [metrics(work.root / "runs" / f"{name}-s{seed}") for seed in seeds(work)]
        accs = [r[-1]["test_acc"] for r in runs]
        train = statistics.mean(r[-1]["train_acc"] for r in runs)
        secs = statistics.median(statistics.median(e["epoch_seconds"] for e in r[1:] or r) for r in runs)
        plain.setdefault(T, secs)
        rows.append([str(T), label] + [pct(a) for a in accs] + [f"**{pct(statistics.mean(accs))}**", pct(train),
                                                                   f"{secs:.1f}", f"{secs / plain[T]:.2f}x"])
    header = ["T", "run"] + [f"seed {s}" for s in seeds(work)] + ["mean test accuracy (%)", "mean train accuracy (%)",
                                                                  "wall s per epoch (median)", "epoch time / MPE-PSN's"]
    return {"temporal-memory": table(header, rows),
            "temporal-memory-provenance": provenance(work, "section memory") + " Each run on one thread, two runs at a time."}


def memory_invariants(work: Work) -> list[str]:
    """The long-memory preset learns the task at T = 250 on every seed (at least 95 %: 100 % where measured)."""
    problems = []
    for seed in seeds(work):
        acc = metrics(work.root / "runs" / f"mem-lif-tau08-T250-s{seed}")[-1]["test_acc"]
        if acc < 0.95:
            problems.append(f"memory: --preset temporal-long ends at {pct(acc)} % on seed {seed} (below 95 %)")
    return problems


def section_long_T(work: Work) -> dict[str, str]:
    """Each documented command at T = 1000 on the built-in temporal task: wall time and the
    command's peak resident memory (GNU time's maximum RSS)."""
    T = 100 if work.smoke else 1000
    data = "--data-option num_train=256 --data-option num_test=128"
    commands = [
        ("train, 1 epoch (256 samples, batch 64)",
         f"mpe-psn train --quiet --preset temporal -T {T} --epochs 1 {data} --name long-T"),
        ("eval (128 samples, batch 64)", "mpe-psn eval runs/long-T --json --plot '' --quiet " + data.replace("--data-option num_train=256 ", "")),
        ("analyze spike-rates (1 batch of 64)", "mpe-psn analyze spike-rates runs/long-T --batches 1 --out figures-long --no-progress"),
        ("analyze energy (1 batch of 64)", "mpe-psn analyze energy runs/long-T --batches 1 --out figures-long --no-progress"),
        ("export --format nir", "mpe-psn export runs/long-T --format nir --out long-T.nir"),
        ("export --format onnx", "mpe-psn export runs/long-T --format onnx --out long-T.onnx"),
        ("bench net, SHD MLP, batch 16, MPE-PSN and LIF",
         f"mpe-psn bench net --model shd-mlp -T {T} --batch 16 --neurons mpe lif --precision fp32 --repeats 3 --warmup 1 "
         "--out bench-long --no-progress"),
    ]
    rows = []
    for label, command in commands:
        rss = work.root / "rss.txt"
        wall = work.sh(f"/usr/bin/time -f %M -o {rss} {command}")
        rows.append([label, f"{wall:.1f}", f"{int(rss.read_text().split()[-1]) / 1024:.0f}"])
    return {"temporal-long-T": table([f"T = {T}: command", "wall s", "peak memory (MiB, the command's process)"], rows)
            + "\n\n" + provenance(work, "section long-T")}


def section_dataset(work: Work) -> dict[str, str]:
    """``mpe-psn data`` on the built-in dataset: its summary table (no training: the same on every CPU)."""
    out = work.root / "data.txt"
    work.sh("mpe-psn data" + (" -o num_train=32 -o num_test=32" if work.smoke else ""), stdout=out)
    return {"dataset-summary": "```text\n" + out.read_text().rstrip() + "\n```",
            "dataset-provenance": provenance(work, "section dataset")}


# ------------------------------------------------------------------------------------ invariants
# What must hold on any machine, whatever the chaos of training did to the numbers themselves.
# Each returns the broken ones as sentences (empty: all hold). CI runs them (--invariants).

CHANCE = 0.1  # every built-in task has 10 balanced classes


def readme_invariants(work: Work) -> list[str]:
    rows = metrics(work.root / "runs" / "mpe")
    problems = []
    if rows[-1]["test_acc"] <= 0.9:
        problems.append(f"readme: the README run ends at {pct(rows[-1]['test_acc'])} % test accuracy, not above 90 %")
    losses = [r["train_loss"] for r in rows]
    if not all(l == l and abs(l) != float("inf") for l in losses) or losses[-1] >= losses[0]:
        problems.append(f"readme: the training loss is not finite or did not fall: {losses}")
    return problems


def spike_rate_invariants(work: Work) -> list[str]:
    data = json.loads((work.root / "figures" / "spike-rates.json").read_text())
    problems = []
    for run in data["runs"]:
        result = run["result"]
        for layer in layer_rows(result) + [dict(result["total"], name="all")]:
            if not 0.0 < layer["rate"] < 1.0:
                problems.append(f"spike-rates: {run['neuron']} layer {layer['name']} fires at rate {layer['rate']}, "
                                f"not strictly between 0 and 1")
    return problems


def temporal_invariants(work: Work) -> list[str]:
    """docs/results.md: at T = 100 MPE-PSN's own weights score higher as the exact LIF, and the
    time-shuffled control stays near chance."""
    problems = []
    as_trained, as_lif = [], []
    for seed in seeds(work):
        run = work.root / "runs" / f"temporal-mpe-T100-s{seed}"
        as_trained.append(metrics(run)[-1]["test_acc"])
        as_lif.append(exact_lif_accuracy(work, run))
    if statistics.mean(as_lif) <= statistics.mean(as_trained):
        problems.append(f"temporal: as the exact LIF {as_lif} does not score above as trained {as_trained} at T = 100")
    shuffled = [metrics(work.root / "runs" / f"temporal-shuffled-s{seed}")[-1]["test_acc"] for seed in seeds(work)]
    if max(shuffled) >= 2 * CHANCE:
        problems.append(f"temporal: the time-shuffled control learned ({shuffled}); it must stay below 2x chance")
    return problems


@dataclass(frozen=True)
class Section:
    """One section of the script: what it runs, and how its blocks are held against the docs.

    * ``exact``: blocks with no training in them (the demo's math on fixed inputs, dataset
      statistics): the same on every CPU, so ``--check`` and ``--invariants`` compare them
      character for character.
    * ``drift``: blocks of trained numbers -> ``(atol, rtol)`` for the whole block or per row
      label (``""`` for the other rows). Training is chaotic: a net trained on another CPU (other
      SIMD kernels in ATen, numba, oneDNN) is another net, so these numbers hold only on the
      machine named in the docs. ``--check`` prints each number's drift and fails beyond the
      tolerance (for whoever regenerates the docs on that machine); ``--invariants`` compares
      only their text, numbers masked.
    * ``invariants``: what must hold on any machine (CI).

    Blocks in neither (timings, provenance lines) are not compared.
    """

    run: Callable[[Work], dict[str, str]]
    exact: tuple[str, ...] = ()
    drift: dict[str, "tuple[float, float] | dict[str, tuple[float, float]]"] = field(default_factory=dict)
    invariants: "Callable[[Work], list[str]] | None" = None


#: Accuracies are in points (0.5 = 2 of 500 test samples).
SECTIONS: dict[str, Section] = {
    "dataset": Section(section_dataset, exact=("dataset-summary",)),
    "readme": Section(section_readme, drift={"readme-epochs": {"": (0.0, 0.0), "test accuracy (%)": (3.0, 0.0),
                                                               "training loss": (0.05, 0.2)}},
                      invariants=readme_invariants),
    "neurons": Section(section_neurons, drift={"neurons-accuracy": (0.5, 0.0)}),
    "seeds400": Section(section_seeds400, drift={"seeds-400": (0.5, 0.0), "seeds-400-mem": (0.002, 0.02)}),
    "estimators": Section(section_estimators, drift={"estimators": (0.5, 0.0)}),
    "demo": Section(section_demo, exact=("demo",)),
    "fidelity": Section(section_fidelity, drift={"fidelity-layers": (0.011, 0.03)}),
    "fidelity-training": Section(section_fidelity_training, drift={"fidelity-training": (0.011, 0.03)}),
    "spike-rates": Section(section_spike_rates, drift={"spike-rates": (0.011, 0.3)}, invariants=spike_rate_invariants),
    "energy": Section(section_energy, drift={"energy": (0.011, 0.02)}),
    "landscape": Section(section_landscape, drift={"landscape": (0.011, 0.02)}),
    "refine": Section(section_refine, drift={"refine": (0.011, 0.03)}),
    "temporal": Section(section_temporal, invariants=temporal_invariants),
    "memory": Section(section_memory, drift={"temporal-memory": (3.0, 0.3)}, invariants=memory_invariants),
    "long-T": Section(section_long_T),
}
#: every compared block -> its tolerance ((0, 0) for the exact ones)
TOLERANCE: dict[str, "tuple[float, float] | dict[str, tuple[float, float]]"] = {
    **{name: (0.0, 0.0) for section in SECTIONS.values() for name in section.exact},
    **{name: tol for section in SECTIONS.values() for name, tol in section.drift.items()},
}
EXACT = frozenset(name for section in SECTIONS.values() for name in section.exact)


# ------------------------------------------------------------------------------------ docs blocks

def docs_blocks() -> dict[str, tuple[Path, str]]:
    """``{name: (page, body)}`` of every numbers block in docs/."""
    found: dict[str, tuple[Path, str]] = {}
    for page in sorted(DOCS.rglob("*.md")):
        for match in BLOCK.finditer(page.read_text()):
            if match["name"] in found:
                raise SystemExit(f"numbers block {match['name']!r} appears twice ({found[match['name']][0]} and {page})")
            found[match["name"]] = (page, match["body"])
    return found


def replace_blocks(text: str, blocks: dict[str, str]) -> str:
    return BLOCK.sub(lambda m: f"<!-- numbers:{m['name']} -->\n{blocks[m['name']].rstrip()}\n<!-- /numbers:{m['name']} -->"
                     if m["name"] in blocks else m[0], text)


def _line_tolerance(name: str, line: str) -> tuple[float, float]:
    """``(atol, rtol)`` of one line of block ``name`` (a per-line table, or one pair for the block)."""
    tolerance = TOLERANCE[name]
    if isinstance(tolerance, dict):
        label = line.strip().strip("|").split("|")[0].strip()
        return tolerance.get(label, tolerance[""])
    return tolerance


def _masked(text: str) -> list[str]:
    return NUMBER.sub("#", text).split()


def differences(name: str, made: str, documented: str) -> list[str]:
    """Where ``made`` and ``documented`` differ: an exact block character for character; any other
    block's text exactly and its numbers within the block's tolerance."""
    if name in EXACT:
        if made.strip() == documented.strip():
            return []
        return [f"{name}: differs from the docs (no training in it: it must be the same on every CPU):\n"
                f"--- docs\n{documented.strip()}\n--- now\n{made.strip()}"]
    problems = structure_differences(name, made, documented)
    if problems:
        return problems
    return [line for line, beyond in drift(name, made, documented) if beyond]


def structure_differences(name: str, made: str, documented: str) -> list[str]:
    """The text of a block with every number masked: rows, labels and units must match anywhere."""
    if _masked(made) == _masked(documented):
        return []
    return [f"{name}: the text differs:\n--- docs\n{documented.strip()}\n--- now\n{made.strip()}"]


def drift(name: str, made: str, documented: str) -> list[tuple[str, bool]]:
    """``(line, beyond tolerance)`` for every number of ``name`` that moved from the docs' value."""
    out = []
    for made_line, doc_line in zip(made.strip().splitlines(), documented.strip().splitlines()):
        atol, rtol = _line_tolerance(name, doc_line)
        label = doc_line.strip().strip("|").split("|")[0].strip()
        for a, b in zip(NUMBER.findall(made_line), NUMBER.findall(doc_line)):
            x, y = float(a.replace(",", "")), float(b.replace(",", ""))
            if x != y:
                beyond = abs(x - y) > atol + rtol * abs(y)
                out.append((f"{name}: docs say {b}, the code gives {a}" + (f" ({label})" if label else "")
                            + (" -- beyond the tolerance" if beyond else ""), beyond))
    return out


def machine_line(blocks: dict[str, str], documented: dict[str, tuple[Path, str]]) -> str:
    """The provenance line the docs hold for a section's blocks (where and when they were made)."""
    for name in blocks:
        if name.endswith("provenance") and name in documented:
            return documented[name][1].strip().splitlines()[0]
    return "(no provenance block in the docs)"


# ------------------------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs-numbers"), help="output folder (default docs-numbers/)")
    parser.add_argument("--only", nargs="+", choices=sorted(SECTIONS), help="run only these sections")
    parser.add_argument("--write-docs", action="store_true", help="update the blocks in docs/ and the files in docs/figures/")
    parser.add_argument("--check", action="store_true",
                        help="compare with the docs on the machine that made them: print every number's drift, exit 1 "
                             "beyond a block's tolerance or on any other difference")
    parser.add_argument("--invariants", action="store_true",
                        help="what CI runs, on any machine: blocks without training exactly, the text of the others, "
                             "and the invariants of each section (accuracy above 90 %%, rates in (0, 1), ...); exit 1 "
                             "on a violation")
    parser.add_argument("--smoke", action="store_true", help="tiny budgets, to test this script (numbers mean nothing)")
    parser.add_argument("--keep-runs", action="store_true",
                        help="reuse the finished runs of the previous invocation with the same --out (to add sections)")
    args = parser.parse_args(argv)
    if args.smoke and (args.write_docs or args.check or args.invariants):
        parser.error("--smoke makes meaningless numbers: it cannot be combined with --write-docs, --check or --invariants")
    out = args.out.resolve()
    if out == REPO or out == DOCS or DOCS in out.parents:
        parser.error(f"--out {args.out}: choose a folder outside docs/ (the docs change only with --write-docs)")
    root = out / "work"
    if root.exists():
        if not (root / MARKER).is_file():
            parser.error(f"--out {args.out}: {root} exists and was not made by this script; choose another --out")
        if not args.keep_runs:
            shutil.rmtree(root)
    (root / "figures").mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("a work folder of scripts/make_docs_numbers.py; removed by its next run\n")
    work = Work(root=root, figures=root / "figures", smoke=args.smoke, keep_runs=args.keep_runs)

    names = args.only or list(SECTIONS)
    blocks: dict[str, str] = {}
    made: dict[str, dict[str, str]] = {}
    for name in names:
        print(f"== {name}", flush=True)
        made[name] = SECTIONS[name].run(work)
        blocks.update(made[name])

    documented = docs_blocks()
    missing = sorted(set(blocks) - set(documented))
    if missing and not args.smoke:
        print(f"warning: no block in docs/ for {', '.join(missing)}", file=sys.stderr)
    (out / "blocks").mkdir(parents=True, exist_ok=True)
    for name, body in blocks.items():
        (out / "blocks" / f"{name}.md").write_text(body.rstrip() + "\n")
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    for file in sorted(work.figures.iterdir()):
        shutil.copy2(file, figures / file.name)
    for page in sorted({page for name, (page, _) in documented.items() if name in blocks}):
        target = out / "pages" / page.relative_to(DOCS)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(replace_blocks(page.read_text(), blocks))
    print(f"blocks in {out / 'blocks'}, pages in {out / 'pages'}, figures in {figures}")

    if args.write_docs:
        for page in sorted({page for name, (page, _) in documented.items() if name in blocks}):
            page.write_text(replace_blocks(page.read_text(), blocks))
            print(f"updated {page.relative_to(REPO)}")
        for name in FIGURE_FILES:
            if (work.figures / name).is_file():
                shutil.copy2(work.figures / name, DOCS / "figures" / name)
        print("copied the figures to docs/figures/")
    status = 0
    if args.check:
        status |= check_drift(made, documented)
    if args.invariants:
        status |= check_invariants(work, made, documented)
    return status


def check_drift(made: dict[str, dict[str, str]], documented: dict[str, tuple[Path, str]]) -> int:
    """``--check``: every block against the docs, drift per number against the docs' machine line."""
    problems, report = [], []
    for section, blocks in made.items():
        compared = [n for n in blocks if n in TOLERANCE]
        if not compared:
            continue
        report.append(f"{section}, against the docs' line: {machine_line(blocks, documented)}")
        for name in compared:
            if name not in documented:
                problems.append(f"{name}: no such block in docs/")
                continue
            problems += differences(name, blocks[name], documented[name][1])
            if name not in EXACT:
                moved = drift(name, blocks[name], documented[name][1])
                report += [f"  {line}" for line, _ in moved] or [f"  {name}: every number as in the docs"]
    print("\n".join(report))
    if problems:
        print("the docs are stale; regenerate them with `python scripts/make_docs_numbers.py --write-docs`:\n"
              + "\n".join(problems), file=sys.stderr)
        return 1
    print("the docs' numbers match the code")
    return 0


def check_invariants(work: Work, made: dict[str, dict[str, str]], documented: dict[str, tuple[Path, str]]) -> int:
    """``--invariants`` (CI): what holds on any CPU. Exact blocks exactly, the text of trained
    blocks with their numbers masked, and each section's invariants."""
    problems = []
    for section, blocks in made.items():
        for name, body in blocks.items():
            if name not in TOLERANCE:
                continue
            if name not in documented:
                problems.append(f"{name}: no such block in docs/")
            elif name in EXACT:
                problems += differences(name, body, documented[name][1])
            else:
                problems += structure_differences(name, body, documented[name][1])
        if SECTIONS[section].invariants is not None:
            problems += SECTIONS[section].invariants(work)
    if problems:
        print("broken on this machine:\n" + "\n".join(problems), file=sys.stderr)
        return 1
    print("the invariants hold and the exact blocks match the docs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
