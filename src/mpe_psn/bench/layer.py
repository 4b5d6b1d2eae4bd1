"""The layer benchmark: every method on a grid of T x N, forward and forward+backward.

For each grid point ``x`` is [T, N] float32 (Gaussian, mean 0.5). Each row records the median
time of:

* ``fwdbwd_ms``, the training step users run: the layer on a fresh leaf, then
  ``loss = spikes.sum() + 0.01 L_mem`` (MPE-PSN's membrane loss; other layers have none) and
  ``backward()``;
* ``fwdbwd_spikes_ms``: the same with ``loss = spikes.sum()`` alone (MPE-PSN rows only);
* ``fwd_ms``: the forward under ``torch.no_grad()``;
* ``inference_ms``: the forward under ``torch.inference_mode()``, PyTorch's standard
  inference context,

and the CUDA peak memory of fwd+bwd (GPU only) and the bytes autograd keeps for backward per
element. MPE-PSN rows also record ``fallbacks``: the settings that left the fused kernel for the
reference during the run (empty when the timings are the fused kernel's).

A method whose call at some size exceeded ``slow_ms`` is not run at larger N for that T (the
step-by-step LIF on a CPU), and an out-of-memory error marks the point instead of ending the run.

:func:`targets` turns one run into the speed targets of the fused layer (:data:`CPU_TARGETS`,
:data:`GPU_TARGETS`), each a ratio of two rows of the same run (so a loaded machine slows both
sides), met or not: forward against one sigmoid pass, the training step against the same step
with ``torch.sigmoid`` in place of the neuron (the host cost of a small layer), the expected
estimator against Bernoulli, forward + backward against SpikingJelly's LIF and the plain
PyTorch version, refinement (``refine_steps = 1``) against plain, inference (expected
estimator, no_grad) against SpikingJelly's LIF in eval; on the CPU also the fixed cost of a
call (fused forward minus sigmoid at 4 x 2^10, in ms), and where SpikingJelly's PSN stays ahead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from tqdm.auto import tqdm

from mpe_psn.bench.rivals import LAYER_METHODS, fused_backend, make_layer, spikingjelly_available
from mpe_psn.bench.timing import median_ms, paired_difference_ms, peak_memory_bytes, run_meta, saved_bytes
from mpe_psn.bench.verdicts import verdict
from mpe_psn.ops import fallbacks
from mpe_psn.utils.atomic import atomic_write_json

FULL_T = (4, 16, 64, 256)
FULL_N_EXP = (10, 12, 14, 16, 18, 20, 22, 24)
QUICK_T = (4, 16)
QUICK_N_EXP = (10, 12, 16)
#: rows that only feed :func:`targets` (no speed-up panel of their own)
TARGET_ONLY = ("sigmoid", "mpe-fused-refine1", "mpe-reference-refine1", "mpe-fused-expected", "sj-lif-eval")


@dataclass
class LayerGrid:
    """What to run."""

    Ts: tuple[int, ...] = FULL_T
    n_exps: tuple[int, ...] = FULL_N_EXP
    methods: tuple[str, ...] = LAYER_METHODS
    device: str = "cpu"
    repeats: int = 10
    warmup: int = 2
    max_elements: int = 2**28
    slow_ms: float = 2000.0
    seed: int = 0
    skipped_methods: dict[str, str] = field(default_factory=dict)


def resolve_methods(grid: LayerGrid) -> list[str]:
    """The requested methods that can run here; the others go to ``grid.skipped_methods``."""
    methods = []
    for method in grid.methods:
        if method not in LAYER_METHODS:
            raise ValueError(f"unknown method {method!r}; choose from {list(LAYER_METHODS)}")
        if method.startswith("sj-") and not spikingjelly_available():
            grid.skipped_methods[method] = "SpikingJelly is not installed (pip install 'mpe-psn[rivals]')"
            continue
        methods.append(method)
    return methods


def _no_grad_forward(layer, x: torch.Tensor):
    """A call of ``layer(x)`` under ``torch.no_grad()`` (the forward the tables time)."""

    def forward():
        with torch.no_grad():
            return layer(x)

    return forward


def _measure(method: str, T: int, x: torch.Tensor, grid: LayerGrid, device: torch.device) -> dict:
    layer = make_layer(method, T, device)
    forward = _no_grad_forward(layer, x)

    def forward_backward():
        leaf = x.detach().requires_grad_(True)
        spikes, extra = layer(leaf)
        loss = spikes.float().sum()
        if extra is not None:
            loss = loss + 0.01 * extra
        loss.backward()

    def spikes_backward():
        leaf = x.detach().requires_grad_(True)
        spikes, _ = layer(leaf)
        spikes.float().sum().backward()

    def inference():
        with torch.inference_mode():
            return layer(x)

    fwd = median_ms(forward, device, grid.repeats, grid.warmup)
    fwdbwd = median_ms(forward_backward, device, grid.repeats, grid.warmup)
    saved = saved_bytes(lambda: layer(x.detach().requires_grad_(True)))
    row = {
        "fwd_ms": fwd,
        "fwdbwd_ms": fwdbwd,
        "inference_ms": median_ms(inference, device, grid.repeats, grid.warmup),
        "peak_bytes": peak_memory_bytes(forward_backward, device),
        "saved_bytes_per_element": saved / x.numel(),
    }
    if method.startswith("mpe-"):
        row["fwdbwd_spikes_ms"] = median_ms(spikes_backward, device, grid.repeats, grid.warmup)
        row["fallbacks"] = fallbacks()
    return row


def run_layer_grid(grid: LayerGrid, progress: bool = True, partial_path: "str | None" = None) -> dict:
    """Run the grid; returns a JSON-ready dict ``{"meta": ..., "rows": [...], "speedups": [...]}``.

    With ``partial_path``, the rows measured so far are written there (atomically) after each
    grid point, so a run stopped by a time limit keeps what it measured.
    """
    device = torch.device(grid.device)
    methods = resolve_methods(grid)
    points = [(T, e) for T in grid.Ts for e in grid.n_exps if T * 2**e <= grid.max_elements]
    rows: list[dict] = []
    too_slow: set[tuple[str, int]] = set()
    gen = torch.Generator().manual_seed(grid.seed)
    bar = tqdm(total=len(points) * len(methods), desc="layer bench", unit="run", disable=not progress)
    for T, e in points:
        N = 2**e
        x = (torch.randn(T, N, generator=gen) + 0.5).to(device)
        for method in methods:
            row = {"T": T, "N": N, "method": method}
            if method == "mpe-fused":
                row["backend"] = fused_backend(device)
            if (method, T) in too_slow:
                row["status"] = f"skipped: slower than {grid.slow_ms:.0f} ms at a smaller N"
            else:
                try:
                    row.update(_measure(method, T, x, grid, device))
                    row["status"] = "ok"
                    if row["fwdbwd_ms"] > grid.slow_ms:
                        too_slow.add((method, T))
                except torch.cuda.OutOfMemoryError:
                    row["status"] = "out of memory"
                    torch.cuda.empty_cache()
            rows.append(row)
            bar.update(1)
        if device.type != "cuda" and (T, N) == FIXED_COST_POINT:
            _add_paired_fixed_cost(rows, x, grid)
        del x
        if partial_path is not None:
            atomic_write_json(partial_path, {"meta": _meta(grid, device), "rows": rows, "partial": True})
    bar.close()
    return {
        "meta": _meta(grid, device),
        "rows": rows,
        "speedups": speedups(rows),
        "targets": targets(rows, device.type),
    }


def _meta(grid: LayerGrid, device: torch.device) -> dict:
    return run_meta(
        "layer", device,
        grid={k: v for k, v in asdict(grid).items() if k != "skipped_methods"},
        skipped_methods=dict(grid.skipped_methods),
    )


def speedups(rows: list[dict], base: str = "mpe-fused") -> list[dict]:
    """``time(rival) / time(mpe-fused)`` per grid point, rival and mode (> 1: MPE-PSN is faster)."""
    table: dict[tuple[int, int], dict[str, dict]] = {}
    for row in rows:
        if row.get("status") == "ok":
            table.setdefault((row["T"], row["N"]), {})[row["method"]] = row
    out = []
    for (T, N), by_method in sorted(table.items()):
        if base not in by_method:
            continue
        for method, row in by_method.items():
            if method == base or method in TARGET_ONLY:
                continue
            out.append({
                "T": T, "N": N, "rival": method,
                "fwd": row["fwd_ms"] / by_method[base]["fwd_ms"],
                "fwdbwd": row["fwdbwd_ms"] / by_method[base]["fwdbwd_ms"],
            })
    return out


def _ratios(rows: list[dict], numerator: str, denominator: str, key: str, min_elements: int = 0,
            at: "tuple[int, int] | None" = None) -> list[dict]:
    """``row[numerator][key] / row[denominator][key]`` at every point both ran (T * N >= min_elements;
    only the point ``at`` = (T, N) when given).

    ``denominator`` may be ``"method:column"``: that column of that method's row.
    """
    by = {(r["T"], r["N"], r["method"]): r for r in rows if r.get("status") == "ok"}
    den_method, _, den_key = denominator.partition(":")
    out = []
    for (T, N, method), row in sorted(by.items()):
        other = by.get((T, N, den_method))
        value = None if other is None else other.get(den_key or key)
        if method == numerator and value and key in row and T * N >= min_elements and at in (None, (T, N)):
            out.append({"T": T, "N": N, "ratio": row[key] / value})
    return out


#: the point of the host-cost targets: a small layer, where the fixed cost of a call dominates
SMALL_POINT = (4, 2**10)
#: (name, what, numerator, denominator, time, T*N at least, bound, "max" (ratio <= bound) or "min" (>=)
#: [, the one point (T, N) it is measured at]); a denominator "method:key" takes another column
#: of that method's row (its L_mem-free step)
COMMON_TARGETS = (
    ("lmem-cost", "training step with L_mem within 1.3x of the spikes-only step",
     "mpe-fused", "mpe-fused:fwdbwd_spikes_ms", "fwdbwd_ms", 0, 1.3, "max"),
    ("expected-vs-bernoulli", "expected estimator's training step within 1.3x of Bernoulli's",
     "mpe-fused-expected", "mpe-fused", "fwdbwd_ms", 0, 1.3, "max"),
)
CPU_TARGETS = COMMON_TARGETS + (
    ("forward-vs-sigmoid", "forward within 3x of one sigmoid pass (T*N >= 16 x 2^16)", "mpe-fused", "sigmoid", "fwd_ms",
     16 * 2**16, 3.0, "max"),
    ("step-vs-sigmoid-small", "training step at 4 x 2^10 within 3x the same step with torch.sigmoid as the neuron",
     "mpe-fused", "sigmoid", "fwdbwd_ms", 0, 3.0, "max", SMALL_POINT),
    ("fwdbwd-vs-sj-lif", "forward+backward >= 3x faster than SpikingJelly LIF (T*N >= 2^20)",
     "sj-lif", "mpe-fused", "fwdbwd_ms", 2**20, 3.0, "min"),
    ("fwdbwd-vs-plain-large", "forward+backward >= 5x faster than plain (T*N >= 2^20)",
     "mpe-reference", "mpe-fused", "fwdbwd_ms", 2**20, 5.0, "min"),
    ("fwdbwd-vs-plain-everywhere", "forward+backward never slower than plain",
     "mpe-reference", "mpe-fused", "fwdbwd_ms", 0, 1.0, "min"),
    ("refine-vs-plain", "refine_steps=1 forward+backward >= 2x faster than plain",
     "mpe-reference-refine1", "mpe-fused-refine1", "fwdbwd_ms", 0, 2.0, "min"),
    ("inference-vs-sj-lif", "inference (expected, inference_mode) >= 3x faster than SpikingJelly LIF in eval",
     "sj-lif-eval", "mpe-fused-expected", "inference_ms", 0, 3.0, "min"),
)
GPU_TARGETS = COMMON_TARGETS + (
    ("fwdbwd-vs-copy", "forward+backward within 1.5x of a copy (T*N >= 2^24)",
     "mpe-fused", "copy", "fwdbwd_ms", 2**24, 1.5, "max"),
    ("fwdbwd-vs-sj-lif", "forward+backward >= 1.8x faster than SpikingJelly LIF (T*N >= 2^24)",
     "sj-lif", "mpe-fused", "fwdbwd_ms", 2**24, 1.8, "min"),
    ("fwdbwd-vs-sj-lif-everywhere", "forward+backward never slower than SpikingJelly LIF",
     "sj-lif", "mpe-fused", "fwdbwd_ms", 0, 1.0, "min"),
)
#: the fixed cost of a call: fused forward minus one sigmoid pass at 4 x 2^10, milliseconds
FIXED_COST_POINT, FIXED_COST_BOUND = SMALL_POINT, 0.03


def _add_paired_fixed_cost(rows: list[dict], x: torch.Tensor, grid: LayerGrid) -> None:
    """The fixed cost measured once more, the fused forward and the sigmoid pass interleaved
    (:func:`paired_difference_ms`), into the fused row as ``fixed_cost_ms``: the difference of two
    medians taken seconds apart carried the shared machine's drift (27-66 us in three runs of
    one build)."""
    T, N = FIXED_COST_POINT
    ok = {r["method"]: r for r in rows if (r["T"], r["N"]) == (T, N) and r.get("status") == "ok"}
    if "mpe-fused" not in ok or "sigmoid" not in ok:
        return
    fused, sigmoid = (_no_grad_forward(make_layer(method, T, x.device), x) for method in ("mpe-fused", "sigmoid"))
    ok["mpe-fused"]["fixed_cost_ms"] = paired_difference_ms(fused, sigmoid, max(grid.repeats, 10), grid.warmup)


def _fixed_cost(rows: list[dict]) -> dict:
    by = {(r["T"], r["N"], r["method"]): r for r in rows if r.get("status") == "ok"}
    T, N = FIXED_COST_POINT
    what = f"fixed cost per call (fused forward - sigmoid at {T} x 2^10) at most {FIXED_COST_BOUND * 1e3:.0f} us"
    fused, sigmoid = by.get((T, N, "mpe-fused")), by.get((T, N, "sigmoid"))
    if fused is None or sigmoid is None:
        return {"name": "fixed-cost", "what": what, "met": None, "worst": None, "points": []}
    point = {"T": T, "N": N, "ratio": fused.get("fixed_cost_ms", fused["fwd_ms"] - sigmoid["fwd_ms"])}
    return {"name": "fixed-cost", "what": what, "met": point["ratio"] <= FIXED_COST_BOUND, "worst": point,
            "bound": FIXED_COST_BOUND, "sense": "max", "points": [point], "unit": "ms"}


def targets(rows: list[dict], device_type: str = "cpu") -> list[dict]:
    """Each target of the device with its worst ratio over the grid and whether it is met.

    Also ``psn``: SpikingJelly PSN's forward+backward time over the fused layer's at every
    point (below 1: PSN is ahead there). A target whose rows did not run is ``met: None``.
    """
    out = []
    for name, what, num, den, key, min_elements, bound, sense, *at in (GPU_TARGETS if device_type == "cuda" else CPU_TARGETS):
        out.append(verdict(name, what, _ratios(rows, num, den, key, min_elements, at[0] if at else None), bound, sense))
    if device_type != "cuda":
        out.append(_fixed_cost(rows))
    out.append({"name": "psn", "what": "SpikingJelly PSN time / fused time (below 1: PSN ahead)", "met": None,
                "worst": None, "points": _ratios(rows, "sj-psn", "mpe-fused", "fwdbwd_ms")})
    return out
