#!/usr/bin/env bash
# ort_bench.sh: tinyqat's int8 runtime beside ONNX Runtime 1.30 (int8 QDQ
# model and float32 model) on the same exported model, one thread each,
# alternating rounds, batch 1, 64 and 1000; prints a table of µs per image.
#
# For each architecture in ARCHS (default lenet300) it trains a small model
# if needed (1 epoch, PTQ W8A8; speed does not depend on the weights'
# quality), exports it, and runs scripts/ort_bench/bench.js.
#
# Environment: ARCHS, ROUNDS (default 7), PER_ROUND (images per batch size
# per round, default 2000), THREADS (default 1), BATCHES (default
# 1,64,1000), ONNX_WORK and TINYQAT_NPM_CACHE as in onnx_check.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

ARCHS=${ARCHS:-lenet300}
. scripts/onnx_lib.sh

ort_install
work_dir
go build -o "$work/tinyqat" ./cmd/tinyqat
go build -o "$work/onnxdata" ./scripts/onnxdata
go build -o "$work/ort_bench" ./scripts/ort_bench

echo "== $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for arch in $ARCHS; do
  d="$work/$arch"
  echo "== $arch"
  prepare_model "$work/tinyqat" "$arch" "$d" >/dev/null
  [ -f "$d/data/images.f32" ] || "$work/onnxdata" --model "$d/model.tqm" --out "$d/data" --layer-samples 0
  shape=$(node -e "const m=require('$d/data/meta.json'); console.log([m.c,m.h,m.w].join(','))")
  node scripts/ort_bench/bench.js --ort "$ort_dir" --int8 "$d/model.onnx" --float "$d/float.onnx" \
    --tinyqat "$work/ort_bench --model $d/model.tqm --float $d/float" --images "$d/data/images.f32" --shape "$shape" \
    --batches "${BATCHES:-1,64,1000}" --rounds "${ROUNDS:-7}" --per-round "${PER_ROUND:-2000}" --threads "${THREADS:-1}"
done
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
