//go:build unix

package nn

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
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
				m.GorgoniaOps = gorgonia
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
