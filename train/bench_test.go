//go:build unix

package train

import (
	"math"
	"syscall"
	"testing"
	"time"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/internal/f32"
	"github.com/tinyqat/tinyqat/nn"
)

// Step variants measured side by side in one run:
//
//	gorgonia    the graph of Gorgonia's generic ops (the path before the fused ops)
//	fused       nn's fused Linear/Conv2D/MaxPool ops on internal/f32's SGEMM
//	fused-adam  fused, and Adam's update through f32.Adam (bit-identical to
//	            optim.go's loop; what wiring the kernel into optim.go gains)
var stepVariants = []string{"gorgonia", "fused", "fused-adam"}

// benchStep measures one training step (forward, backward, optimizer) of
// arch on MNIST-shaped synthetic data, float or with fake quantization
// (W8A8, clipped STE, observers on: the costliest QAT phase).
func benchStep(b *testing.B, arch string, batch int, quant bool, variant string) {
	data := datasets.Synthetic(batch*4, 16, 28, 28, 10, 40, 1)
	m, err := nn.New(arch, nn.Shape{C: 1, H: 28, W: 28}, 10, 1)
	if err != nil {
		b.Fatal(err)
	}
	m.GorgoniaOps = variant == "gorgonia"
	tr, err := NewTrainer(m, data, Config{Batch: batch})
	if err != nil {
		b.Fatal(err)
	}
	if variant == "fused-adam" {
		tr.opt = kernelAdam{tr.opt.(*adam)}
	}
	if quant {
		q, err := NewQAT(m, QATConfig{})
		if err != nil {
			b.Fatal(err)
		}
		if err := q.Calibrate(m, data.Train, batch, 1); err != nil {
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
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if tr.BeforeStep != nil {
			tr.BeforeStep(i)
		}
		if _, _, err := tr.step(sg, labels, 1e-5); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// On a loaded machine wall time depends on the share of a core the
	// process got; CPU time per step (user + system, all threads) does not.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user + system time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchSteps(b *testing.B, arch string, quant bool) {
	for _, v := range stepVariants {
		b.Run(v, func(b *testing.B) { benchStep(b, arch, 64, quant, v) })
	}
}

func BenchmarkStepLenet300Float(b *testing.B) { benchSteps(b, "lenet300", false) }
func BenchmarkStepLenet300QAT(b *testing.B)   { benchSteps(b, "lenet300", true) }
func BenchmarkStepLenet5Float(b *testing.B)   { benchSteps(b, "lenet5", false) }
func BenchmarkStepLenet5QAT(b *testing.B)     { benchSteps(b, "lenet5", true) }

// kernelAdam is train's adam with the update loop replaced by f32.Adam.
type kernelAdam struct{ *adam }

func (a kernelAdam) Step(params, grads [][]float32, lr float64) {
	a.t++
	c1 := 1 / (1 - math.Pow(a.beta1, a.t))
	c2 := 1 / (1 - math.Pow(a.beta2, a.t))
	c := f32.AdamCoef{Beta1: float32(a.beta1), Beta2: float32(a.beta2), Step: float32(lr * c1),
		Scale2: float32(c2), Eps: float32(a.eps), Decay: float32(1 - lr*a.wd)}
	for i, w := range params {
		f32.Adam(w, grads[i], a.m[i], a.v[i], c)
	}
}

// TestKernelAdamBitIdentical: f32.Adam gives optim.go's adam bit for bit,
// so switching optim.go to it keeps resumed runs identical to old ones.
func TestKernelAdamBitIdentical(t *testing.T) {
	// A lone element, a ragged vector tail (9 = 8 + 1), a bias and a size
	// above f32's goroutine split; values from a sine of large primes
	// times 10^-6…10^2, so gradients span the magnitudes training sees.
	sizes := []int{1, 9, 300, 70001}
	ref, fast := newAdam(sizes, 1e-4), kernelAdam{newAdam(sizes, 1e-4)}
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
		ref.Step(w1, g, 3e-3)
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
