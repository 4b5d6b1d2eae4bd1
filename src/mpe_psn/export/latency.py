"""Graph size and inference latency of an exported network: onnxruntime beside PyTorch.

``python -m mpe_psn.export.latency [--model small] [--T 8] [--batch 32] [--size 32] [--repeats 20]``
prints one JSON object: for the expected estimator and the exact-LIF variant, the ONNX file's
size and node count, and the median wall time of one forward pass on the CPU in PyTorch
(eval mode; the reference path that is exported, and the fused CPU kernel used in training)
and in onnxruntime. Untrained weights:
latency does not depend on them. One measurement, not a benchmark suite: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from mpe_psn.export.onnx_export import prepare_for_export, to_onnx
from mpe_psn.models import build_model
from mpe_psn.neurons import MPEPSN, configure


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(model_name: str = "small", T: int = 8, batch: int = 32, size: int = 32, repeats: int = 20,
            threads: int | None = None) -> dict:
    """Export ``model_name`` both ways and time PyTorch against onnxruntime on the same input."""
    import onnxruntime as ort

    torch.manual_seed(0)
    model = build_model(model_name, neuron="mpe", T=T, num_classes=10, input_size=size).eval()
    frames = (torch.rand(T, batch, model.in_channels, size, size) < 0.2).float()
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    report = {"model": model_name, "T": T, "batch": batch, "size": size, "repeats": repeats,
              "torch_threads": torch.get_num_threads(), "variants": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for exact in (False, True):
            path = Path(tmp) / f"net-{exact}.onnx"
            start = time.perf_counter()
            info = to_onnx(model, path, frames[:, :1], exact_lif=exact)
            export_s = time.perf_counter() - start
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            prepared = prepare_for_export(model, T, exact)
            feed = {"frames": frames.numpy()}
            fused = prepare_for_export(model, T, exact)
            configure(fused, MPEPSN, backend="auto")  # the fused CPU kernel, as in training
            with torch.no_grad():
                torch_s = _median_seconds(lambda: prepared(frames), repeats)
                fused_s = _median_seconds(lambda: fused(frames), repeats)
                diff = float((torch.from_numpy(session.run(None, feed)[0]) - prepared(frames)).abs().max())
            ort_s = _median_seconds(lambda: session.run(None, feed), repeats)
            report["variants"]["exact_lif" if exact else "expected"] = {
                "onnx_bytes": info["bytes"], "onnx_nodes": info["nodes"], "export_seconds": round(export_s, 2),
                "torch_reference_ms": round(1e3 * torch_s, 2), "torch_fused_ms": round(1e3 * fused_s, 2), "onnxruntime_ms": round(1e3 * ort_s, 2),
                "max_abs_logit_diff": diff,
            }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m mpe_psn.export.latency", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="small")
    parser.add_argument("--T", type=int, default=8)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: its own)")
    args = parser.parse_args()
    print(json.dumps(measure(args.model, args.T, args.batch, args.size, args.repeats, args.threads), indent=2))


if __name__ == "__main__":
    main()
