"""Counter-based uniform noise: ``u = hash(seed, i)`` for the flat element index ``i``.

Every fused path (Triton, the numba CPU kernel) and this plain-torch version compute the
same 32-bit integer hash, so a seed gives the same Bernoulli sample everywhere and the
reference :func:`mpe_psn.functional.mpe_psn` given ``hash_uniform(seed, shape)`` as ``noise``
reproduces a fused run bit for bit.

The hash is Chris Wellons' "lowbias32" finaliser with two 31-bit keys mixed in::

    h = lo ^ (k1 + hi * 0x9E3779B9)       i = hi * 2**32 + lo (hi = 0 below 2**32 elements)
    h ^= h >> 16;  h *= 0x7FEB352D
    h ^= h >> 15;  h ^= k2;  h *= 0x846CA68B
    h ^= h >> 16
    u = (h >> 8) * 2**-24                 a float32 in [0, 1), exact on a 2**-24 grid

all in uint32 arithmetic (multiplication wraps mod 2**32). ``(k1, k2)`` come from the seed by
splitmix64 (:func:`seed_keys`). For a fixed key the map ``lo -> h`` is a bijection of 32-bit
integers, so no two elements among the first 2**32 share a hash input; every further 2**32
elements get their own key. Indices are int64 in every backend (see :func:`hash_index`).
"""

from __future__ import annotations

import threading

import torch

__all__ = ["M1", "M2", "MASK32", "KEY_STEP", "SPLITMIX", "SEED_BOUND", "seed_keys", "hash_index", "hash_uniform",
           "draw_seed", "draw_cpu_seed"]

M1 = 0x7FEB352D
M2 = 0x846CA68B
MASK32 = 0xFFFFFFFF
KEY_STEP = 0x9E3779B9  # the key of the elements from hi * 2**32 on is k1 + hi * KEY_STEP (mod 2**32)
#: splitmix64's increment and two multipliers (``seed_keys``; the kernels repeat it in uint64)
SPLITMIX = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB)
#: seeds are drawn uniformly from [0, SEED_BOUND)
SEED_BOUND = 2**62
_MASK64 = (1 << 64) - 1


def seed_keys(seed: int) -> tuple[int, int]:
    """Two 31-bit keys from an integer seed (splitmix64 of the seed, high and low halves).

    The kernels compute the same keys from the seed's memory (``cpu_kernels._seed_keys``,
    ``triton_kernels._seed_keys``), so the host never reads the seed.
    """
    add, m1, m2 = SPLITMIX
    z = (int(seed) + add) & _MASK64
    z = ((z ^ (z >> 30)) * m1) & _MASK64
    z = ((z ^ (z >> 27)) * m2) & _MASK64
    z ^= z >> 31
    return (z >> 33) & 0x7FFFFFFF, z & 0x7FFFFFFF


_reusable = threading.local()


def draw_seed(generator: torch.Generator | None = None, device: "torch.device | str | None" = None,
              reuse: bool = False) -> torch.Tensor:
    """A fresh seed: a 0-dim int64 tensor on ``device`` (default: the generator's, else the CPU).

    One ``randint`` from ``generator``, or from the default generator of ``device`` (torch's
    global RNG on the CPU, the device's own on a GPU), so ``torch.manual_seed`` makes fused runs
    reproducible. The kernels read the seed from its memory: no host read, no synchronisation.
    A generator on another device than ``device`` draws there and the value is copied over
    without blocking.

    ``reuse`` (a CPU seed read once, by the forward, before the next draw on this thread): the
    value lands in this thread's own 0-dim tensor (``random_``, the same value ``randint``
    draws) instead of a new one, which halves the cost of a draw.
    """
    where = torch.device(device) if device is not None else (generator.device if generator is not None else torch.device("cpu"))
    source = generator.device if generator is not None else where
    if reuse and where.type == "cpu" and source.type == "cpu":
        return draw_cpu_seed(generator)
    seed = torch.randint(0, SEED_BOUND, (), generator=generator, device=source, dtype=torch.int64)
    return seed if source == where else seed.to(where, non_blocking=True)


def draw_cpu_seed(generator: torch.Generator | None = None) -> torch.Tensor:
    """``draw_seed(generator, "cpu", reuse=True)``: the value in this thread's own 0-dim CPU
    tensor, for a seed read once before the next draw (the CPU kernel's forward). ``generator``
    on another device than the CPU draws there, as :func:`draw_seed` does."""
    if generator is not None and generator.device.type != "cpu":
        return draw_seed(generator, "cpu")
    buffer = getattr(_reusable, "seed", None)
    if buffer is None:
        with torch.inference_mode(False):  # a normal tensor: updated in place in and out of inference mode
            buffer = _reusable.seed = torch.empty((), dtype=torch.int64)
    return buffer.random_(0, SEED_BOUND, generator=generator)


def hash_index(index: torch.Tensor, k1: int, k2: int) -> torch.Tensor:
    """The uniform float32 of each int64 flat index in ``index`` (any shape) for keys ``(k1, k2)``."""
    index = index.to(torch.int64)
    key = (k1 + (index >> 32) * KEY_STEP) & MASK32
    h = (index & MASK32) ^ key
    h = h ^ (h >> 16)
    h = (h * M1) & MASK32
    h = h ^ (h >> 15)
    h = h ^ k2
    h = (h * M2) & MASK32  # int64 products wrap; the low 32 bits are exact
    h = h ^ (h >> 16)
    return (h >> 8).to(torch.float32) * (2.0**-24)


def hash_uniform(seed: int, shape: "tuple[int, ...] | torch.Size", device: "torch.device | str" = "cpu") -> torch.Tensor:
    """The fused kernels' uniform noise for a contiguous tensor of ``shape``, as float32."""
    k1, k2 = seed_keys(seed)
    numel = 1
    for size in shape:
        numel *= int(size)
    return hash_index(torch.arange(numel, dtype=torch.int64, device=device), k1, k2).reshape(tuple(shape))
