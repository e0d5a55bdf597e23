#!/usr/bin/env bash
# Reproduces the README's adversarial-robustness table: FGSM on the 10,000
# MNIST test images and PGD (10 steps, random start) on the first 2,000,
# against the lenet300 float run of scripts/cluster-table.sh and its
# PTQ/QAT runs (W8A8, W4A8, W2A8; QAT 1 epoch), the int8 runtime (the QAT
# W8A8 export) and the float model behind 1- and 4-bit input squeezing.
#
#   scripts/attack-table.sh [CLUSTER_OUT] [OUT_DIR]
#
# CLUSTER_OUT is scripts/cluster-table.sh's output directory (default
# runs/cluster; run that script first). Writes attack_fgsm.json,
# attack_pgd.json and the chart attack_pgd.png to OUT_DIR (default runs/attack) and
# prints the table (white-box / transfer accuracy, %). Needs jq. About 10
# minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-runs/cluster}
out=${2:-runs/attack}
for d in float ptq8 ptq4 ptq2 qat8 qat4 qat2; do
  [ -f "$src/$d/checkpoint.safetensors" ] || { echo "attack-table: $src/$d is missing: run scripts/cluster-table.sh first" >&2; exit 1; }
done
go build -o /tmp/tinyqat-attack-table ./cmd/tinyqat
tq=/tmp/tinyqat-attack-table
mkdir -p "$out"
quant="$src/ptq8,$src/ptq4,$src/ptq2,$src/qat8,$src/qat4,$src/qat2"
eps=0,0.05,0.1,0.15,0.2,0.3
rm -f "$out/attack_fgsm.json" "$out/attack_pgd.json"
$tq attack --from "$src/float" --quant "$quant" --squeeze 1,4 --method fgsm --eps "$eps" \
  --out "$out/attack_fgsm.json" > "$out/fgsm.log"
$tq attack --from "$src/float" --quant "$quant" --squeeze 1,4 --method pgd --steps 10 --eps "$eps" \
  --test-limit 2000 --out "$out/attack_pgd.json" > "$out/pgd.log"
go run ./scripts/attackchart "$out/attack_pgd.json" "$out/attack_pgd.png"

# cell FILE MODEL EPS_INDEX: "white-box / transfer" in %, or one value.
cell() {
  jq -r --arg m "$2" --argjson i "$3" '
    def pct: (. * 10000 | round) as $v | "\($v / 100 | floor).\($v % 100 | tostring | if length < 2 then "0" + . else . end)";
    [.curves[] | select(.model == $m)] as $c
    | ($c | map(select(.threat == "white-box"))[0].acc[$i] // null) as $w
    | ($c | map(select(.threat == "transfer"))[0].acc[$i] // null) as $t
    | if $i == 0 then ((if $w == null then $t else $w end) | pct)
      elif $w != null and $t != null and $m != "float" then "\($w | pct) / \($t | pct)"
      elif $w != null then ($w | pct) else "– / \($t | pct)" end' "$1"
}
f=$out/attack_fgsm.json p=$out/attack_pgd.json
echo "| model | clean | FGSM ε=0.05 | FGSM ε=0.1 | PGD ε=0.05 | PGD ε=0.1 |"
echo "|---|---:|---:|---:|---:|---:|"
for m in float ptq-w8a8 ptq-w4a8 qat-w8a8 qat-w4a8 qat-w2a8 int8-runtime squeeze-1bit squeeze-4bit; do
  echo "| $m | $(cell "$f" "$m" 0) | $(cell "$f" "$m" 1) | $(cell "$f" "$m" 2) | $(cell "$p" "$m" 1) | $(cell "$p" "$m" 2) |"
done
