#!/usr/bin/env bash
# ort_bench.sh: tinyqat's int8 runtime and float32 runtime (infer's F32
# mode, the float run's model as `tinyqat export` writes it) beside ONNX
# Runtime 1.30 (int8 QDQ model and float32 model) on the same exported
# model, one thread each, alternating rounds, batch 1, 64 and 1000; prints
# a table of µs per image (median, fastest–slowest round) and the ratios,
# among them tinyqat int8 over tinyqat float32, by wall time and again by
# the CPU time of the timing process (Node's for ONNX Runtime, its binding
# included): on a busy machine the wall time also counts the waits for a
# core, the CPU time does not (with more than one thread it is their sum).
# ONNX Runtime also runs a graph of one Identity node on the same input, in
# the same rounds and with the same options: the row "ORT Identity (binding
# cost)" is, at batch 1, what a call that does no work costs through
# onnxruntime-node (at larger batches, mostly the copy of its output).
#
# For each architecture in ARCHS (default lenet300) it trains a small model
# if needed (1 epoch, PTQ W8A8; speed does not depend on the weights'
# quality), exports it, and runs scripts/ort_bench/bench.js.
#
# Environment: ARCHS, ROUNDS (default 7), PER_ROUND (images per batch size
# per round, default 2000), THREADS (default 1), BATCHES (default
# 1,64,1000), ONNX_WORK and TINYQAT_NPM_CACHE as in onnx_check.sh,
# JSON=1 (bench.js also prints a JSON line with every round's figures), and
#   RUNS         existing runs to time instead of training: space-separated
#                NAME=QUANT_RUN[,FLOAT_RUN], QUANT_RUN a PTQ/QAT run
#                directory, FLOAT_RUN a float run of the same architecture
#                whose float32 model ONNX Runtime and tinyqat time beside it
#                (without it: int8 engines only). With RUNS, ARCHS defaults
#                to none. Example:
#                RUNS="resnet8=/tmp/r8-qat,/tmp/r8-float" scripts/ort_bench.sh
#   DATA         the test images' data set for RUNS (default MNIST), e.g. a CIFAR-10 folder
#   TQ_THREADS   more thread counts (GOMAXPROCS) for tinyqat, e.g. 2, timed
#                in the same alternating rounds (ONNX Runtime keeps THREADS)
#   ORT_EXACT=1  also time ONNX Runtime's int8 session with
#                session.x64quantprecision=1 (exact on CPUs without VNNI,
#                where its default kernels saturate; bench.js --int8-exact)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${RUNS:-}" ]; then ARCHS=${ARCHS:-}; else ARCHS=${ARCHS:-lenet300}; fi
. scripts/onnx_lib.sh

ort_install
work_dir
go build -o "$work/tinyqat" ./cmd/tinyqat
go build -o "$work/onnxdata" ./scripts/onnxdata
go build -o "$work/ort_bench" ./scripts/ort_bench

# export_run TINYQAT NAME QUANT_RUN [FLOAT_RUN]: exports an existing run
# into $work/NAME as prepare_model does (model.tqm, model.onnx and, with
# FLOAT_RUN, float.onnx), overwriting earlier exports there.
export_run() {
  local tq=$1 name=$2 q=$3 f=${4:-} d="$work/$2"
  [ -f "$q/checkpoint.safetensors" ] || die "RUNS: $name: $q is not a run directory (no checkpoint.safetensors)"
  mkdir -p "$d"
  "$tq" export --from "$q" --out "$d/model.tqm" --json | tail -1
  "$tq" export --from "$q" --out "$d/model.onnx" --format onnx --json | tail -1
  rm -f "$d/float.onnx"
  if [ -n "$f" ]; then
    [ -f "$f/checkpoint.safetensors" ] || die "RUNS: $name: $f is not a run directory (no checkpoint.safetensors)"
    "$tq" export --from "$f" --out "$d/float.onnx" --format onnx --json | tail -1
  fi
}

# bench DIR [FLOAT_RUN]: runs bench.js on the exports in DIR; with
# FLOAT_RUN, also on DIR/float.onnx and tinyqat's float model of FLOAT_RUN.
bench() {
  local d=$1 f=${2:-} extra_args=() tq_float=""
  # The images depend only on the data set, but the runtime must accept
  # them: onnxdata checks the model against the data.
  [ -f "$d/data/images.f32" ] || "$work/onnxdata" --model "$d/model.tqm" --out "$d/data" --layer-samples 0 ${DATA:+--data "$DATA"}
  shape=$(node -e "const m=require('$d/data/meta.json'); console.log([m.c,m.h,m.w].join(','))")
  if [ -n "$f" ]; then extra_args=(--float "$d/float.onnx"); tq_float=" --float $f"; fi
  if [ "${JSON:-}" = 1 ]; then extra_args+=(--json); fi
  if [ "${ORT_EXACT:-}" = 1 ]; then extra_args+=(--int8-exact); fi
  "$work/ort_bench" --model "$d/model.tqm" --identity "$d/identity.onnx"
  node scripts/ort_bench/bench.js --ort "$ort_dir" --int8 "$d/model.onnx" --identity "$d/identity.onnx" "${extra_args[@]}" \
    --tinyqat "$work/ort_bench --model $d/model.tqm$tq_float${DATA:+ --data $DATA}" --images "$d/data/images.f32" --shape "$shape" \
    --batches "${BATCHES:-1,64,1000}" --rounds "${ROUNDS:-7}" --per-round "${PER_ROUND:-2000}" --threads "${THREADS:-1}" \
    --tinyqat-threads "${TQ_THREADS:-}"
}

echo "== $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for arch in $ARCHS; do
  d="$work/$arch"
  echo "== $arch"
  prepare_model "$work/tinyqat" "$arch" "$d" >/dev/null
  bench "$d" "$d/float"
done
for spec in ${RUNS:-}; do
  name=${spec%%=*} runs=${spec#*=}
  [ "$name" != "$spec" ] && [ -n "$name" ] && [ -n "$runs" ] || die "RUNS: bad entry $spec (want NAME=QUANT_RUN[,FLOAT_RUN])"
  case $name in */* | . | ..) die "RUNS: bad name $name (it names a directory in the work directory)" ;; esac
  q=${runs%%,*} f=""
  [ "$q" = "$runs" ] || f=${runs#*,}
  echo "== $name: $q${f:+ (float: $f)}"
  export_run "$work/tinyqat" "$name" "$q" "$f" >/dev/null
  bench "$work/$name" "$f"
done
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
