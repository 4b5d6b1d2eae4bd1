"""``mpe-psn bench open``: the Open Neuromorphic "SNN library benchmarks" set-up, every library in one run.

One ``Linear(n, n)`` over all T steps, then one spiking layer of n neurons; batch 16; input
[T, 16, n] (Gaussian, the same for every row); one forward + backward of ``spikes.sum()``
(+ 0.01 L_mem for MPE-PSN, as in training). Published on one GPU at T = 500 and n = 512 .. 16k;
the CPU default is a scaled grid (T = 100, n = 256 and 1024).

Rows: this project's MPE-PSN fused and plain (reference) and exact LIF (fused, and as a PyTorch loop); SpikingJelly's
``LIFNode`` (each backend it has on the device: torch on the CPU; cuda, triton and torch on
CUDA) and ``PSN``; snnTorch's ``Leaky``; Norse's ``LIFBoxCell`` in a loop, plain and
``torch.compile``'d. Every LIF is the same neuron, ``H = 0.5 V + x``, hard reset to 0, firing
above 1 (SpikingJelly: ``decay_input=False``, tau 2 and a threshold one float32 above 1, since
it fires at ``>=``; Norse: ``dt / tau_mem = 0.5`` on the input doubled). The built-in check:
the exact LIFs must report the same spike count (Norse's charge rounds differently, so it is
allowed a relative 1e-5), else the run fails.
"""

from __future__ import annotations

import importlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from mpe_psn.bench.timing import median_ms, peak_memory_bytes, run_meta, saved_bytes
from mpe_psn.errors import UsageError
from mpe_psn.models.neuron_factory import SnnTorchLeaky
from mpe_psn.neurons import LIF, MPEPSN
from mpe_psn.utils.atomic import atomic_write_json, atomic_write_text
from mpe_psn.utils.plotting import new_figure, save_figure

__all__ = ["OpenGrid", "OPEN_LIBRARIES", "run_open_bench", "open_markdown", "open_plot", "write_open_results", "run_open_command"]

DECAY, THRESHOLD, BATCH = 0.5, 1.0, 16
GPU_T, GPU_NS = 500, (512, 1024, 2048, 4096, 8192, 16384)
CPU_T, CPU_NS = 100, (256, 1024)
OPEN_LIBRARIES = ("mpe-fused", "mpe-plain", "mpe-lif", "mpe-lif-loop", "sj-lif", "sj-psn", "snntorch", "norse", "norse-compiled")
_NORSE_TOLERANCE = 1e-5


@dataclass
class OpenGrid:
    T: int = CPU_T
    ns: tuple[int, ...] = CPU_NS
    batch: int = BATCH
    libraries: tuple[str, ...] = OPEN_LIBRARIES
    device: str = "cpu"
    repeats: int = 5
    warmup: int = 1
    compile: bool | None = None  # None: on CUDA only
    seed: int = 0
    skipped: dict[str, str] = field(default_factory=dict)


class _Neuron(nn.Module):
    """A spiking layer [T, B, n] -> spikes, with an optional extra loss (MPE-PSN's L_mem)."""

    def __init__(self, step: Callable[[torch.Tensor], torch.Tensor], extra: Callable[[], "torch.Tensor | None"] = lambda: None):
        super().__init__()
        self.step, self.extra = step, extra

    def forward(self, x):
        return self.step(x)


def _sj_lif(backend: str | None):
    from spikingjelly.activation_based import neuron

    node = neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=float(torch.tensor(THRESHOLD).nextafter(torch.tensor(2.0))),
                          v_reset=0.0, step_mode="m")

    def run(x):
        _select_sj_backend(backend, x.device)
        node.reset()
        return node(x)

    return run


def _select_sj_backend(backend: str | None, device: torch.device) -> None:
    """SpikingJelly 2.0 picks its CUDA LIF kernel once (env SJ_LIF_CUDA_IMPLEMENTATION); switch it here."""
    if backend is None or device.type != "cuda":
        return
    from spikingjelly._ops import lif as sj_lif_ops

    selection = sj_lif_ops._selection
    if selection._requested != backend:
        selection._requested = backend
        selection._selections.clear()
        selection._compiled_selections.clear()


def _sj_backends(device: torch.device) -> list[str | None]:
    if device.type != "cuda":
        return [None]  # one CPU path
    available = []
    for backend in ("cuda", "triton", "torch"):
        try:
            _select_sj_backend(backend, device)
            from spikingjelly.activation_based import neuron

            neuron.LIFNode(step_mode="m").to(device)(torch.ones(2, 1, 4, device=device))
            available.append(backend)
        except Exception:  # noqa: BLE001 - a backend that does not run here is left out
            continue
    return available


def _norse_box(compiled: bool):
    from norse.torch import LIFBoxCell
    from norse.torch.functional.lif_box import LIFBoxParameters

    cell = LIFBoxCell(LIFBoxParameters(tau_mem_inv=torch.tensor(1.0 - DECAY), v_th=torch.tensor(THRESHOLD)), dt=1.0)

    def run(x):
        state, out = None, []
        for x_t in x:
            z, state = cell(x_t / (1.0 - DECAY), state)  # dt / tau_mem = 1 - DECAY scales the input
            out.append(z)
        return torch.stack(out)

    return torch.compile(run) if compiled else run


def _layers(grid: OpenGrid, T: int, device: torch.device) -> list[tuple[str, _Neuron, str]]:
    """(row name, layer, kind) where kind is "exact" (checked), "rounding" (checked with
    tolerance) or "other" (MPE-PSN, PSN: not the LIF)."""
    rows = []
    for lib in grid.libraries:
        if lib in ("mpe-fused", "mpe-plain"):
            mpe = MPEPSN(tau=DECAY, threshold=THRESHOLD, learn_threshold=False, backend="auto" if lib == "mpe-fused" else "reference").to(device)
            rows.append((lib, _Neuron(mpe, lambda mpe=mpe: mpe.mem_loss), "other"))
        elif lib in ("mpe-lif", "mpe-lif-loop"):  # the fused exact LIF, and the same LIF as a PyTorch loop
            backend = "auto" if lib == "mpe-lif" else "reference"
            rows.append((lib, _Neuron(LIF(tau=DECAY, threshold=THRESHOLD, learn_threshold=False, backend=backend).to(device)),
                         "exact"))
        elif lib == "sj-lif":
            for backend in _sj_backends(device):
                rows.append((f"sj-lif-{backend or 'torch'}", _Neuron(_sj_lif(backend)), "exact"))
        elif lib == "sj-psn":
            from spikingjelly.activation_based import neuron

            psn = neuron.PSN(T=T).to(device)
            rows.append((lib, _Neuron(psn), "other"))
        elif lib == "snntorch":
            rows.append((lib, _Neuron(SnnTorchLeaky(tau=DECAY, threshold=THRESHOLD).to(device)), "exact"))
        elif lib == "norse":
            rows.append((lib, _Neuron(_norse_box(False)), "rounding"))
        elif lib == "norse-compiled":
            rows.append((lib, _Neuron(_norse_box(True)), "rounding"))
    return rows


def resolve_libraries(grid: OpenGrid) -> None:
    """Drop the libraries that cannot run here, with the reason in ``grid.skipped``."""
    wanted = []
    modules = {"sj-lif": "spikingjelly.activation_based.neuron", "sj-psn": "spikingjelly.activation_based.neuron",
               "snntorch": "snntorch", "norse": "norse.torch", "norse-compiled": "norse.torch"}
    compile_on = grid.compile if grid.compile is not None else grid.device.startswith("cuda")
    for lib in grid.libraries:
        if lib not in OPEN_LIBRARIES:
            raise ValueError(f"unknown library {lib!r}; choose from {list(OPEN_LIBRARIES)}")
        if lib in modules:
            try:
                importlib.import_module(modules[lib])
            except Exception as error:  # noqa: BLE001
                grid.skipped[lib] = f"not installed ({type(error).__name__}; pip install 'mpe-psn[rivals]')"
                continue
        if lib == "norse-compiled" and not compile_on:
            grid.skipped[lib] = ("torch.compile unrolls the T-step loop, which takes minutes to compile on a CPU; "
                                 "skipped there by default (--compile to run it)")
            continue
        wanted.append(lib)
    grid.libraries = tuple(wanted)


def _measure(model: nn.Sequential, x: torch.Tensor, grid: OpenGrid, device: torch.device) -> dict:
    neuron = model[1]

    def forward_backward():
        model.zero_grad(set_to_none=True)
        spikes = model(x)
        loss = spikes.float().sum()
        extra = neuron.extra()
        if extra is not None:
            loss = loss + 0.01 * extra
        loss.backward()

    start = time.perf_counter()
    forward_backward()  # the first call: compile time, where there is one
    first_ms = (time.perf_counter() - start) * 1e3
    ms = median_ms(forward_backward, device, grid.repeats, grid.warmup)
    with torch.no_grad():
        spikes = int(model(x).sum().item())
    return {
        "ms": ms,
        "first_call_ms": first_ms,
        "peak_bytes": peak_memory_bytes(forward_backward, device),
        "saved_bytes": saved_bytes(lambda: model(x)),
        "spikes": spikes,
        "rate": spikes / x.numel(),
    }


def cross_check(rows: list[dict]) -> None:
    """Raise ``RuntimeError`` unless every exact LIF row at a point reports the same spike count."""
    for n in sorted({r["n"] for r in rows}):
        at = [r for r in rows if r["n"] == n and r.get("status") == "ok"]
        exact = {r["library"]: r["spikes"] for r in at if r["kind"] == "exact"}
        if len(set(exact.values())) > 1:
            raise RuntimeError(f"open bench cross-check failed at n = {n}: the exact LIFs disagree on the spike count {exact}")
        reference = next(iter(exact.values()), None)
        for r in at:
            if r["kind"] == "rounding" and reference is not None:
                if abs(r["spikes"] - reference) > _NORSE_TOLERANCE * max(reference, 1):
                    raise RuntimeError(
                        f"open bench cross-check failed at n = {n}: {r['library']} gives {r['spikes']} spikes, "
                        f"the exact LIFs {reference}"
                    )


def run_open_bench(grid: OpenGrid, progress: bool = True) -> dict:
    """Run every library at every n; returns ``{"meta": ..., "rows": [...]}`` (JSON-ready)."""
    device = torch.device(grid.device)
    if grid.compile is None:
        grid.compile = device.type == "cuda"
    resolve_libraries(grid)
    rows: list[dict] = []
    gen = torch.Generator().manual_seed(grid.seed)
    for n in tqdm(grid.ns, desc="open bench", unit="n", disable=not progress):
        x = torch.randn(grid.T, grid.batch, n, generator=gen).to(device)
        linear = nn.Linear(n, n)
        with torch.no_grad():
            linear.weight.normal_(0.0, 2.0 / math.sqrt(n), generator=gen)  # the same input scale for all
            linear.bias.fill_(0.5)
        for name, neuron, kind in _layers(grid, grid.T, device):
            model = nn.Sequential(_copy_linear(linear, device), neuron)
            row = {"library": name, "kind": kind, "T": grid.T, "n": n, "batch": grid.batch}
            try:
                row.update(_measure(model, x, grid, device))
                row["status"] = "ok"
            except torch.cuda.OutOfMemoryError:
                row["status"] = "out of memory"
                torch.cuda.empty_cache()
            rows.append(row)
    cross_check(rows)
    return {
        "meta": run_meta("open", device, grid={k: v for k, v in asdict(grid).items() if k != "skipped"},
                         skipped=dict(grid.skipped), threads=torch.get_num_threads()),
        "rows": rows,
    }


def _copy_linear(linear: nn.Linear, device: torch.device) -> nn.Linear:
    copy = nn.Linear(linear.in_features, linear.out_features).to(device)
    copy.load_state_dict(linear.state_dict())
    return copy


def open_markdown(result: dict) -> str:
    """One row per library: milliseconds per forward+backward at each n, spike rate, memory."""
    meta, rows = result["meta"], result["rows"]
    ns = sorted({r["n"] for r in rows})
    libs = list(dict.fromkeys(r["library"] for r in rows))
    by = {(r["library"], r["n"]): r for r in rows}
    gpu = any(r.get("peak_bytes") is not None for r in rows)
    mem_head = "peak CUDA MiB" if gpu else "saved for backward MiB"
    lines = [
        f"Open benchmark on {meta['device']} (torch threads: {meta['threads']}), torch {meta['torch']}, {meta['date']}.",
        f"Linear(n, n) then one spiking layer; batch {meta['grid']['batch']}, T = {meta['grid']['T']}; "
        f"forward + backward, median of {meta['grid']['repeats']} runs, milliseconds. "
        "Spike rate and memory at the largest n.",
        "",
        "| library | " + " | ".join(f"n = {n}" for n in ns) + f" | spike rate | {mem_head} |",
        "|---|" + "---|" * (len(ns) + 2),
    ]
    for lib in libs:
        cells = []
        for n in ns:
            r = by.get((lib, n))
            cells.append(f"{r['ms']:.1f}" if r and r.get("status") == "ok" else (r or {}).get("status", "-"))
        last = by.get((lib, ns[-1]), {})
        rate = f"{last['rate']:.4f}" if last.get("status") == "ok" else "-"
        mem_bytes = last.get("peak_bytes") if gpu else last.get("saved_bytes")
        mem = f"{mem_bytes / 2**20:.1f}" if mem_bytes is not None else "-"
        lines.append(f"| {lib} | " + " | ".join(cells) + f" | {rate} | {mem} |")
    lines += ["", "Cross-check passed: every exact LIF (mpe-lif, mpe-lif-loop, sj-lif, snntorch, norse) reported the same spike count"
              " (norse within a relative 1e-5)."]
    if meta.get("skipped"):
        lines += ["", "Not run: " + "; ".join(f"{k} ({v})" for k, v in meta["skipped"].items())]
    return "\n".join(lines) + "\n"


def open_plot(result: dict, path) -> bool:
    """PNG: milliseconds per forward+backward against n, one line per library (log-log)."""
    rows = [r for r in result["rows"] if r.get("status") == "ok"]
    if not rows:
        return False
    fig, axes = new_figure(1, 1, width=5.0, height=3.6, squeeze=False)
    ax = axes[0][0]
    for lib in dict.fromkeys(r["library"] for r in rows):
        points = sorted((r["n"], r["ms"]) for r in rows if r["library"] == lib)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=lib)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("neurons n")
    ax.set_ylabel("ms per forward + backward")
    ax.set_title(f"Open benchmark, T = {result['meta']['grid']['T']}: {result['meta']['device']}")
    ax.legend(fontsize=7)
    save_figure(fig, path)
    return True


def write_open_results(result: dict, out_dir) -> list:
    """``open.json``, ``open.md`` and ``open.png`` in ``out_dir`` (atomic writes)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "open.json", out_dir / "open.md"]
    atomic_write_json(written[0], result)
    atomic_write_text(written[1], open_markdown(result))
    if open_plot(result, out_dir / "open.png"):
        written.append(out_dir / "open.png")
    return written


def run_open_command(args, device: str) -> int:
    """``mpe-psn bench open`` after the shared flags were applied (see mpe_psn.commands.bench)."""
    cuda = device.startswith("cuda")
    grid = OpenGrid(
        T=args.T or (GPU_T if cuda else CPU_T),
        ns=tuple(args.n or (GPU_NS if cuda else CPU_NS)),
        batch=args.batch,
        libraries=tuple(args.libraries or OPEN_LIBRARIES),
        device=device,
        repeats=args.repeats,
        warmup=args.warmup,
        compile=args.compile,
    )
    try:
        result = run_open_bench(grid, progress=not args.no_progress)
    except ValueError as error:
        raise UsageError(str(error)) from error
    paths = write_open_results(result, args.out)
    for path in paths:
        print(f"wrote {path}")
    print(open_markdown(result))
    return 0
