#!/usr/bin/env bash
# A short GPU check (about 2 minutes on an H200) of the paths users run, for a lease that has
# already run scripts/gpu_check.sh: the host overhead of a small fused layer
# (scripts/gpu_profile_layer.py), the layer's training step / spikes-only / no_grad /
# inference_mode rows for both estimators and refinement, the SHD-sized MLP at T = 100 and 250
# and the DVS-Gesture net, each with its own time limit. Everything goes into $OUT/results.tgz
# (rewritten after each step, so a stopped run keeps what it measured).
#
#   OUT=gpu-results bash scripts/gpu_session_check.sh      # on the GPU machine
#   OUT=/tmp/o DEV=cpu bash scripts/gpu_session_check.sh   # a dry run on a CPU (tiny sizes)
OUT=${OUT:-gpu-results}; mkdir -p "$OUT"
DEV=${DEV:-cuda}; G=/tmp/g; mkdir -p $G; R=$OUT
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
if [ -d .whl ]; then python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PYTHONPATH; fi
save() { tar czf $R/results.tgz -C $G . ; }
python3 -c "import torch,triton,datetime;print(datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'), torch.__version__, triton.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')" | tee $G/env.txt
[ $DEV = cuda ] && timeout 40 python3 scripts/gpu_profile_layer.py --out $G 2>&1 | grep "^T=" ; save
Q=""; [ $DEV = cpu ] && Q="--n-exp 8 10 -T 4"
timeout 70 python3 -m mpe_psn bench layer --device $DEV -T 16 256 --n-exp 12 16 20 24 $Q --methods mpe-fused mpe-fused-expected mpe-fused-refine1 copy sj-lif sj-lif-eval sigmoid --repeats 10 --warmup 3 --out $G/layer --no-progress > $G/layer.log 2>&1; grep -A20 "training step" $G/layer.log | head -14; save
for T in 100 250; do P="fp32 amp"; [ $T = 250 ] && P=fp32; [ $DEV = cpu ] && T=4
timeout 50 python3 -m mpe_psn bench net --device $DEV --model shd-mlp -T $T --batch 64 --precision $P --repeats 5 --warmup 2 --out $G/shd$T --no-progress > $G/shd$T.log 2>&1; grep "^|" $G/shd$T.log; save; done
B="8 32"; [ $DEV = cpu ] && B=1
timeout 50 python3 -m mpe_psn bench net --device $DEV --model dvsgesture-net -T 16 --batch $B --repeats 5 --warmup 2 --out $G/dvs --no-progress > $G/dvs.log 2>&1; grep "^|" $G/dvs.log; save
ls -R $G | head -40
