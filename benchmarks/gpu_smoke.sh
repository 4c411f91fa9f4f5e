#!/usr/bin/env bash
# Real-tier smoke test on a CUDA machine without network: install our wheels (carried in .wheels/),
# then generate a paper-preset slice (512 px, IDS identities) and run the GPU check (benchmarks/gpu_check.py,
# docs/performance.md "GPU check": random-init ViT-B/16, no training; eval images/s against the embed-only
# floor, 1x unlearning pairs/s, peak GPU memory, bf16 vs fp32 agreement; JSON in OUT/gpu_check.json).
# Budget: <= 5 minutes on one H100 at the default IDS=24.
# FULL=1 also runs the older path afterwards: train ViT-B/16 Compromised+Clean for a few steps on the GPU
# (torchrun, nccl), evaluate both, unlearn with METHODS and evaluate (minutes more).
# Usage: [IDS=24] [FULL=1] bash benchmarks/gpu_smoke.sh OUT
set -euo pipefail
out=${1:-/tmp/gpu_smoke}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps .wheels/*.whl 2>&1 | grep -v WARNING || true
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . 2>&1 | grep -v WARNING || true
python3 -c "import torch, open_clip; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0), 'open_clip', open_clip.__version__)"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
sb="python3 -m salmubench.cli.main"
t0=$(date +%s)
$sb data generate --preset paper --limit-identities ${IDS:-24} --workers 16 --out "$out/data" --no-progress
echo "generate_s $(( $(date +%s) - t0 ))"
t0=$(date +%s)
python3 benchmarks/gpu_check.py --data "$out/data" --out "$out/check" --json "$out/gpu_check.json" --device cuda \
  --arch ViT-B-16 --method ${CHECK_METHOD:-finetune} --batch-size ${BS:-256}
echo "gpu_check_s $(( $(date +%s) - t0 ))"
[ "${FULL:-0}" = 1 ] || exit 0
for kind in compromised clean; do
  t0=$(date +%s)
  torchrun --standalone --nproc_per_node=1 -m salmubench.cli.main train --kind $kind --preset paper \
    --data "$out/data" --out "$out/$kind" --set steps=${STEPS:-40} --set batch_size=${BS:-256} --no-progress
  echo "train_${kind}_s $(( $(date +%s) - t0 ))"
done
for kind in compromised clean; do
  t0=$(date +%s)
  $sb eval --model "$out/$kind" --data "$out/data" --out "$out/eval_$kind" --device cuda --batch-size 256 --quiet
  echo "eval_${kind}_s $(( $(date +%s) - t0 ))"
done
for method in ${METHODS:-finetune npo}; do
  t0=$(date +%s)
  $sb unlearn --method $method --model "$out/compromised" --data "$out/data" --out "$out/unl_$method" --device cuda --no-progress
  $sb eval --model "$out/unl_$method" --data "$out/data" --out "$out/eval_$method" --device cuda --quiet \
    --reference-clean "$out/eval_clean"
  echo "unlearn+eval_${method}_s $(( $(date +%s) - t0 ))"
done
python3 - "$out" <<'PY'
import json, sys, pathlib
for p in sorted(pathlib.Path(sys.argv[1]).glob("eval_*/result.json")):
    r = json.loads(p.read_text())
    print(p.parent.name, {k: round(v["value"], 4) for k, v in r["metrics"].items()}, "eval_s", round(r["cost"]["eval_seconds"], 1))
PY
