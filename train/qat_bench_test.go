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
// one after the other.
func BenchmarkQATOverFloat(b *testing.B) {
	for _, arch := range []string{"lenet300", "lenet5", "resnet8", "mobilenet-tiny"} {
		b.Run(arch, func(b *testing.B) {
			fl := train.NewBenchStep(b, arch, 64, nil, "fused")
			qat := train.NewBenchStep(b, arch, 64, quantizeQAT, "fused")
			var tf, tq time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c0 := train.CPUTime()
				fl(i)
				c1 := train.CPUTime()
				qat(i)
				tf, tq = tf+c1-c0, tq+train.CPUTime()-c1
			}
			b.StopTimer()
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
