# Shared by scripts/onnx_check.sh and scripts/ort_bench.sh (sourced).

ORT_VERSION=1.30.0
ort_dir=${TINYQAT_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tinyqat-npm}

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# ort_install makes sure onnxruntime-node $ORT_VERSION loads from $ort_dir,
# installing it with npm if needed; it exits non-zero if it cannot.
ort_install() {
  command -v node >/dev/null || die "node is not installed (needed to run onnxruntime-node)"
  command -v npm >/dev/null || die "npm is not installed (needed to install onnxruntime-node)"
  local installed
  installed=$(node -e "try{console.log(require('$ort_dir/node_modules/onnxruntime-node/package.json').version)}catch(e){}" 2>/dev/null || true)
  if [ "$installed" != "$ORT_VERSION" ]; then
    echo "== installing onnxruntime-node@$ORT_VERSION into $ort_dir"
    mkdir -p "$ort_dir"
    [ -f "$ort_dir/package.json" ] || echo '{"name":"tinyqat-ort","private":true}' > "$ort_dir/package.json"
    # --ignore-scripts: the CPU binaries ship in the package; its install
    # script would try to download other things.
    (cd "$ort_dir" && npm install --ignore-scripts --no-audit --no-fund "onnxruntime-node@$ORT_VERSION") \
      || die "npm install onnxruntime-node@$ORT_VERSION failed"
  fi
  node -e "require('$ort_dir/node_modules/onnxruntime-node')" || die "onnxruntime-node does not load from $ort_dir"
}

# prepare_model TINYQAT ARCH DIR: a 1-epoch float model (20,000 training
# images), its PTQ W8A8 quantization, and the exports DIR/model.tqm,
# DIR/model.onnx (int8 QDQ) and DIR/float.onnx; runs already in DIR are
# reused.
prepare_model() {
  local tq=$1 arch=$2 d=$3
  if [ ! -f "$d/float/checkpoint.safetensors" ]; then
    "$tq" train --model "$arch" --epochs 1 --train-limit "${TRAIN_LIMIT:-20000}" --test-limit 1000 --out "$d/float" --json | tail -1
  fi
  if [ ! -f "$d/ptq/checkpoint.safetensors" ]; then
    # Calibrate on the whole training set, as when the thresholds in
    # .ci/run were measured (ptq would otherwise take the float run's
    # --train-limit; calibrated on those 20,000 images instead, resnet8
    # gave 98.99% identical logits, max 3 LSB, top-1 100%: how many
    # logits ONNX Runtime's float32 rounding moves depends on the scales).
    "$tq" ptq --from "$d/float" --train-limit 0 --test-limit 1000 --out "$d/ptq" --json | tail -1
  fi
  "$tq" export --from "$d/ptq" --out "$d/model.tqm" --json | tail -1
  "$tq" export --from "$d/ptq" --out "$d/model.onnx" --format onnx --json | tail -1
  "$tq" export --from "$d/float" --out "$d/float.onnx" --format onnx --json | tail -1
}

# work_dir sets $work to $ONNX_WORK, or to a new temporary directory
# removed at exit.
work_dir() {
  if [ -n "${ONNX_WORK:-}" ]; then
    work=$ONNX_WORK
    mkdir -p "$work"
  else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
  fi
}
