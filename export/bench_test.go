package export

import (
	"context"
	"fmt"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/train"
)

// benchSetup builds, once per architecture, a model calibrated (PTQ) on
// MNIST and its exports. The weights are the seeded initialisation: speed
// depends on shapes, and on the inputs — gonum's float GEMM skips zero
// inputs, and MNIST images are mostly zero, so the inputs are real MNIST
// test images (synthetic data would flatter the int8 runtime by 2×).
var benchCache = map[string]map[string]any{}

func benchSetup(b *testing.B, arch string) map[string]any {
	if m, ok := benchCache[arch]; ok {
		return m
	}
	full, err := datasets.Load("")
	if err != nil {
		b.Fatal(err)
	}
	data := &datasets.Pair{Dir: full.Dir, Train: full.Train.Subset(4096), Test: full.Test}
	out := map[string]any{"data": data}
	for _, scheme := range []string{"symmetric", "affine"} {
		m, err := nn.New(arch, nn.Shape{C: 1, H: 28, W: 28}, 10, 1)
		if err != nil {
			b.Fatal(err)
		}
		tr, _ := train.NewTrainer(m, data, train.Config{Epochs: 1})
		ck := tr.Checkpoint()
		res, err := train.PTQ(context.Background(), ck, data, train.QATConfig{ActScheme: train.ActScheme(scheme), CalibBatches: 4}, train.Config{TestLimit: 100}, "", train.Quiet())
		if err != nil {
			b.Fatal(err)
		}
		qck := res.Trainer.Checkpoint()
		modes := map[string][]infer.Mode{"symmetric": {infer.W8A8, infer.W8Only}, "affine": {infer.W8A8Asym}}[scheme]
		for _, md := range modes {
			im, err := Export(context.Background(), qck, md)
			if err != nil {
				b.Fatal(err)
			}
			out[string(md)] = im
		}
		if scheme == "symmetric" {
			out["float"] = nn.NewPredictor(m, nil)
		}
	}
	benchCache[arch] = out
	return out
}

func benchForward(b *testing.B, arch, kind string, batch int) {
	s := benchSetup(b, arch)
	data := s["data"].(*datasets.Pair)
	x := make([]float32, batch*784)
	for i := 0; i < batch; i++ {
		datasets.ToFloat(x[i*784:(i+1)*784], data.Test.Image(i%data.Test.N))
	}
	logits := make([]float32, batch*10)
	var sink int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		switch kind {
		case "float":
			if err := s["float"].(*nn.Predictor).Logits(logits, x, batch); err != nil {
				b.Fatal(err)
			}
		case "w8-only":
			out, err := s[kind].(*infer.Model).FloatLogits(x, batch)
			if err != nil {
				b.Fatal(err)
			}
			sink += len(out)
		default:
			out, err := s[kind].(*infer.Model).Logits(x, batch)
			if err != nil {
				b.Fatal(err)
			}
			sink += len(out)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/sample")
	_ = sink
}

// BenchmarkForward is a ladder: architecture × implementation × batch size.
// Compare implementations with benchstat on the ns/sample column.
func BenchmarkForward(b *testing.B) {
	for _, arch := range []string{"lenet300", "lenet5"} {
		for _, kind := range []string{"float", "w8a8", "w8a8-asym", "w8-only"} {
			for _, batch := range []int{1, 64, 1000} {
				if arch == "lenet5" && batch == 1000 && testing.Short() {
					continue
				}
				b.Run(fmt.Sprintf("%s/%s/batch=%d", arch, kind, batch), func(b *testing.B) { benchForward(b, arch, kind, batch) })
			}
		}
	}
}
