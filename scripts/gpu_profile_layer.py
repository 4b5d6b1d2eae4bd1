"""Where the time of one small fused MPE-PSN training step goes on a GPU (host overhead).

    python scripts/gpu_profile_layer.py [--out DIR]

Times, on one [T, N] layer (median of 200 steps, CUDA events), the training step
(spikes.sum() + 0.01 L_mem, backward) of: a copy; the fused layer (autotuned launch); the fused
layer with a fixed block (no autotuner on the launch path); the fused layer with every Triton
launch skipped (host and PyTorch work alone); SpikingJelly's LIF where installed. Then a
torch.profiler table of the fused step's CPU time per operator. Writes profile.md to --out.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch


def median_ms(fn, repeats=200, warmup=20):
    from mpe_psn.bench.timing import median_ms as timed

    return timed(fn, torch.device("cuda"), repeats, warmup)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="gpu-results")
    args = parser.parse_args()
    from mpe_psn.ops import mpe_psn_layer
    from mpe_psn.ops.mpe import triton_host as H

    lines = [f"# Host overhead of the fused layer on {torch.cuda.get_device_name()}", ""]
    for T, N in ((16, 2**12), (16, 2**16), (256, 2**16), (16, 2**24)):
        x = torch.randn(T, N, device="cuda") + 0.5
        thr = torch.tensor(1.0, device="cuda", requires_grad=True)

        def fused_step():
            leaf = x.detach().requires_grad_(True)
            s, loss = mpe_psn_layer(leaf, thr, 0.25)
            (s.sum() + 0.01 * loss).backward()

        def fused_forward():
            with torch.inference_mode():
                mpe_psn_layer(x, thr, 0.25)

        def copy_step():
            leaf = x.detach().requires_grad_(True)
            (2.0 * leaf).sum().backward()

        row = {"copy": median_ms(copy_step), "fused": median_ms(fused_step), "fused inference": median_ms(fused_forward)}
        os.environ[H.BLOCK_ENV] = "256"
        row["fused, fixed block"] = median_ms(fused_step)
        del os.environ[H.BLOCK_ENV]
        real = H._launch
        H._launch = lambda *a, **k: None
        row["fused, launches skipped"] = median_ms(fused_step)
        H._launch = real
        try:
            from mpe_psn.models.neuron_factory import SpikingJellyLIF

            node = SpikingJellyLIF(tau=0.25, T=T).cuda()

            def sj_step():
                leaf = x.detach().requires_grad_(True)
                node(leaf).sum().backward()

            row["sj-lif"] = median_ms(sj_step)
        except Exception as error:  # SpikingJelly missing
            row["sj-lif"] = float("nan")
            print("sj-lif:", error, file=sys.stderr)
        lines.append(f"T={T} N=2^{N.bit_length() - 1}: " + ", ".join(f"{k} {v:.3f} ms" for k, v in row.items()))
        print(lines[-1], flush=True)

    x = torch.randn(16, 2**16, device="cuda") + 0.5
    thr = torch.tensor(1.0, device="cuda", requires_grad=True)

    def step():
        leaf = x.detach().requires_grad_(True)
        s, loss = mpe_psn_layer(leaf, thr, 0.25)
        (s.sum() + 0.01 * loss).backward()

    for _ in range(10):
        step()
    torch.cuda.synchronize()
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(50):
            step()
        torch.cuda.synchronize()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30)
    lines += ["", "## torch.profiler, 50 steps at T=16 N=2^16 (self CPU time)", "", "```", table, "```"]
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "profile.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
