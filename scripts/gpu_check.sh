#!/usr/bin/env bash
# One-shot GPU check of the fused MPE-PSN kernels. Results go under $OUT (default ./gpu-results):
#   env.txt      date, device name, torch / CUDA / Triton / SpikingJelly versions
#   layer.{json,md}, layer_speedup.png   the layer benchmark (training step with L_mem, spikes
#                only, no_grad and inference_mode forward; both estimators, refine 0/1), with
#                its targets table; run first, since its numbers are the most wanted
#   tests.log    the GPU tests: every compiled Triton specialisation launched on the GPU with each
#                autotuning config and compared with the reference (tests/ops/test_gpu.py), the
#                fused-layer, custom-op, size and fallback tests (in parallel, without -x, so one
#                failure does not hide the others)
#   compile.log  torch.compile through the Triton kernels (triton_op) and CUDA graphs
#                (reduce-overhead): tests/ops/test_triton_op_compile.py, the GPU test of
#                tests/training/test_compile_mode.py
#   net.{json,md}, net-shd.{json,md}     the training-step benchmarks (DVS-Gesture net; the
#                SHD-sized MLP at T = 100 with the fused LIF, SpikingJelly's LIF and ReLU), with
#                their targets
#   summary.md   device, date, test outcome and the layer targets: paste into docs/benchmarks.md
# At most about 10 minutes on one H100/H200 (each step has its own time limit: the whole script
# fits one 10-minute call of a GPU lease). The script exits non-zero if any step fails.
#
#   bash scripts/gpu_check.sh             # on the GPU machine, from the repository root
#   bash scripts/gpu_check.sh --reduced   # a dry run on a CPU: the CPU-runnable tests (Triton
#                                         # interpreted), tiny benchmark grids; checks the script
#
# SpikingJelly (the rival) is optional; if wheels sit in .whl/ they are installed to /tmp/site.
set -uo pipefail
REDUCED=0
case "${1:-}" in
  --reduced|--dry-run) REDUCED=1 ;;
  "") ;;
  *) echo "usage: bash scripts/gpu_check.sh [--reduced]" >&2; exit 2 ;;
esac
OUT="${OUT:-gpu-results}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi

FAILED=()
fail() { FAILED+=("$1"); echo "FAILED: $1" >&2; }

for module in torch pytest mpe_psn; do
  if ! "$PY" -c "import $module" 2> /dev/null; then
    echo "gpu_check: '$module' is not importable by $PY; install it first (pip install -e '.[test]')" >&2
    exit 2
  fi
done

"$PY" - > "$OUT/env.txt" 2>&1 <<'PYEOF'
import datetime, platform, torch
print("date", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
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
if [[ $REDUCED == 0 ]] && ! grep -q "^device " "$OUT/env.txt"; then
  echo "gpu_check: could not query the device (see $OUT/env.txt)" >&2
  exit 2
fi
if [[ $REDUCED == 0 ]] && grep -q "no CUDA device" "$OUT/env.txt"; then
  echo "gpu_check: no CUDA device visible; use --reduced for a dry run on a CPU" >&2
  exit 2
fi

if [[ $REDUCED == 1 ]]; then
  TESTS=(tests/ops/test_gpu.py tests/ops/test_triton_compile.py tests/ops/test_large_index.py tests/ops/test_fallback.py)
  LAYER=(--device cpu -T 4 --n-exp 10 12 --repeats 2)
  NET=(--device cpu --quick --repeats 1 --warmup 1 --precision fp32)
  NET_SHD=(--device cpu --model shd-mlp -T 8 --batch 4 --neurons mpe lif relu --repeats 1 --warmup 1 --precision fp32)
  COMPILE_TESTS=(tests/training/test_compile_mode.py)
  TEST_TIMEOUT=600
else
  TESTS=(tests/ops/test_gpu.py tests/ops/test_fused_layer.py tests/ops/test_custom_op.py tests/ops/test_large_index.py
         tests/ops/test_fallback.py)
  LAYER=(--device cuda -T 4 16 64 256 --n-exp 12 16 20 24 --repeats 10 --warmup 3 --slow-ms 300)
  NET=(--device cuda --model dvsgesture-net -T 16 --batch 8 32 --repeats 10 --warmup 3)
  NET_SHD=(--device cuda --model shd-mlp -T 100 --batch 64 --neurons mpe lif sj-lif relu --repeats 10 --warmup 3
           --precision fp32 amp)
  COMPILE_TESTS=(tests/ops/test_triton_op_compile.py tests/training/test_compile_mode.py)
  TEST_TIMEOUT=160
fi
# parallel test workers where pytest-xdist is there (Triton compiles each specialisation on the CPU)
PARALLEL=()
if [[ $REDUCED == 0 ]] && "$PY" -c "import xdist" 2> /dev/null; then PARALLEL=(-n 8); fi

echo "== layer benchmark"
timeout 190 "$PY" -m mpe_psn bench layer "${LAYER[@]}" --out "$OUT" --no-progress > "$OUT/layer.log" 2>&1 || fail "layer benchmark (see layer.log)"
tail -40 "$OUT/layer.log"
echo "== tests"
timeout "$TEST_TIMEOUT" "$PY" -m pytest -q "${PARALLEL[@]}" -p no:cacheprovider -rs "${TESTS[@]}" > "$OUT/tests.log" 2>&1 || fail "tests (see tests.log)"
tail -8 "$OUT/tests.log"
if [[ $REDUCED == 0 ]] && grep -q "needs a CUDA GPU" "$OUT/tests.log"; then
  fail "the GPU tests were skipped although a device was found"
fi
echo "== network benchmarks"
timeout 70 "$PY" -m mpe_psn bench net "${NET[@]}" --out "$OUT" --no-progress > "$OUT/net.log" 2>&1 || fail "network benchmark (see net.log)"
tail -25 "$OUT/net.log"
mkdir -p "$OUT/shd"
timeout 60 "$PY" -m mpe_psn bench net "${NET_SHD[@]}" --out "$OUT/shd" --no-progress > "$OUT/net-shd.log" 2>&1 || fail "SHD MLP benchmark (see net-shd.log)"
for f in "$OUT"/shd/net.*; do [[ -e $f ]] && mv "$f" "$OUT/net-shd.${f##*.}"; done; rmdir "$OUT/shd" 2> /dev/null
tail -25 "$OUT/net-shd.log"
echo "== compile tests"
timeout 100 "$PY" -m pytest -q -p no:cacheprovider -rs "${COMPILE_TESTS[@]}" > "$OUT/compile.log" 2>&1 || fail "compile tests (see compile.log)"
tail -6 "$OUT/compile.log"

{
  echo "# GPU check: $(grep '^device' "$OUT/env.txt" | cut -d' ' -f2-), $(grep '^date' "$OUT/env.txt" | cut -d' ' -f2)"
  echo
  echo '```'; cat "$OUT/env.txt"; echo '```'
  echo
  echo "Tests: $(tail -1 "$OUT/tests.log")"
  echo
  echo "Compile tests: $(tail -1 "$OUT/compile.log")"
  echo
  [[ -f "$OUT/layer.md" ]] && cat "$OUT/layer.md"
  [[ -f "$OUT/net.md" ]] && { echo; cat "$OUT/net.md"; }
  [[ -f "$OUT/net-shd.md" ]] && { echo; cat "$OUT/net-shd.md"; }
  if (( ${#FAILED[@]} )); then echo; echo "FAILED steps: ${FAILED[*]}"; fi
} > "$OUT/summary.md"
# keep what comes back small: the logs' tables are in the .md files unless a step failed
(( ${#FAILED[@]} )) || rm -f "$OUT/layer.log" "$OUT/net.log" "$OUT/net-shd.log"
ls -l "$OUT"
if (( ${#FAILED[@]} )); then
  echo "gpu_check: ${#FAILED[@]} step(s) failed: ${FAILED[*]}" >&2
  exit 1
fi
echo "gpu_check: all steps passed"
