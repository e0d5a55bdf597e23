//go:build unix

package train

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/internal/nnref"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
)

// Step variants measured side by side in one run:
//
//	gorgonia    the graph of Gorgonia's generic ops (the path before the fused ops)
//	fused       nn's fused Linear/Conv2D/MaxPool ops on internal/f32's SGEMM
//	            (what training runs), Adam through f32.Adam
var stepVariants = []string{"gorgonia", "fused"}

// benchStep measures one training step (forward, backward, optimizer) of
// arch on MNIST-shaped synthetic data, float or with fake quantization
// (W8A8, clipped STE, observers on and batch norm on batch statistics:
// the costliest QAT phase).
func benchStep(b *testing.B, arch string, batch int, quant Quantize, variant string) {
	step := newBenchStep(b, arch, batch, quant, variant)
	cpu0 := CPUTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step(i)
	}
	b.StopTimer()
	// On a loaded machine wall time depends on the share of a core the
	// process got; CPU time per step (user + system, all threads) does not.
	b.ReportMetric(float64(CPUTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// Quantize returns the quantizer of a benchmark's model, calibrated on
// data, and the hook to run before each step; nil quantizes nothing.
type Quantize func(m *nn.Model, data *datasets.Set, batch int) (nn.Quantizer, func(step int) error, error)

// newBenchStep builds benchStep's trainer and returns its step i.
func newBenchStep(b *testing.B, arch string, batch int, quant Quantize, variant string) func(i int) {
	return newBenchStepOn(b, arch, datasets.Synthetic(batch*4, 16, 28, 28, 10, 40, 1), rundir.Config{Batch: batch}, quant, variant)
}

// newBenchStepOn is newBenchStep on the given data and configuration.
func newBenchStepOn(b *testing.B, arch string, data *datasets.Pair, cfg rundir.Config, quant Quantize, variant string) func(i int) {
	batch := cfg.Batch
	m, err := nn.New(arch, nn.Shape{C: data.Train.C, H: data.Train.H, W: data.Train.W}, 10, 1)
	if err != nil {
		b.Fatal(err)
	}
	nnref.SetGorgoniaOps(m, variant == "gorgonia")
	tr, err := NewTrainer(m, data, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if quant != nil {
		q, before, err := quant(m, data.Train, batch)
		if err != nil {
			b.Fatal(err)
		}
		tr.Quant, tr.BeforeStep = q, before
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
	return func(i int) {
		if tr.BeforeStep != nil {
			tr.BeforeStep(i)
		}
		if _, _, err := tr.step(sg, labels, 1e-5); err != nil {
			b.Fatal(err)
		}
	}
}

// CPUTime is the process's user + system time.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchSteps(b *testing.B, arch string, quant Quantize) {
	for _, v := range stepVariants {
		b.Run(v, func(b *testing.B) { benchStep(b, arch, 64, quant, v) })
	}
}

// BenchmarkStepCIFAR is one float training step (forward, backward, SGD
// with momentum 0.9 and weight decay 5e-4) at batch 128 on 3×32×32 images
// of random pixels, the CIFAR-10 recipe's step; scripts/peers/
// torch_train_step.py times PyTorch's on the same models and batch. Run
// it with GOMAXPROCS=1 and 2 (-cpu 1,2): ms/step is wall time per step.
func BenchmarkStepCIFAR(b *testing.B) {
	const batch = 128
	data := cifarShaped(batch*2, 1)
	for _, arch := range []string{"resnet8-mlperf", "resnet20", "lenet5"} {
		b.Run(arch, func(b *testing.B) {
			step := newBenchStepOn(b, arch, data, rundir.Config{Batch: batch, Optimizer: "sgd", LR: 0.1, WeightDecay: 5e-4}, nil, "fused")
			timeSteps(b, step)
		})
	}
	// The same step distilled from a resnet8-mlperf float teacher: one
	// more forward pass, on the float runtime.
	b.Run("resnet8-mlperf-teacher", func(b *testing.B) {
		tm, err := nn.New("resnet8-mlperf", nn.Shape{C: 3, H: 32, W: 32}, 10, 2)
		if err != nil {
			b.Fatal(err)
		}
		ck := &rundir.Checkpoint{Version: rundir.CheckpointVersion, Phase: rundir.PhaseFloat}
		if err := ck.SetModel(tm); err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(b.TempDir(), rundir.CheckpointFile)
		if err := rundir.SaveCheckpoint(path, ck); err != nil {
			b.Fatal(err)
		}
		cfg := rundir.Config{Batch: batch, Optimizer: "sgd", LR: 0.1, WeightDecay: 5e-4,
			Distill: &rundir.Distill{Teacher: path, Weight: 0.9, Temp: 4}}
		timeSteps(b, newBenchStepOn(b, "resnet8-mlperf", data, cfg, nil, "fused"))
	})
}

// BenchmarkStepMNIST is one float training step (forward, backward,
// Adam at its defaults) at batch 64 on MNIST-shaped synthetic images
// (1×28×28), the MNIST recipe's step, for resnet8 and lenet5;
// scripts/peers/torch_train_step.py (mnist) times PyTorch's on the same
// models and batch. Run it with -cpu 1,2: ms/step is wall time per step.
func BenchmarkStepMNIST(b *testing.B) {
	const batch = 64
	data := datasets.Synthetic(batch*4, 16, 28, 28, 10, 40, 1)
	for _, arch := range []string{"resnet8", "lenet5"} {
		b.Run(arch, func(b *testing.B) {
			step := newBenchStepOn(b, arch, data, rundir.Config{Batch: batch}, nil, "fused")
			timeSteps(b, step)
		})
	}
}

// timeSteps runs step once untimed (buffers and packing scratch), then
// b.N times, and reports wall and CPU milliseconds per step.
func timeSteps(b *testing.B, step func(int)) {
	step(0)
	cpu0 := CPUTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step(i + 1)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/step")
	b.ReportMetric(float64(CPUTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/step")
}

// cifarShaped is n random 3×32×32 images with 10 classes in both splits.
func cifarShaped(n int, seed uint64) *datasets.Pair {
	r := rand.New(rand.NewPCG(seed, 3))
	set := func() *datasets.Set {
		s := &datasets.Set{Name: "random", N: n, C: 3, H: 32, W: 32, Classes: 10,
			Pix: make([]uint8, n*3*32*32), Labels: make([]uint8, n)}
		for i := range s.Pix {
			s.Pix[i] = uint8(r.IntN(256))
		}
		for i := range s.Labels {
			s.Labels[i] = uint8(r.IntN(10))
		}
		return s
	}
	return &datasets.Pair{Train: set(), Test: set()}
}

func BenchmarkStepLenet300Float(b *testing.B)      { benchSteps(b, "lenet300", nil) }
func BenchmarkStepLenet5Float(b *testing.B)        { benchSteps(b, "lenet5", nil) }
func BenchmarkStepResnet8Float(b *testing.B)       { benchSteps(b, "resnet8", nil) }
func BenchmarkStepMobilenetFloat(b *testing.B)     { benchSteps(b, "mobilenet-tiny", nil) }
func BenchmarkStepResnet8MLPerfFloat(b *testing.B) { benchSteps(b, "resnet8-mlperf", nil) }

// TestAdamWScalarTwin: adamW.Step (through f32.Adam's vector kernel)
// gives, bit for bit, the scalar loop of its documented formula.
func TestAdamWScalarTwin(t *testing.T) {
	// A lone element, a ragged vector tail (9 = 8 + 1), a bias and a size
	// above f32's goroutine split; values from a sine of large primes
	// times 10^-6…10^2, so gradients span the magnitudes training sees.
	sizes := []int{1, 9, 300, 70001}
	ref, fast := &scalarAdam{NewAdam(sizes, 1e-8), 0.01}, newAdamW(sizes, 0.01)
	mk := func(seed int) [][]float32 {
		out := make([][]float32, len(sizes))
		for i, n := range sizes {
			out[i] = make([]float32, n)
			for j := range out[i] {
				out[i][j] = float32(math.Sin(float64(seed*7919+i*104729+j))) * float32(math.Pow(10, float64(j%9-6)))
			}
		}
		return out
	}
	w1, w2 := mk(1), mk(1)
	for step := 2; step < 6; step++ {
		g := mk(step)
		scalarAdamW(ref, w1, g, 3e-3)
		fast.Step(w2, g, 3e-3)
	}
	for i := range w1 {
		for j := range w1[i] {
			if math.Float32bits(w1[i][j]) != math.Float32bits(w2[i][j]) {
				t.Fatalf("param %d[%d]: %v vs %v", i, j, w1[i][j], w2[i][j])
			}
		}
	}
}

// scalarAdamW is adamW.Step written out as one scalar loop, every product
// rounded explicitly (float32(…)) so that GOAMD64=v3 cannot fuse it.
func scalarAdamW(a *scalarAdam, params, grads [][]float32, lr float64) {
	a.t++
	c1 := 1 / (1 - math.Pow(a.beta1, a.t))
	c2 := 1 / (1 - math.Pow(a.beta2, a.t))
	b1, b2 := float32(a.beta1), float32(a.beta2)
	step, sc2, eps, decay := float32(lr*c1), float32(c2), float32(a.eps), float32(1-lr*a.wd)
	for i, w := range params {
		g, m, v := grads[i], a.m[i], a.v[i]
		for j := range w {
			m[j] = float32(b1*m[j]) + float32((1-b1)*g[j])
			v[j] = float32(b2*v[j]) + float32((1-b2)*g[j]*g[j])
			w[j] = float32(w[j]*decay) - step*m[j]/(float32(math.Sqrt(float64(v[j]*sc2)))+eps)
		}
	}
}

type scalarAdam struct {
	*Adam
	wd float64
}
