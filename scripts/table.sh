#!/usr/bin/env bash
# Reproduces the README's accuracy table: float / PTQ / QAT for W8A8, W4A8,
# W4A4 and W2A8 on MNIST (reads the commands' JSON with python3).
#
#   scripts/table.sh lenet300 [QAT_EPOCHS] [OUT_DIR] [OBSERVER]
#
# Needs about 3 minutes for lenet300 with 3 QAT epochs on 2 cores (plus
# the float training, 90 s, unless OUT_DIR/float exists).
set -euo pipefail
arch=${1:-lenet300}
epochs=${2:-3}
out=${3:-runs/$arch}
observer=${4:-ema}
cd "$(dirname "$0")/.."
go build -o /tmp/tinyqat-table ./cmd/tinyqat
tq=/tmp/tinyqat-table
mkdir -p "$out"
if [ ! -f "$out/float/checkpoint.safetensors" ]; then
  $tq train --model "$arch" --epochs 10 --out "$out/float" --json | tail -1 > "$out/float.json"
fi
. scripts/table_lib.sh
echo "| bits (W/A) | float | PTQ ($observer) | QAT ($epochs epochs) |"
echo "|---|---|---|---|"
for wa in "8 8" "4 8" "4 4" "2 8"; do
  set -- $wa
  tag="w$1a$2"
  rm -rf "$out/ptq-$tag" "$out/qat-$tag"
  ptq=$($tq ptq --from "$out/float" --bits-w "$1" --bits-a "$2" --observer "$observer" --out "$out/ptq-$tag" --json | tail -1)
  qat=$($tq qat --from "$out/float" --bits-w "$1" --bits-a "$2" --observer "$observer" --epochs "$epochs" --out "$out/qat-$tag" --json | tail -1)
  echo "| W$1A$2 | $(echo "$ptq" | acc float_test_acc) | $(echo "$ptq" | acc test_acc) | $(echo "$qat" | acc test_acc) |"
done
