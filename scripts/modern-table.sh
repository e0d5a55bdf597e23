#!/usr/bin/env bash
# Reproduces the README's two MNIST tables for the networks with batch
# norm, residual blocks and depthwise convolutions: resnet8 (float, PTQ
# and QAT at W8A8 and W4A4 with three observer/estimator pairs) and
# mobilenet-tiny (per-tensor against per-channel weight scales at 8, 6 and
# 4 bits). Every quantized run is exported and checked against its
# simulation with `eval --compare` (agreement and differing values are
# printed under each table). Reads the commands' JSON with python3.
#
#   scripts/modern-table.sh [OUT_DIR] [ARCHS]
#
# OUT_DIR defaults to runs/modern, ARCHS to "resnet8 mobilenet-tiny".
# Float runs are kept and reused. About 25 minutes on 2 cores (resnet8's
# 15 float epochs are most of it).
set -euo pipefail
out=${1:-runs/modern}
archs=${2:-resnet8 mobilenet-tiny}
cd "$(dirname "$0")/.."
go build -o /tmp/tinyqat-modern ./cmd/tinyqat
tq=/tmp/tinyqat-modern
mkdir -p "$out"
. scripts/table_lib.sh
check() { # name: exports the run and compares the runtime with the simulation
  local name=$1
  $tq export --from "$out/$name" --out "$out/$name.tqm" >/dev/null
  $tq eval --model "$out/$name.tqm" --compare "$out/$name" --json | tail -1 |
    python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("  %-22s runtime vs simulation: agreement %.4f, largest logit difference %s LSB" % (sys.argv[1], r["agreement"], r["max_lsb_diff"]))' "$name"
}

for arch in $archs; do
  case $arch in
  resnet8)
    float=$(run r8-float $tq train --model resnet8 --epochs 15 --shift 2)
    p8=$(run r8-ptq-w8a8 $tq ptq --from "$out/r8-float" --bits-w 8 --bits-a 8)
    q8=$(run r8-qat-w8a8 $tq qat --from "$out/r8-float" --bits-w 8 --bits-a 8 --epochs 2)
    p4=$(run r8-ptq-w4a4 $tq ptq --from "$out/r8-float" --bits-w 4 --bits-a 4)
    q4=$(run r8-qat-w4a4 $tq qat --from "$out/r8-float" --bits-w 4 --bits-a 4 --epochs 3)
    q4l=$(run r8-qat-w4a4-lsq $tq qat --from "$out/r8-float" --bits-w 4 --bits-a 4 --epochs 3 --estimator lsq)
    p4m=$(run r8-ptq-w4a4-mse $tq ptq --from "$out/r8-float" --bits-w 4 --bits-a 4 --observer mse)
    q4m=$(run r8-qat-w4a4-mse $tq qat --from "$out/r8-float" --bits-w 4 --bits-a 4 --observer mse --epochs 5)
    f=$(echo "$float" | acc test_acc)
    echo
    echo "resnet8, MNIST, float 15 epochs with --shift 2"
    echo
    echo "| bits (W/A) | observer / estimator | float | PTQ | QAT (epochs) |"
    echo "|---|---|---|---|---|"
    echo "| W8A8 | EMA / clipped STE | $f | $(echo "$p8" | acc test_acc) | $(echo "$q8" | acc test_acc) (2) |"
    echo "| W4A4 | EMA / clipped STE | $f | $(echo "$p4" | acc test_acc) | $(echo "$q4" | acc test_acc) (3) |"
    echo "| W4A4 | EMA / LSQ | $f | $(echo "$p4" | acc test_acc) | $(echo "$q4l" | acc test_acc) (3) |"
    echo "| W4A4 | MSE / clipped STE | $f | $(echo "$p4m" | acc test_acc) | $(echo "$q4m" | acc test_acc) (5) |"
    echo
    for n in r8-ptq-w8a8 r8-qat-w8a8 r8-qat-w4a4 r8-qat-w4a4-lsq r8-qat-w4a4-mse; do check $n; done
    ls -l "$out/r8-qat-w8a8.tqm" "$out/r8-qat-w4a4.tqm" | awk '{print "  " $NF ": " $5 " bytes"}'
    ;;
  mobilenet-tiny)
    float=$(run mt-float $tq train --model mobilenet-tiny --epochs 10 --shift 2)
    f=$(echo "$float" | acc test_acc)
    echo
    echo "mobilenet-tiny, MNIST, float 10 epochs with --shift 2: $f%"
    echo
    echo "| weights | per-tensor PTQ | per-channel PTQ | per-tensor QAT (2 epochs) | per-channel QAT (2 epochs) |"
    echo "|---|---|---|---|---|"
    for w in 8 6 4; do
      pt=$(run mt-ptq-w${w}a8-pt $tq ptq --from "$out/mt-float" --bits-w $w --bits-a 8 --per-tensor-weights)
      pc=$(run mt-ptq-w${w}a8 $tq ptq --from "$out/mt-float" --bits-w $w --bits-a 8)
      qt="–"; qc="–"
      if [ $w != 6 ]; then
        qt=$(run mt-qat-w${w}a8-pt $tq qat --from "$out/mt-float" --bits-w $w --bits-a 8 --epochs 2 --per-tensor-weights | acc test_acc)
      fi
      if [ $w = 4 ]; then
        qc=$(run mt-qat-w${w}a8 $tq qat --from "$out/mt-float" --bits-w $w --bits-a 8 --epochs 2 | acc test_acc)
      fi
      echo "| W${w}A8 | $(echo "$pt" | acc test_acc) | $(echo "$pc" | acc test_acc) | $qt | $qc |"
    done
    echo
    for n in mt-ptq-w8a8-pt mt-ptq-w8a8 mt-qat-w4a8; do check $n; done
    ;;
  *)
    echo "modern-table: unknown architecture $arch (resnet8 or mobilenet-tiny)" >&2
    exit 2
    ;;
  esac
done
