package train_test

import (
	"context"
	"testing"
	"time"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/train"
)

// quantizeQAT is benchStep's QAT: W8A8, clipped STE, observers on and
// batch norm on batch statistics (the costliest QAT phase). Observers and
// batch-norm statistics never freeze: Calibrate would resolve "one epoch"
// to the 4 batches of the benchmark's set.
func quantizeQAT(m *nn.Model, data *datasets.Set, batch int) (nn.Quantizer, func(int) error, error) {
	q, err := qat.New(m, qat.Config{FreezeAfter: qat.FreezeNever, FreezeBNAfter: qat.FreezeNever})
	if err != nil {
		return nil, nil, err
	}
	if err := q.Calibrate(context.Background(), m, data, batch, 1); err != nil {
		return nil, nil, err
	}
	q.SetTraining(true)
	return q, q.BeforeStep, nil
}

// BenchmarkQATOverFloat alternates a float step and a QAT step (fused
// ops, as benchStep) and reports the ratio of their CPU times: both see
// the same load, so the ratio (QAT against float) is
// steadier on a shared machine than one taken from two benchmarks run
// one after the other. Both steps train the same model from the same
// initialization on the same batch; after the timed steps the benchmark
// checks that the QAT step still had its observers and batch-norm
// statistics updating (the phase the target is stated for).
func BenchmarkQATOverFloat(b *testing.B) {
	for _, arch := range []string{"lenet300", "lenet5", "resnet8", "resnet8-mlperf", "mobilenet-tiny"} {
		b.Run(arch, func(b *testing.B) {
			var (
				q  *qat.Quantizer
				qm *nn.Model
			)
			watch := func(m *nn.Model, data *datasets.Set, batch int) (nn.Quantizer, func(int) error, error) {
				nq, before, err := quantizeQAT(m, data, batch)
				if err == nil {
					q, qm = nq.(*qat.Quantizer), m
				}
				return nq, before, err
			}
			fl := train.NewBenchStep(b, arch, 64, nil, "fused")
			qs := train.NewBenchStep(b, arch, 64, watch, "fused")
			var tf, tq time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c0 := train.CPUTime()
				fl(i)
				c1 := train.CPUTime()
				qs(i)
				tf, tq = tf+c1-c0, tq+train.CPUTime()-c1
			}
			b.StopTimer()
			if q.Frozen() || qm.BNFrozen() {
				b.Fatalf("after %d QAT steps: observers frozen %v, batch norm frozen %v", b.N, q.Frozen(), qm.BNFrozen())
			}
			for _, name := range q.Slots() {
				if st := q.Slot(name); st.Observer != nil && st.BiasOf == nil && st.MeanOf == nil && !st.Observing() {
					b.Fatalf("after %d QAT steps: slot %s not observing", b.N, name)
				}
			}
			b.ReportMetric(float64(tf)/float64(b.N), "float-cpu-ns/op")
			b.ReportMetric(float64(tq)/float64(b.N), "qat-cpu-ns/op")
			b.ReportMetric(float64(tq)/float64(tf), "qat/float")
		})
	}
}

func BenchmarkStepLenet300QAT(b *testing.B) { benchSteps(b, "lenet300", quantizeQAT) }
func BenchmarkStepLenet5QAT(b *testing.B)   { benchSteps(b, "lenet5", quantizeQAT) }

func benchSteps(b *testing.B, arch string, quant train.Quantize) {
	for _, v := range train.StepVariants {
		b.Run(v, func(b *testing.B) { train.BenchStep(b, arch, 64, quant, v) })
	}
}

func BenchmarkStepResnet8QAT(b *testing.B)       { benchSteps(b, "resnet8", quantizeQAT) }
func BenchmarkStepMobilenetQAT(b *testing.B)     { benchSteps(b, "mobilenet-tiny", quantizeQAT) }
func BenchmarkStepResnet8MLPerfQAT(b *testing.B) { benchSteps(b, "resnet8-mlperf", quantizeQAT) }
