#!/usr/bin/env bash
# mcu_check.sh: check tinyqat's C export (export --format c) on real test
# images, on the host and on an emulated Cortex-M4, and measure it.
#
# For each architecture in ARCHS (MNIST) and each setting in QUANTS: train
# a small float model (1 epoch on TRAIN_LIMIT images, reused when already
# in the work directory), quantize it (PTQ), export the integer model and
# the C library (tinyqat export --format c), then
#
#   1. tinyqat eval --compare: the integer runtime (infer) against the
#      fake-quant simulation on the first N test images (every logit must
#      be identical: max_lsb_diff 0);
#   2. scripts/mcucheck: the same N test images, as raw uint8 pixels,
#      through model_run, built
#        - for the host with cc -std=c99 -Wall -Wextra -Werror -pedantic -O2
#          (portable kernels, and the DSP kernels with the instructions
#          emulated in C),
#        - for the Cortex-M4 with arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb
#          -O2 and the same warning flags (portable and DSP/SMLAD kernels),
#          run under qemu-system-arm -M mps2-an386 with semihosting;
#      every logit of the four runs is compared with infer's.
#
# So C (host and M4) = infer = simulation, logit for logit, on N real test
# images. Extra runs (e.g. a CIFAR-10 QAT run on image folders) are named
# in RUNS; their own test data (the data the run was trained on, read as
# it was read) is used. It prints a table (see docs/mcu.md for the
# columns). It fails (non-zero exit) on any difference, any compiler
# warning or a missing tool; it never skips.
#
# Time: 7.6 minutes (456 s) for the default 8 MNIST models at N=1000 on
# 2 cores shared with other work (2026-12-06; most of it the emulated
# lenet5 and resnet8; training 1 epoch on 10,000 images takes seconds);
# each extra CIFAR-10 ResNet-8 run adds about 5.5 minutes (12.5M MACs an
# image; the two emulated builds run in parallel).
#
# Environment:
#   ARCHS         MNIST architectures (default "lenet300 lenet5 resnet8
#                 mobilenet-tiny")
#   QUANTS        settings, each wBaB (default "w8a8 w4a8")
#   RUNS          extra runs, "name=QUANT_RUN_DIR ..." (PTQ or QAT runs;
#                 their data must still be where they were trained on)
#   N             test images per model (default 1000)
#   TRAIN_LIMIT   training images of the 1-epoch float runs (default 10000)
#   CACHE_DIR     the decoded image-folder cache (--cache-dir) for RUNS
#   MCU_WORK      work directory (default: a new temporary one, removed at
#                 exit); models already trained there are reused
#   JSON          if set, also write every row as a JSON line to this file
set -euo pipefail
cd "$(dirname "$0")/.."

ARCHS=${ARCHS-lenet300 lenet5 resnet8 mobilenet-tiny}
QUANTS=${QUANTS-w8a8 w4a8}
RUNS=${RUNS-}
N=${N:-1000}
. scripts/onnx_lib.sh

for tool in cc arm-none-eabi-gcc arm-none-eabi-size qemu-system-arm; do
  command -v "$tool" >/dev/null || die "$tool is not installed (Debian: apt-get install gcc gcc-arm-none-eabi qemu-system-arm)"
done
ONNX_WORK=${MCU_WORK:-} work_dir
go build -o "$work/tinyqat" ./cmd/tinyqat
go build -o "$work/mcucheck" ./scripts/mcucheck
tq="$work/tinyqat"
cache=()
[ -n "${CACHE_DIR:-}" ] && cache=(--cache-dir "$CACHE_DIR")

start=$SECONDS
rows=()
# check NAME RUN_DIR [--cache-dir DIR]: export RUN_DIR, compare infer with
# the simulation and the C with infer; appends the table row.
check() {
  local name=$1 run=$2 d="$work/out/$1"
  shift 2
  mkdir -p "$d/c"
  "$tq" export --from "$run" --out "$d/model.tqm" --json >/dev/null
  "$tq" export --from "$run" --format c --out "$d/c" --json >/dev/null
  local sim
  sim=$("$tq" eval --model "$d/model.tqm" --compare "$run" --test-limit "$N" "$@" --json | tail -1)
  case $sim in
    *'"max_lsb_diff":0,'*) ;;
    *) die "$name: infer and the simulation differ: $sim" ;;
  esac
  local row
  row=$("$work/mcucheck" --model "$d/model.tqm" --c "$d/c" --work "$d/m4" --run "$run" --n "$N" --label "$name" --json "$@") \
    || die "$name: the C check failed (above)"
  [ -n "${JSON:-}" ] && echo "$row" >> "$JSON"
  rows+=("$row")
  echo "== $name: C (host portable, host DSP-emulated, M4 portable, M4 DSP) = infer = simulation on every logit of $N test images ($((SECONDS - start)) s)"
}

for arch in $ARCHS; do
  d="$work/$arch"
  if [ ! -f "$d/float/checkpoint.safetensors" ]; then
    echo "== $arch: float, 1 epoch on ${TRAIN_LIMIT:-10000} MNIST images"
    "$tq" train --model "$arch" --epochs 1 --train-limit "${TRAIN_LIMIT:-10000}" --test-limit "$N" --out "$d/float" --json >/dev/null
  fi
  for q in $QUANTS; do
    [[ $q =~ ^w([0-9]+)a([0-9]+)$ ]] || die "QUANTS: $q is not wBaB (e.g. w8a8, w4a8)"
    if [ ! -f "$d/$q/checkpoint.safetensors" ]; then
      "$tq" ptq --from "$d/float" --bits-w "${BASH_REMATCH[1]}" --bits-a "${BASH_REMATCH[2]}" --out "$d/$q" --json >/dev/null
    fi
    check "$arch-$q" "$d/$q"
  done
done
for r in $RUNS; do
  [[ $r == *=* ]] || die "RUNS: $r is not name=QUANT_RUN_DIR"
  check "${r%%=*}" "${r#*=}" "${cache[@]}"
done

# The table, from the JSON rows.
printf '%s\n' "${rows[@]}" | "$work/mcucheck" --table
echo "total: $((SECONDS - start)) s"
