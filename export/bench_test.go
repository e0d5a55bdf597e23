package export

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
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
		tr, _ := train.NewTrainer(m, data, rundir.Config{Epochs: 1})
		ck, err := tr.Checkpoint()
		if err != nil {
			b.Fatal(err)
		}
		res, err := qat.PTQ(context.Background(), ck, data, qat.Options{Quant: qat.Config{ActScheme: qat.ActScheme(scheme), CalibBatches: 4}, Train: rundir.Config{TestLimit: 100}})
		if err != nil {
			b.Fatal(err)
		}
		qck, err := res.Trainer.Checkpoint()
		if err != nil {
			b.Fatal(err)
		}
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
	ilogits := make([]int32, batch*10)
	var sink int
	for b.Loop() {
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
			if err := s[kind].(*infer.Model).LogitsInto(ilogits, x, batch); err != nil {
				b.Fatal(err)
			}
		}
	}
	perImage := float64(b.Elapsed().Nanoseconds()) / float64(b.N*batch)
	b.ReportMetric(perImage/1e3, "µs/image")
	b.ReportMetric(float64(infer.MACs(s["w8a8"].(*infer.Model)))/perImage, "GMAC/s")
	_ = sink
}

// BenchmarkForward is a ladder: architecture × implementation × batch size
// × GOMAXPROCS. Compare implementations with benchstat on the µs/image
// column; GMAC/s counts the int8 model's multiply-accumulates for every
// implementation (the same network).
func BenchmarkForward(b *testing.B) {
	for _, arch := range []string{"lenet300", "lenet5"} {
		for _, kind := range []string{"float", "w8a8", "w8a8-asym", "w8-only"} {
			for _, batch := range []int{1, 64, 1000} {
				for _, procs := range []int{1, 2} {
					if arch == "lenet5" && batch == 1000 && testing.Short() {
						continue
					}
					b.Run(fmt.Sprintf("%s/%s/batch=%d/procs=%d", arch, kind, batch, procs), func(b *testing.B) {
						defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
						benchForward(b, arch, kind, batch)
					})
				}
			}
		}
	}
}

// BenchmarkSideBySide runs one round of every configuration per
// iteration — lenet300 and lenet5, int8 (w8a8) and the float model,
// batch 1, 64 and 1000, GOMAXPROCS 1 and 2 — and reports each one's
// fastest round in µs/image, so that the ratios (int8 over float, two
// cores over one) come from rounds interleaved in one run: on a shared,
// loaded machine the minimum is the least disturbed measurement. Run it
// with -benchtime=Nx (N rounds).
func BenchmarkSideBySide(b *testing.B) {
	type config struct {
		arch, kind   string
		batch, procs int
	}
	var cfgs []config
	for _, arch := range []string{"lenet300", "lenet5"} {
		for _, kind := range []string{"w8a8", "float"} {
			for _, batch := range []int{1, 64, 1000} {
				for _, procs := range []int{1, 2} {
					cfgs = append(cfgs, config{arch, kind, batch, procs})
				}
			}
		}
	}
	type input struct {
		x      []float32
		logits []float32
		ints   []int32
	}
	inputs := map[string]*input{}
	for _, c := range cfgs {
		key := fmt.Sprint(c.arch, c.batch)
		if inputs[key] != nil {
			continue
		}
		data := benchSetup(b, c.arch)["data"].(*datasets.Pair)
		in := &input{x: make([]float32, c.batch*784), logits: make([]float32, c.batch*10), ints: make([]int32, c.batch*10)}
		for i := 0; i < c.batch; i++ {
			datasets.ToFloat(in.x[i*784:(i+1)*784], data.Test.Image(i%data.Test.N))
		}
		inputs[key] = in
	}
	best := make([]float64, len(cfgs)) // ns per image
	for b.Loop() {
		for i, c := range cfgs {
			s, in := benchSetup(b, c.arch), inputs[fmt.Sprint(c.arch, c.batch)]
			prev := runtime.GOMAXPROCS(c.procs)
			reps := max(1, 256/c.batch)
			start := time.Now()
			for r := 0; r < reps; r++ {
				var err error
				if c.kind == "float" {
					err = s["float"].(*nn.Predictor).Logits(in.logits, in.x, c.batch)
				} else {
					err = s[c.kind].(*infer.Model).LogitsInto(in.ints, in.x, c.batch)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			ns := float64(time.Since(start).Nanoseconds()) / float64(reps*c.batch)
			runtime.GOMAXPROCS(prev)
			if best[i] == 0 || ns < best[i] {
				best[i] = ns
			}
		}
	}
	for i, c := range cfgs {
		macs := float64(infer.MACs(benchSetup(b, c.arch)["w8a8"].(*infer.Model)))
		b.ReportMetric(best[i]/1e3, fmt.Sprintf("µs/img:%s/%s/b%d/p%d", c.arch, c.kind, c.batch, c.procs))
		if c.kind == "w8a8" {
			b.ReportMetric(macs/best[i], fmt.Sprintf("GMAC/s:%s/%s/b%d/p%d", c.arch, c.kind, c.batch, c.procs))
			b.ReportMetric(best[i+len(cfgs)/4]/best[i], fmt.Sprintf("int8-speedup-over-float:%s/b%d/p%d", c.arch, c.batch, c.procs))
			if c.procs == 2 {
				b.ReportMetric(best[i-1]/best[i], fmt.Sprintf("2-over-1-core:%s/b%d", c.arch, c.batch))
			}
		}
	}
}
