package train

import (
	"context"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
)

// benchStep measures one training step (forward, backward, optimizer) of
// arch on MNIST-shaped synthetic data, float or with fake quantization
// (W8A8, clipped STE, observers on: the costliest QAT phase).
func benchStep(b *testing.B, arch string, batch int, quant bool) {
	data := datasets.Synthetic(batch*4, 16, 28, 28, 10, 40, 1)
	m, err := nn.New(arch, nn.Shape{C: 1, H: 28, W: 28}, 10, 1)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := NewTrainer(m, data, Config{Batch: batch})
	if err != nil {
		b.Fatal(err)
	}
	if quant {
		q, err := NewQAT(m, QATConfig{})
		if err != nil {
			b.Fatal(err)
		}
		if err := q.Calibrate(context.Background(), m, data.Train, batch, 1); err != nil {
			b.Fatal(err)
		}
		q.SetTraining(true)
		tr.Quant, tr.BeforeStep = q, q.BeforeStep
	}
	sg, err := tr.graph(batch)
	if err != nil {
		b.Fatal(err)
	}
	labels := make([]int, batch)
	datasets.NewBatcher(data.Train, batch, true, 1).Next(sg.x.Data().([]float32), labels)
	yd := sg.yT.Data().([]float32)
	for i, l := range labels {
		yd[i*10+l] = 1
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if tr.BeforeStep != nil {
			tr.BeforeStep(i)
		}
		if _, _, err := tr.step(sg, labels, 1e-5); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStepLenet300Float(b *testing.B) { benchStep(b, "lenet300", 64, false) }
func BenchmarkStepLenet300QAT(b *testing.B)   { benchStep(b, "lenet300", 64, true) }
func BenchmarkStepLenet5Float(b *testing.B)   { benchStep(b, "lenet5", 64, false) }
func BenchmarkStepLenet5QAT(b *testing.B)     { benchStep(b, "lenet5", 64, true) }
