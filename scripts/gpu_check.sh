#!/usr/bin/env bash
# One-shot GPU check of the fused MPE-PSN kernels (issue 3): the GPU tests, then the layer and
# network benchmarks. Results go under $OUT (default ./gpu-results): env.txt, tests.log,
# layer.{json,md}, layer_speedup.png, net.{json,md}. About 8 minutes on one H100/H200.
#
#   bash scripts/gpu_check.sh             # on the GPU machine, from the repository root
#   bash scripts/gpu_check.sh --reduced   # a dry run on a CPU: tiny grids, checks the script starts
#
# SpikingJelly (the rival) is optional; if wheels sit in .whl/ they are installed to /tmp/site.
set -uo pipefail
REDUCED=0
[[ "${1:-}" == "--reduced" ]] && REDUCED=1
OUT="${OUT:-gpu-results}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi

"$PY" - > "$OUT/env.txt" 2>&1 <<'PYEOF'
import datetime, platform, torch
print("date", datetime.datetime.now(datetime.timezone.utc).isoformat())
print("torch", torch.__version__, "cuda", torch.version.cuda, "python", platform.python_version())
try:
    import triton; print("triton", triton.__version__)
except Exception as e: print("triton missing", e)
try:
    import spikingjelly; print("spikingjelly", getattr(spikingjelly, "__version__", "?"))
except Exception as e: print("spikingjelly missing", e)
print("device", torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA device")
PYEOF
cat "$OUT/env.txt"

if [[ $REDUCED == 1 ]]; then
  TESTS=(tests/ops/test_gpu.py tests/ops/test_sampling.py)
  LAYER=(--device cpu -T 4 --n-exp 10 12 --repeats 2)
  NET=(--device cpu --quick --repeats 1 --warmup 1 --precision fp32)
else
  TESTS=(tests/ops/test_gpu.py tests/ops/test_fused_layer.py tests/ops/test_custom_op.py)
  LAYER=(--device cuda --repeats 20 --warmup 3 --slow-ms 500)
  NET=(--device cuda --model dvsgesture-net -T 16 --batch 8 32 --repeats 10 --warmup 3)
fi

echo "== tests"
timeout 180 "$PY" -m pytest -q -x -p no:cacheprovider "${TESTS[@]}" 2>&1 | tee "$OUT/tests.log" | tail -5
echo "== layer benchmark"
timeout 240 "$PY" -m mpe_psn bench layer "${LAYER[@]}" --out "$OUT" --no-progress > "$OUT/layer.log" 2>&1
tail -40 "$OUT/layer.log"
echo "== network benchmark"
timeout 150 "$PY" -m mpe_psn bench net "${NET[@]}" --out "$OUT" --no-progress > "$OUT/net.log" 2>&1
tail -25 "$OUT/net.log"
rm -f "$OUT/layer.log" "$OUT/net.log"  # their tables are in layer.md / net.md (at most 8 files come back)
ls -l "$OUT"
