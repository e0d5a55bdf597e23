#!/usr/bin/env bash
# onnx_check.sh: check tinyqat's int8 runtime against ONNX Runtime.
#
# For each architecture in ARCHS (default lenet300): train a small float
# model (1 epoch), quantize it (PTQ, W8A8), export it both as a tinyqat
# model file and as ONNX (QDQ), run the 10,000 MNIST test images in
# tinyqat's runtime and in ONNX Runtime 1.30 (onnxruntime-node, one thread),
# and compare the integer logits (scripts/onnx_check.js).
#
# Fails (non-zero exit) if onnxruntime-node cannot be installed or run, or
# if the agreement is below the thresholds; it never skips.
#
# Environment:
#   ARCHS               architectures to check (default "lenet300"; also
#                       lenet5, resnet8, mobilenet-tiny)
#   ONNX_MIN_TOP1       minimum top-1 agreement (default 0.999)
#   ONNX_MIN_IDENTICAL  minimum fraction of identical logits (default 0.99)
#   ONNX_MAX_LSB        maximum |difference| of a logit in LSB (default 1;
#                       2 for resnet8 and mobilenet-tiny, see max_lsb_default)
#   ONNX_QUANT_PRECISION  1: run ONNX Runtime with its session option
#                       session.x64quantprecision=1 (int8 operands widened
#                       to int16 before multiplying); 0: its default
#                       kernels. Default: 1 on x86-64 CPUs without VNNI
#                       (no avx512_vnni or avx_vnni flag), whose default
#                       u8s8 kernels sum pairs of products in saturating
#                       int16 (VPMADDUBSW) and so are not exact; else 0
#   TINYQAT_NPM_CACHE   where onnxruntime-node is installed
#                       (default ${XDG_CACHE_HOME:-~/.cache}/tinyqat-npm)
#   ONNX_WORK           work directory (default: a new temporary one, removed
#                       at exit); models already trained there are reused
set -euo pipefail
cd "$(dirname "$0")/.."

ARCHS=${ARCHS:-lenet300}
. scripts/onnx_lib.sh

ort_install

# ONNX Runtime's int8 kernels on x86-64 without VNNI saturate (see
# ONNX_QUANT_PRECISION above); the check then asks for its exact mode.
quant_precision=${ONNX_QUANT_PRECISION:-}
quant_precision_why="ONNX_QUANT_PRECISION=1"
if [ -z "$quant_precision" ]; then
  quant_precision=0
  if [ "$(uname -m)" = x86_64 ] && ! grep -qwE 'avx512_vnni|avx_vnni' /proc/cpuinfo 2>/dev/null; then
    quant_precision=1
    quant_precision_why="this CPU has no VNNI, where ONNX Runtime's default u8s8 kernels saturate int16 pair sums"
  fi
fi
case $quant_precision in
0 | 1) ;;
*) die "ONNX_QUANT_PRECISION must be 0 or 1, got $quant_precision" ;;
esac
work_dir
go build -o "$work/tinyqat" ./cmd/tinyqat
go build -o "$work/onnxdata" ./scripts/onnxdata
tq="$work/tinyqat"

# max_lsb_default ARCH: the default largest logit difference. ONNX
# Runtime requantizes each convolution with a float multiplier, so a value
# next to a half step can round the other way (about 1 value in 10^5 to
# 10^6 per layer, measured); in the deeper networks such one-step
# differences meet on the way to the logits. Measured with this script
# (1 epoch on 20,000 images, PTQ W8A8, 10,000 test images, AVX-512
# machine): resnet8 2 LSB on 3 of 100,000 logits (99.83% identical, top-1
# 100%); mobilenet-tiny 1 LSB (99.994% identical), with 2 LSB inside on
# earlier models. Their adds and means never differed by themselves (every
# difference there was carried from a convolution). The LeNets keep 1.
max_lsb_default() {
  case $1 in
    resnet8 | mobilenet-tiny) echo 2 ;;
    *) echo 1 ;;
  esac
}

status=0
for arch in $ARCHS; do
  d="$work/$arch"
  echo "== $arch: float (1 epoch), PTQ W8A8, export"
  prepare_model "$tq" "$arch" "$d"
  "$work/onnxdata" --model "$d/model.tqm" --out "$d/data"
  # ONNX's own checker (full check, with shape inference), where the onnx
  # Python package is installed (Debian: apt-get install python3-onnx).
  checker=""
  for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null && "$py" -c "import onnx" 2>/dev/null; then checker=$py; break; fi
  done
  if [ -n "$checker" ]; then
    for f in "$d/model.onnx" "$d/float.onnx" "$d/data/debug.onnx"; do
      "$checker" -c "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True); print('onnx.checker: ok', sys.argv[1])" "$f" \
        || die "onnx.checker rejects $f"
    done
  else
    echo "onnx.checker: the onnx Python package is not installed (apt-get install python3-onnx); ONNX Runtime's own loading check still runs"
  fi
  echo "== $arch: ONNX Runtime vs tinyqat runtime"
  rc=0
  qp=()
  if [ "$quant_precision" = 1 ]; then
    qp=(--quant-precision)
    echo "(ONNX Runtime with session.x64quantprecision=1: $quant_precision_why)"
  fi
  node scripts/onnx_check.js --ort "$ort_dir" --model "$d/model.onnx" --data "$d/data" ${qp[@]+"${qp[@]}"} \
    --min-top1 "${ONNX_MIN_TOP1:-0.999}" --min-identical "${ONNX_MIN_IDENTICAL:-0.99}" \
    --max-lsb "${ONNX_MAX_LSB:-$(max_lsb_default "$arch")}" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "onnx_check: $arch failed (exit $rc)" >&2
    status=1
  fi
done
exit $status
