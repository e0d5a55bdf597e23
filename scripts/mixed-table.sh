#!/usr/bin/env bash
# Reproduces the mixed-precision table: a float run, uniform QAT at
# W8/W6/W4/W3/W2 (activations 8 bits), and mixed-precision QAT (tinyqat
# mixed) at the packed weight size of uniform 4-, 3- and 2-bit weights and
# at 20% below the 4- and 3-bit sizes (average 3.2 and 2.4 bits), each with
# both sensitivities (measured loss increase, HAWQ-V2), all with the same
# training budget; then `tinyqat mixed pareto`: the table (weight bits per
# layer, packed weight bytes, model file bytes, simulation and integer
# runtime accuracy, largest logit difference between the two) and the
# Pareto chart.
#
#   scripts/mixed-table.sh [OUT_DIR]
#
# Environment (defaults: lenet5 on MNIST, float 3 epochs, QAT 2 epochs):
#   ARCH          --model of the float run (lenet5; resnet8-mlperf, resnet20, ...)
#   DATA          --data directory ("" : MNIST from the Go module cache)
#   FLOAT_EPOCHS  float epochs (3)
#   QAT_EPOCHS    QAT epochs of every quantized run (2)
#   TRAIN_FLAGS   extra flags of the float run ("--normalize --shift 4 --flip" for CIFAR)
#   QAT_FLAGS     extra flags of every qat and mixed run ("--lr 1e-3", "--train-limit N";
#                 "--bits-a 4 --act-scheme affine" overrides the 8-bit activations, "--seed N"
#                 the float run's seed)
#   MIXED_FLAGS   extra flags of the mixed runs ("--probes 32", "--act-avg-bits 6")
#   UNIFORM_BITS  uniform weight bits (8 6 4 3 2)
#   SIZES         --size-of-uniform budgets of the mixed runs (4 3 2)
#   AVG_BITS      --avg-bits budgets of the mixed runs (3.2 2.4)
#   METRICS       sensitivities (loss hawq)
# Runs already in OUT_DIR (default runs/mixed-ARCH) are kept, so an
# interrupted table resumes. About 20 minutes for lenet5 on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${ARCH:-lenet5}
out=${1:-runs/mixed-$arch}
float_epochs=${FLOAT_EPOCHS:-3}
qat_epochs=${QAT_EPOCHS:-2}
read -r -a train_flags <<< "${TRAIN_FLAGS:-}"
read -r -a qat_flags <<< "${QAT_FLAGS:-}"
read -r -a mixed_flags <<< "${MIXED_FLAGS:-}"
data=()
[ -n "${DATA:-}" ] && data=(--data "$DATA")
go build -o /tmp/tinyqat-mixed-table ./cmd/tinyqat
tq=/tmp/tinyqat-mixed-table
mkdir -p "$out"
done_run() { [ -f "$1/checkpoint.safetensors" ]; }

if ! done_run "$out/float"; then
  $tq train --model "$arch" "${data[@]}" --epochs "$float_epochs" --out "$out/float" "${train_flags[@]}" > "$out/float.log"
fi
runs=()
for b in ${UNIFORM_BITS:-8 6 4 3 2}; do
  d="$out/uni-w$b"
  if ! done_run "$d"; then
    $tq qat --from "$out/float" --bits-w "$b" --bits-a 8 --epochs "$qat_epochs" --out "$d" --json "${qat_flags[@]}" > "$out/uni-w$b.log"
  fi
  runs+=("$d")
done
for metric in ${METRICS:-loss hawq}; do
  for b in ${SIZES:-4 3 2}; do
    d="$out/mix-$metric-u$b"
    if ! done_run "$d"; then
      $tq mixed --from "$out/float" --size-of-uniform "$b" --sensitivity "$metric" --epochs "$qat_epochs" --out "$d" --json \
        "${qat_flags[@]}" "${mixed_flags[@]}" > "$out/mix-$metric-u$b.log"
    fi
    runs+=("$d")
  done
  for a in ${AVG_BITS:-3.2 2.4}; do
    d="$out/mix-$metric-a$a"
    if ! done_run "$d"; then
      $tq mixed --from "$out/float" --avg-bits "$a" --sensitivity "$metric" --epochs "$qat_epochs" --out "$d" --json \
        "${qat_flags[@]}" "${mixed_flags[@]}" > "$out/mix-$metric-a$a.log"
    fi
    runs+=("$d")
  done
done
# Every mixed run measured the same sensitivity table (same float run and
# seed): the first one's ranks all runs.
sens=$(ls "$out"/mix-*/mixed.json | head -1)
$tq mixed pareto --float "$out/float" --png "$out/mixed_pareto.png" --sens "$sens" "${runs[@]}" | tee "$out/mixed_table.md"
# The sensitivity pass against a float epoch (the issue's cost bound).
for f in "$out"/mix-*/mixed.json; do
  [ -f "$f" ] || continue
  python3 - "$f" "$out/float/metrics.jsonl" <<'EOF' || true
import json, sys
m = json.load(open(sys.argv[1]))["sensitivity"]
secs = [json.loads(l).get("seconds") for l in open(sys.argv[2]) if l.strip()]
secs = [s for s in secs if s]
lo, hi = (min(secs), max(secs)) if secs else (float("nan"), float("nan"))
print(f"{sys.argv[1]}: sensitivity {m['seconds']:.1f}s (losses {m['loss_seconds']:.1f}s, Hessian {m['hessian_seconds']:.1f}s); float epochs {lo:.1f}-{hi:.1f}s")
EOF
done
