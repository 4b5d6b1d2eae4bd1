"""The network benchmark: one training step and one inference pass of a network with each neuron.

Training step: cross-entropy over all steps + 0.01 times the MPE-PSN layers' membrane loss,
backward, SGD step ("amp": the forward under bfloat16 autocast). Inference: the network in
``eval()`` under ``torch.inference_mode()`` (MPE-PSN then uses its evaluation estimator).

Models: the paper's networks and the small net (random event frames, 10 % ones,
[T, B, C, H, W]) and ``shd-mlp``, a feed-forward net the size of the Spiking Heidelberg Digits
models (700 -> 256 -> 256 -> 20, Linear + neuron; Gaussian input [T, B, 700]), where long T
makes the sequential LIF's step loop the cost.

Neurons: ``mpe`` (MPE-PSN on the fastest path, ``backend="auto"``), ``mpe-reference`` (the same
neuron written plainly), ``lif`` (the exact LIF on its fused kernel, ``ops/lif``), ``lif-loop``
(the same LIF step by step in PyTorch), ``psn``, ``sj-lif`` (SpikingJelly, when
installed), ``snntorch`` (snnTorch's ``Leaky`` in a step loop, the same LIF: decay 0.25,
threshold 1, hard reset to 0; when installed) and ``relu`` (the same network with ReLU: the
floor any spiking neuron is measured against).
"""

from __future__ import annotations

import statistics

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from mpe_psn.bench.rivals import spikingjelly_available
from mpe_psn.bench.timing import median_ms, peak_memory_bytes, run_meta
from mpe_psn.bench.verdicts import verdict
from mpe_psn.losses import membrane_loss
from mpe_psn.models import MODELS, build_model, neuron_layers
from mpe_psn.ops import fallbacks

NET_NEURONS = ("mpe", "mpe-reference", "lif", "lif-loop", "psn", "sj-lif", "snntorch", "relu")
PRECISIONS = ("fp32", "amp")
#: the feed-forward workload of the temporal (SHD-sized) benchmark
SHD_MLP = "shd-mlp"
SHD_CHANNELS, SHD_HIDDEN, SHD_CLASSES = 700, 256, 20

#: the targets of a network run: (name, what, model, device type, numerator neuron, denominator
#: neuron, bound, "max" (ratio <= bound) or "min" (>=)); fp32 training steps, at every batch run
NET_TARGETS = (
    ("shd-mlp-vs-relu", "SHD MLP training step within 1.15x of the ReLU net", SHD_MLP, "cpu", "mpe", "relu", 1.15, "max"),
    ("shd-mlp-vs-sj-lif", "SHD MLP training step at least 2x faster than with SpikingJelly's LIF", SHD_MLP, "cpu",
     "sj-lif", "mpe", 2.0, "min"),
    ("shd-mlp-vs-relu-gpu", "SHD MLP training step within 1.3x of the ReLU net", SHD_MLP, "cuda", "mpe", "relu", 1.3, "max"),
    ("dvs-vs-relu-gpu", "DVS-Gesture net training step within 1.15x of the ReLU net", "dvsgesture-net", "cuda", "mpe",
     "relu", 1.15, "max"),
)


def net_targets(rows: list[dict], model: str, device_type: str) -> list[dict]:
    """Each target of ``model`` on the device: its worst ratio over the batches run (fp32 training
    step) and whether it is met; ``met: None`` when its rows did not run."""
    by = {(r["batch"], r["neuron"]): r["ms"] for r in rows if r.get("status") == "ok" and r["precision"] == "fp32"}
    out = []
    for name, what, target_model, target_device, num, den, bound, sense in NET_TARGETS:
        if (target_model, target_device) != (model, device_type):
            continue
        points = [{"batch": batch, "ratio": ms / by[(batch, den)]}
                  for (batch, neuron), ms in sorted(by.items()) if neuron == num and (batch, den) in by]
        out.append(verdict(name, what, points, bound, sense))
    return out


def snntorch_available() -> bool:
    try:
        import snntorch  # noqa: F401
    except Exception:
        return False
    return True


def _native(neuron: str) -> tuple[str, "dict | None"]:
    """The factory neuron a bench neuron is built with, and its options (``relu`` is built with
    the LIF, whose layers are then swapped for ReLU)."""
    if neuron in ("mpe-reference", "lif-loop"):  # the plain PyTorch path of the same neuron
        return neuron.split("-")[0], {"backend": "reference"}
    return ("lif" if neuron == "relu" else neuron), None


def shd_mlp(neuron: str, T: int) -> nn.Module:
    """700 -> 256 -> 256 -> 20: the registered ``mlp`` without batch norm; [T, B, 700] -> [T, B, 20]."""
    native, options = _native(neuron)
    return build_model("mlp", neuron=native, T=T, num_classes=SHD_CLASSES, in_channels=SHD_CHANNELS,
                       neuron_options=options, model_options={"hidden": SHD_HIDDEN, "depth": 2, "norm": False})


def _swap_neurons(net: nn.Module, factory) -> nn.Module:
    """Replace every neuron layer of ``net`` by ``factory()`` (ReLU) in place."""
    targets = {id(m) for m in neuron_layers(net)}
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if id(child) in targets:
                setattr(parent, name, factory())
    return net


def build_bench_net(model: str, neuron: str, T: int, num_classes: int, input_size: int | None):
    """``(net, input shape after [T, B])`` for ``model`` with ``neuron`` layers."""
    if model == SHD_MLP:
        net, shape = shd_mlp(neuron, T), (SHD_CHANNELS,)
    else:
        spec = MODELS[model]
        size = spec.input_size if input_size is None else input_size
        native, options = _native(neuron)
        net = build_model(model, neuron=native, T=T, num_classes=num_classes, in_channels=spec.in_channels,
                          input_size=size, neuron_options=options)
        shape = (spec.in_channels, size, size)
    if neuron == "relu":
        _swap_neurons(net, nn.ReLU)
    return net, shape


def resolve_neurons(neurons: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """The neurons that can run here, and why the others cannot."""
    runnable, skipped = [], {}
    for neuron in neurons:
        if neuron not in NET_NEURONS:
            raise ValueError(f"unknown neuron {neuron!r}; choose from {list(NET_NEURONS)}")
        if neuron == "sj-lif" and not spikingjelly_available():
            skipped[neuron] = "SpikingJelly is not installed (pip install 'mpe-psn[rivals]')"
        elif neuron == "snntorch" and not snntorch_available():
            skipped[neuron] = "snnTorch is not installed (pip install 'mpe-psn[rivals]')"
        else:
            runnable.append(neuron)
    return runnable, skipped


def _bench_case(model: str, neuron: str, T: int, batch: int, precision: str, num_classes: int,
                input_size: int | None, seed: int, dev: torch.device):
    """``(step, infer_ms, input shape)`` of one net: ``step()`` one SGD step (cross-entropy + 0.01
    L_mem), ``infer_ms(repeats, warmup)`` the median time of an inference pass (in eval mode)."""
    torch.manual_seed(seed)
    net, shape = build_bench_net(model, neuron, T, num_classes, input_size)
    net = net.to(dev).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    if model == SHD_MLP:
        x = torch.randn(T, batch, *shape).to(dev)
    else:
        x = (torch.rand(T, batch, *shape) < 0.1).float().to(dev)
    y = torch.randint(num_classes, (batch,)).to(dev)
    amp = precision == "amp"

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            out = net(x)
        loss = F.cross_entropy(out.float().flatten(0, 1), y.repeat(T)) + 0.01 * membrane_loss(net)
        loss.backward()
        opt.step()

    def infer():
        with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            return net(x)

    def infer_ms(repeats: int, warmup: int) -> float:
        net.eval()
        try:
            return median_ms(infer, dev, repeats, warmup)
        finally:
            net.train()

    return step, infer_ms, shape


def _unless_out_of_memory(row: dict, action) -> None:
    """``action()``, unless ``row``'s net already ran out of GPU memory; running out marks the row."""
    if row.get("status") == "out of memory":
        return
    try:
        action()
    except torch.cuda.OutOfMemoryError:
        row["status"] = "out of memory"
        torch.cuda.empty_cache()


def run_net_bench(
    model: str = "dvsgesture-net",
    T: int = 16,
    batches: tuple[int, ...] = (8,),
    neurons: tuple[str, ...] = NET_NEURONS,
    precisions: tuple[str, ...] = PRECISIONS,
    device: str = "cpu",
    repeats: int = 5,
    warmup: int = 2,
    num_classes: int = 11,
    input_size: int | None = None,
    seed: int = 0,
    progress: bool = True,
    rounds: int = 1,
) -> dict:
    """Time one training step and one inference pass per (batch, precision, neuron); JSON-ready dict.

    ``rounds``: the neurons' steps are timed in turn that many times (``repeats`` steps each per
    round) and a row's ``ms`` is the median of its rounds (``ms_rounds``), so a shared machine's
    drift falls on every neuron alike instead of on whichever ran during it.
    """
    dev = torch.device(device)
    runnable, skipped = resolve_neurons(neurons)
    for p in precisions:
        if p not in PRECISIONS:
            raise ValueError(f"unknown precision {p!r}; choose from {list(PRECISIONS)}")
    if model == SHD_MLP:
        num_classes = SHD_CLASSES
    rows = []
    shape: tuple[int, ...] = ()
    bar = tqdm(total=len(batches) * len(precisions) * len(runnable) * rounds, desc="net bench", unit="run",
               disable=not progress)
    for batch in batches:
        for precision in precisions:
            cases = []
            for neuron in runnable:
                step, infer, shape = _bench_case(model, neuron, T, batch, precision, num_classes, input_size, seed, dev)
                cases.append(({"batch": batch, "precision": precision, "neuron": neuron, "ms_rounds": []}, step, infer))
            for row, step, _ in cases:  # every net warm before any is timed: the process's first steps are slow
                _unless_out_of_memory(row, lambda: [step() for _ in range(warmup)])
            for _ in range(rounds):
                for row, step, _ in cases:
                    _unless_out_of_memory(row, lambda: row["ms_rounds"].append(median_ms(step, dev, repeats, warmup)))
                    bar.update(1)
            for row, step, infer in cases:

                def finish() -> None:
                    row["ms"] = statistics.median(row["ms_rounds"])
                    row["peak_bytes"] = peak_memory_bytes(step, dev)
                    row["infer_ms"] = infer(repeats, warmup)
                    row["status"] = "ok"

                _unless_out_of_memory(row, finish)
                if row["neuron"].startswith("mpe"):
                    row["fallbacks"] = fallbacks()
                rows.append(row)
            del cases
    bar.close()
    size = "x".join(str(s) for s in shape[1:]) if model != SHD_MLP else f"{shape[0]} channels"
    return {
        "meta": run_meta("net", dev, model=model, T=T, input=size, repeats=repeats, rounds=rounds, skipped=skipped),
        "rows": rows,
        "targets": net_targets(rows, model, dev.type),
    }
