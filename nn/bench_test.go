//go:build unix

package nn

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BenchmarkPredict is float inference at batch 1000 on one graph, the
// fused ops beside Gorgonia's generic ones; ns/image is the figure to
// compare with ONNX Runtime's and PyTorch's per-image times.
func BenchmarkPredict(b *testing.B) {
	const n = 1000
	for _, arch := range Architectures {
		for _, gorgonia := range []bool{true, false} {
			name := arch + "/fused"
			if gorgonia {
				name = arch + "/gorgonia"
			}
			b.Run(name, func(b *testing.B) {
				m, err := New(arch, Shape{1, 28, 28}, 10, 1)
				if err != nil {
					b.Fatal(err)
				}
				m.gorgoniaOps = gorgonia
				r := rand.New(rand.NewPCG(1, 2))
				x := make([]float32, n*784)
				for i := range x {
					x[i] = float32(r.Float64())
				}
				out := make([]float32, n*10)
				p := NewPredictor(m, nil)
				defer p.Close()
				if err := p.Logits(out, x, n); err != nil { // build the graph outside the timing
					b.Fatal(err)
				}
				cpu0 := cpuTime()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := p.Logits(out, x, n); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/image")
				// CPU time does not depend on the share of a core a loaded machine gives.
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N*n), "cpu-ns/image")
			})
		}
	}
}

// cpuTime is the process's user + system time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTrainStep is one forward and backward pass of a training graph
// (BuildTrain: batch normalization with batch statistics) at batch 64,
// with L = Σ logits ⊙ c as the loss (the trainer's softmax cross-entropy
// costs about as much as this on 64×10 logits) and no optimizer step.
func BenchmarkTrainStep(b *testing.B) {
	const n = 64
	for _, arch := range Architectures {
		b.Run(arch, func(b *testing.B) {
			m, err := New(arch, Shape{1, 28, 28}, 10, 1)
			if err != nil {
				b.Skip(err)
			}
			net, err := m.BuildTrain(n, nil)
			if err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			c := make([]float32, n*10)
			for i := range c {
				c[i] = float32(r.NormFloat64())
			}
			ct := G.NewTensor(net.G, tensor.Float32, 2, G.WithShape(n, 10), G.WithName("c"),
				G.WithValue(tensor.New(tensor.WithShape(n, 10), tensor.WithBacking(c))))
			prod, err := G.HadamardProd(net.Out, ct)
			if err != nil {
				b.Fatal(err)
			}
			loss, err := G.Sum(prod)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := G.Grad(loss, net.Params...); err != nil {
				b.Fatal(err)
			}
			vm := G.NewTapeMachine(net.G)
			defer vm.Close()
			x := make([]float32, n*784)
			for i := range x {
				x[i] = float32(r.Float64())
			}
			xt := tensor.New(tensor.WithShape(n, 1, 28, 28), tensor.WithBacking(x))
			step := func() {
				if err := G.Let(net.X, xt); err != nil {
					b.Fatal(err)
				}
				if err := vm.RunAll(); err != nil {
					b.Fatal(err)
				}
				vm.Reset()
			}
			step()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step()
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/step")
			b.ReportMetric(float64(m.MACs()), "MACs/image")
			b.ReportMetric(float64(m.NumParams()), "params")
		})
	}
}
