#!/usr/bin/env bash
# Reproduces the weight-clustering table: for bits 1..8, clustering without
# and with fine-tuning, uniform PTQ and uniform QAT (weights B bits,
# activations 8 bits), with the size on disk of each exported model; then
# draws the chart.
#
#   scripts/cluster-table.sh [FLOAT_RUN] [OUT_DIR] [FT_EPOCHS]
#
# FLOAT_RUN is a lenet300 float run (trained here for 3 epochs if absent).
# About 6 minutes on 2 cores with 1 fine-tuning epoch.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${2:-runs/cluster}
fl=${1:-$out/float}
ep=${3:-1}
go build -o /tmp/tinyqat-cluster-table ./cmd/tinyqat
tq=/tmp/tinyqat-cluster-table
mkdir -p "$out"
if [ ! -f "$fl/checkpoint.safetensors" ]; then
  $tq train --model lenet300 --epochs 3 --out "$fl" --json | tail -1 > "$out/float.json"
fi
res=$out/results.jsonl
: > "$res"
for b in 1 2 3 4 5 6 7 8; do
  for e in 0 "$ep"; do
    rm -rf "$out/c$b-e$e"
    $tq cluster --from "$fl" --bits "$b" --epochs "$e" --out "$out/c$b-e$e" --json | tail -1 |
      jq -c "{kind: (if $e == 0 then \"cluster\" else \"cluster_ft\" end), bits: .bits, test_acc: .test_acc, float: .float_test_acc, bytes: .bytes}" >> "$res"
  done
  if [ "$b" -ge 2 ]; then
    rm -rf "$out/ptq$b" "$out/qat$b"
    $tq ptq --from "$fl" --bits-w "$b" --bits-a 8 --out "$out/ptq$b" --json | tail -1 > "$out/ptq$b.json"
    bytes=$($tq export --from "$out/ptq$b" --out "$out/ptq$b/model.tqm" --json | tail -1 | jq .bytes)
    jq -c "{kind: \"ptq\", bits: $b, test_acc: .test_acc, float: .float_test_acc, bytes: $bytes}" "$out/ptq$b.json" >> "$res"
    $tq qat --from "$fl" --bits-w "$b" --bits-a 8 --epochs "$ep" --out "$out/qat$b" --json | tail -1 |
      jq -c "{kind: \"qat\", bits: $b, test_acc: .test_acc, float: .float_test_acc, bytes: $bytes}" >> "$res"
  fi
done
go run ./scripts/clusterchart "$res" "$out/cluster_by_bits.png"
