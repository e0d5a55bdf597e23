#!/usr/bin/env bash
# Side-by-side training-step times on CIFAR-shaped data (batch 128 of
# 3x32x32, SGD; tinyqat's BenchmarkStepCIFAR in train/bench_test.go) or
# MNIST-shaped data (batch 64 of 1x28x28, Adam; BenchmarkStepMNIST) and
# PyTorch's torch_train_step.py, on 1 and 2 threads, interleaved round by
# round so both see the same machine load. Prints one line per run and a
# table of medians (min-max) and tinyqat/PyTorch ratios.
#
# Usage: scripts/peers/train_step_compare.sh [ROUNDS] [STEPS] [cifar|mnist]
#   ROUNDS  rounds of (Go 1, torch 1, Go 2, torch 2); default 3
#   STEPS   timed steps per run; default 10
#   SHAPE   cifar (resnet8-mlperf, resnet20, lenet5; default) or mnist (resnet8, lenet5)
# Environment:
#   GO_BINS  space-separated label=path test binaries to time instead of
#            building this tree's (e.g. "before=/tmp/a.test after=/tmp/b.test",
#            each built with `go test -c ./train/`)
#   PYTHON   the interpreter with Debian's python3-torch (default /usr/bin/python3)
#
# PyTorch runs with OMP_WAIT_POLICY=PASSIVE: on a machine whose cores are
# busy, OpenMP's default spin-waiting made its 2-thread step 10x slower
# than its 1-thread step here (2.9 s against 0.34 s for resnet8-mlperf).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
steps=${2:-10}
shape=${3:-cifar}
case $shape in
cifar) bench=StepCIFAR models="resnet8-mlperf resnet20 lenet5" ;;
mnist) bench=StepMNIST models="resnet8 lenet5" ;;
*) echo "train_step_compare.sh: SHAPE must be cifar or mnist, got $shape" >&2; exit 2 ;;
esac
py=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bins=${GO_BINS:-}
if [ -z "$bins" ]; then
	go test -c -o "$tmp/train.test" ./train/
	bins="tinyqat=$tmp/train.test"
fi
log=$tmp/runs.txt
for r in $(seq "$rounds"); do
	for t in 1 2; do
		for lb in $bins; do
			label=${lb%%=*} bin=${lb#*=}
			GOMAXPROCS=$t "$bin" -test.run '^$' -test.bench "$bench" -test.benchtime "${steps}x" -test.cpu "$t" |
				awk -v l="$label" -v t="$t" -v r="$r" '/^BenchmarkStep/ {
					split($1, a, "/"); sub(/-[0-9]+$/, "", a[2]);
					for (i = 2; i <= NF; i++) { if ($(i+1) == "ms/step") ms = $i; if ($(i+1) == "cpu-ms/step") cpu = $i }
					printf "%s %s %d %d %.1f %.1f\n", l, a[2], t, r, ms, cpu }' | tee -a "$log"
		done
		OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$py" scripts/peers/torch_train_step.py "$t" "$steps" "$shape" |
			"$py" -c '
import json, sys
d = json.load(sys.stdin)
for m in sys.argv[2].split():
    print("pytorch %s %d %s %.1f %.1f" % (m, d["threads"], sys.argv[1], d[m + "_ms"], d[m + "_cpu_ms"]))' "$r" "$models" | tee -a "$log"
	done
done
"$py" - "$log" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    who, model, t, r, ms, cpu = line.split()
    runs.setdefault((who, model, int(t)), []).append((float(ms), float(cpu)))
def cell(v):
    return "%.1f (%.1f-%.1f)" % (statistics.median(v), min(v), max(v))
print("\nms per step, median (min-max) of %d rounds; cpu = CPU ms per step, all threads" % len(next(iter(runs.values()))))
print("%-9s %-15s %-3s %-18s %-18s %s" % ("who", "model", "thr", "wall ms", "cpu ms", "wall / pytorch's"))
for (who, model, t), v in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0] == "pytorch", kv[0][0])):
    ref = runs.get(("pytorch", model, t))
    ratio = "" if who == "pytorch" or ref is None else "%.2f" % (statistics.median([x[0] for x in v]) / statistics.median([x[0] for x in ref]))
    print("%-9s %-15s %-3d %-18s %-18s %s" % (who, model, t, cell([x[0] for x in v]), cell([x[1] for x in v]), ratio))
for (who, model, t), v in sorted(runs.items()):
    if t == 2 and (who, model, 1) in runs:
        one = statistics.median([x[0] for x in runs[(who, model, 1)]])
        print("%-9s %-15s 2 threads / 1 thread (wall): %.2f" % (who, model, statistics.median([x[0] for x in v]) / one))
EOF
