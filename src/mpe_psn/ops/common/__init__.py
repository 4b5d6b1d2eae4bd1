"""What every fused op (``ops/mpe``, ``ops/lif``, ...) shares, so no op borrows another's private parts.

* ``codes.py``: the surrogate codes the kernels are specialised on (imports nothing);
* ``numba_math.py``: numba device functions and float32 constants (the surrogate's gradient,
  ``exp``, ``sigmoid``, ``BLOCK``), inlined into the CPU kernels;
* ``triton_math.py``: Triton helpers (64-bit offsets, the surrogate's gradient);
* ``threads.py``: the thread pool that splits the CPU kernels' neuron blocks;
* ``tensors.py``: what the hosts ask of a tensor before a launch (``is_constant``).
* ``triton_ops.py``: naming the kernels each ``triton_op`` launches, for torch's compile caches.

Nothing here imports an op's package; each op imports from here.
"""
