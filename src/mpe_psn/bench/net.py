"""The network benchmark: one SGD training step of a paper network with each neuron.

Random event frames (10 % ones) [T, B, C, H, W], cross-entropy over all steps + 0.01 times the
MPE-PSN layers' membrane loss, backward, SGD step. "amp" runs the forward under bfloat16
autocast. Neurons: ``mpe`` (MPE-PSN on the fastest path, ``backend="auto"``), ``mpe-reference``
(the same neuron written plainly), ``lif`` (step-by-step), ``psn``, ``sj-lif`` (SpikingJelly).
"""

from __future__ import annotations


import torch

from mpe_psn.bench.rivals import spikingjelly_available
from mpe_psn.bench.timing import median_ms, peak_memory_bytes, run_meta

NET_NEURONS = ("mpe", "mpe-reference", "lif", "psn", "sj-lif")
PRECISIONS = ("fp32", "amp")


def _build(model: str, neuron: str, T: int, num_classes: int, input_size: int | None):
    from mpe_psn.models import MODELS, build_model

    spec = MODELS[model]
    options = {"backend": "reference"} if neuron == "mpe-reference" else None
    net = build_model(
        model, neuron="mpe" if neuron == "mpe-reference" else neuron, T=T, num_classes=num_classes,
        in_channels=spec.in_channels, input_size=input_size, neuron_options=options,
    )
    return net, spec.in_channels, spec.input_size if input_size is None else input_size


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
) -> dict:
    """Time one training step per (batch, precision, neuron); returns a JSON-ready dict."""
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    from mpe_psn.losses import membrane_loss

    dev = torch.device(device)
    skipped: dict[str, str] = {}
    runnable = []
    for neuron in neurons:
        if neuron not in NET_NEURONS:
            raise ValueError(f"unknown neuron {neuron!r}; choose from {list(NET_NEURONS)}")
        if neuron == "sj-lif" and not spikingjelly_available():
            skipped[neuron] = "SpikingJelly is not installed"
        else:
            runnable.append(neuron)
    for p in precisions:
        if p not in PRECISIONS:
            raise ValueError(f"unknown precision {p!r}; choose from {list(PRECISIONS)}")
    rows = []
    size = None
    bar = tqdm(total=len(batches) * len(precisions) * len(runnable), desc="net bench", unit="run", disable=not progress)
    for batch in batches:
        for precision in precisions:
            for neuron in runnable:
                torch.manual_seed(seed)
                net, channels, size = _build(model, neuron, T, num_classes, input_size)
                net = net.to(dev).train()
                opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
                x = (torch.rand(T, batch, channels, size, size) < 0.1).float().to(dev)
                y = torch.randint(num_classes, (batch,)).to(dev)

                def step():
                    opt.zero_grad(set_to_none=True)
                    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "amp"):
                        out = net(x)
                    loss = F.cross_entropy(out.float().flatten(0, 1), y.repeat(T)) + 0.01 * membrane_loss(net)
                    loss.backward()
                    opt.step()

                row = {"batch": batch, "precision": precision, "neuron": neuron}
                try:
                    row["ms"] = median_ms(step, dev, repeats, warmup)
                    row["peak_bytes"] = peak_memory_bytes(step, dev)
                    row["status"] = "ok"
                except torch.cuda.OutOfMemoryError:
                    row["status"] = "out of memory"
                    torch.cuda.empty_cache()
                rows.append(row)
                bar.update(1)
    bar.close()
    return {
        "meta": run_meta("net", dev, model=model, T=T, input=f"{size}x{size}", repeats=repeats, skipped=skipped),
        "rows": rows,
    }
