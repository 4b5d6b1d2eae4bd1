"""The deployment-gap study on the harder built-in task (docs/deploy.md).

For each seed: train the small net with MPE-PSN, LIF and PSN on ``difficulty=hard`` for the
same short budget, then measure the MPE-PSN run in every way it can be deployed
(``mpe-psn analyze deploy``: expected, Bernoulli, each refinement level, exact LIF). On the
first seed also the gap closer: two MPE-PSN runs of ``epochs + extra_epochs`` epochs, the
control as MPE-PSN throughout, the other with its last ``--extra-epochs`` epochs fine-tuned as
the exact LIF (``--finetune-as lif``), each measured in every mode.

Everything goes through the command line (``python -m mpe_psn train|analyze``), so the study
measures exactly what a user runs. Results are written after every step to
``OUT/study.json`` and ``OUT/study.md`` (mean +- sd over the seeds finished so far); a seed is
not started after ``--stop-after-minutes``. Usage::

    nohup python scripts/deploy_gap_study.py --out runs/deploy-gap-study > runs/deploy-gap-study.log 2>&1 &
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

NEURONS = ("mpe", "lif", "psn")


def sh(args: list[str], log: Path) -> None:
    """Run ``python -m mpe_psn ARGS``, appending its output to ``log``; raise on failure."""
    with log.open("a") as handle:
        handle.write(f"\n$ mpe-psn {' '.join(args)}\n")
        handle.flush()
        status = subprocess.run([sys.executable, "-m", "mpe_psn", *args], stdout=handle, stderr=subprocess.STDOUT)
    if status.returncode != 0:
        raise RuntimeError(f"mpe-psn {' '.join(args)} failed with status {status.returncode} (see {log})")


def final_acc(run: Path) -> float:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return float(rows[-1]["test_acc"])


def deploy(run: Path, out: Path, seeds: int, log: Path) -> dict:
    sh(["analyze", "deploy", str(run / "last.pt"), "--out", str(out), "--seeds", str(seeds), "--no-progress"], log)
    return json.loads((out / "deploy.json").read_text())["runs"][0]["result"]


def mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    mean = 100 * statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.1f}"
    return f"{mean:.1f} +- {100 * statistics.stdev(values):.1f}"


def markdown(study: dict) -> str:
    seeds = study["seeds"]
    lines = [f"Seeds finished: {len(seeds)} ({', '.join(str(s['seed']) for s in seeds)}); "
             f"{study['setup']['train_args']}", "",
             "| network / deployment mode | test accuracy (%) |", "| --- | --- |"]
    for neuron in NEURONS:
        lines.append(f"| {neuron} trained, evaluated as trained | {mean_sd([s['train'][neuron] for s in seeds if neuron in s['train']])} |")
    gaps = [s["deploy"] for s in seeds if "deploy" in s]
    if gaps:
        lines.append(f"| MPE-PSN run as MPE-PSN, expected | {mean_sd([g['expected'] for g in gaps])} |")
        lines.append(f"| MPE-PSN run as MPE-PSN, Bernoulli ({gaps[0]['bernoulli_seeds']} draws each) | "
                     f"{mean_sd([g['bernoulli']['mean'] for g in gaps])} |")
        for k in sorted(gaps[0]["refine"], key=int):
            lines.append(f"| MPE-PSN run with k = {k} refinement passes | {mean_sd([g['refine'][k] for g in gaps])} |")
        lines.append(f"| MPE-PSN run as the exact LIF (what a NIR target runs) | {mean_sd([g['lif'] for g in gaps])} |")
        lines.append(f"| gap: expected - exact LIF (points) | {mean_sd([g['gap'] for g in gaps])} |")
    closer = study.get("closer")
    if closer:
        lines += ["", f"Gap closer on seed {closer['seed']}: two MPE-PSN runs of {closer['epochs']} epochs, the same until "
                  f"the last {closer['extra_epochs']}:", "",
                  "| last epochs trained as | expected | Bernoulli | exact LIF | gap (points) |", "| --- | --- | --- | --- | --- |"]
        for name, label in (("control", "MPE-PSN (control)"), ("finetuned", "exact LIF (`--finetune-as lif`)")):
            if name in closer:
                r = closer[name]
                lines.append(f"| {label} | {100 * r['expected']:.1f} | {100 * r['bernoulli']['mean']:.1f} | "
                             f"{100 * r['lif']:.1f} | {100 * r['gap']:+.1f} |")
    return "\n".join(lines) + "\n"


def save(study: dict, out: Path) -> None:
    for name, text in (("study.json", json.dumps(study, indent=1)), ("study.md", markdown(study))):
        tmp = out / (name + ".tmp")
        tmp.write_text(text)
        tmp.replace(out / name)


def run_closer(study: dict, args: argparse.Namespace, common: list[str], out: Path, log: Path) -> None:
    """The gap closer on ``--closer-seed``: two MPE-PSN runs of ``epochs + extra_epochs`` epochs with the same
    seed (so the same weights until the last ``extra_epochs``), the control as MPE-PSN throughout,
    the other with ``--finetune-as lif --finetune-epochs extra_epochs``; both measured every way."""
    total = str(args.epochs + args.extra_epochs)
    seed = str(args.closer_seed)
    closer: dict = {"seed": args.closer_seed, "extra_epochs": args.extra_epochs, "epochs": args.epochs + args.extra_epochs}
    study["closer"] = closer
    for name, extra in (("control", []), ("finetuned", ["--finetune-as", "lif", "--finetune-epochs", str(args.extra_epochs)])):
        run = out / "runs" / f"mpe-s{seed}-{name}"
        if run.exists():
            shutil.rmtree(run)
        sh(["train", *common, "--epochs", total, "--neuron", "mpe", "--seed", seed, "--name", run.name, *extra], log)
        closer[name] = deploy(run, out / "analyze" / f"mpe-s{seed}-{name}", args.bernoulli_seeds, log)
        print(f"closer {name}: expected {100 * closer[name]['expected']:.1f}%, LIF {100 * closer[name]['lif']:.1f}%",
              flush=True)
        save(study, out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/deploy-gap-study"))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--extra-epochs", type=int, default=2, help="epochs of the gap closer (and its control)")
    parser.add_argument("--num-train", type=int, default=1000)
    parser.add_argument("--num-test", type=int, default=300)
    parser.add_argument("--bernoulli-seeds", type=int, default=5)
    parser.add_argument("--skip-closer", action="store_true", help="no gap closer")
    parser.add_argument("--only-closer", action="store_true", help="only the gap closer (no seeds)")
    parser.add_argument("--closer-seed", type=int, default=0, help="seed of the gap closer's runs")
    parser.add_argument("--stop-after-minutes", type=float, default=40.0, help="start no new seed after this")
    args = parser.parse_args()

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    log = out / "commands.log"
    cache = out / "cache"
    data = ["--data-option", "difficulty=hard", "--data-option", f"num_train={args.num_train}",
            "--data-option", f"num_test={args.num_test}"]
    common = [*data, "--epochs", str(args.epochs), "--cache-dir", str(cache), "--out", str(out / "runs"), "--quiet"]
    study = {
        "setup": {"train_args": "mpe-psn train " + " ".join(common[:-5]) + " --neuron N --seed S (small net, preset defaults)",
                  "machine": f"{platform.machine()} CPU, {platform.processor() or 'unknown'}, shared",
                  "date": datetime.date.today().isoformat(), "python": platform.python_version(),
                  "bernoulli_seeds": args.bernoulli_seeds},
        "seeds": [],
    }
    start = time.monotonic()
    if args.only_closer:
        run_closer(study, args, common, out, log)
        print(markdown(study), flush=True)
        return 0
    for seed in range(args.seeds):
        if time.monotonic() - start > 60 * args.stop_after_minutes:
            print(f"stopping before seed {seed}: {args.stop_after_minutes} minutes passed", flush=True)
            break
        entry: dict = {"seed": seed, "train": {}, "seconds": {}}
        study["seeds"].append(entry)
        for neuron in NEURONS:
            run = out / "runs" / f"{neuron}-s{seed}"
            if run.exists():
                shutil.rmtree(run)
            t0 = time.monotonic()
            sh(["train", *common, "--neuron", neuron, "--seed", str(seed), "--name", run.name], log)
            entry["train"][neuron] = final_acc(run)
            entry["seconds"][neuron] = time.monotonic() - t0
            print(f"seed {seed} {neuron}: {100 * entry['train'][neuron]:.1f}% in {entry['seconds'][neuron]:.0f} s", flush=True)
            save(study, out)
        mpe_run = out / "runs" / f"mpe-s{seed}"
        gap = deploy(mpe_run, out / "analyze" / f"mpe-s{seed}", args.bernoulli_seeds, log)
        gap["bernoulli_seeds"] = args.bernoulli_seeds
        entry["deploy"] = gap
        print(f"seed {seed} deploy: expected {100 * gap['expected']:.1f}%, LIF {100 * gap['lif']:.1f}%", flush=True)
        save(study, out)
        if seed == args.closer_seed and args.extra_epochs > 0 and not args.skip_closer:
            run_closer(study, args, common, out, log)
    print(markdown(study), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
