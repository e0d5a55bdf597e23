package infer

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// resnet8Shape is a hand-built integer model with resnet8's shape (the
// issue's plan): conv 3×3 16 on 1×28×28 (stride 1, pad 1, ReLU); three
// BasicBlocks of two 3×3 convs (the first of stride 2) at 16, 32 and 64
// channels (14×14, 7×7, 4×4) with 1×1 stride-2 projection shortcuts and
// a ReLU add; global average pool; linear 10.
func resnet8Shape(t testing.TB, mode Mode) *Model {
	g := newGraph(t, rand.New(rand.NewPCG(31, 31)), mode, "resnet8", 1, 28, 28, 10)
	x := g.weighted(-2, 16, 3, 1, 1, 0, true, false)
	for _, c := range []int{16, 32, 64} {
		g.weighted(x, c, 3, 2, 1, 0, true, false)
		body := g.weighted(-2, c, 3, 1, 1, 0, false, false)
		short := g.weighted(x, c, 1, 2, 0, 0, false, false)
		x = g.add(body, short, true, 0)
	}
	g.gap()
	g.weighted(-2, 10, 0, 0, 0, 0, false, false)
	return g.done()
}

// mobilenetShape is mobilenet-tiny's shape: conv 3×3 stride 2 16 on
// 1×28×28 (14×14, ReLU6), then depthwise-separable blocks (depthwise 3×3
// + ReLU6, pointwise 1×1 + ReLU6) to 32 (14×14), 64 (7×7, depthwise
// stride 2) and 64 (4×4, stride 2) channels; global average pool; linear 10.
func mobilenetShape(t testing.TB, mode Mode) *Model {
	g := newGraph(t, rand.New(rand.NewPCG(32, 32)), mode, "mobilenet-tiny", 1, 28, 28, 10)
	g.weighted(-2, 16, 3, 2, 1, 0, false, true)
	c := 16
	for _, b := range []struct{ out, stride int }{{32, 1}, {64, 2}, {64, 2}} {
		g.weighted(-2, c, 3, b.stride, 1, c, false, true)
		g.weighted(-2, b.out, 1, 1, 0, 0, false, true)
		c = b.out
	}
	g.gap()
	g.weighted(-2, 10, 0, 0, 0, 0, false, false)
	return g.done()
}

// BenchmarkModels runs whole models through Logits (the caller's
// GOMAXPROCS: use -cpu 1 for one core) at batch 1, 64 and 1000 and
// reports µs per image, by the wall clock and, with -cpu 1, by the
// thread's CPU time (cpu-µs/img: what a core busy with other processes
// does not inflate) and in G MAC/s of that CPU time (cpu-GMAC/s, to set
// against BenchmarkPeak): lenet300 and lenet5's shapes (randModel) and
// resnet8's and mobilenet-tiny's (hand-built, random weights).
func BenchmarkModels(b *testing.B) {
	models := []struct {
		name  string
		build func() *Model
	}{
		{"lenet300", func() *Model { return randModel(b, rand.New(rand.NewPCG(1, 1)), "lenet300", W8A8) }},
		{"lenet5", func() *Model { return randModel(b, rand.New(rand.NewPCG(1, 1)), "lenet5", W8A8) }},
		{"resnet8", func() *Model { return resnet8Shape(b, W8A8) }},
		{"mobilenet", func() *Model { return mobilenetShape(b, W8A8) }},
	}
	for _, mm := range models {
		m := mm.build()
		for _, n := range []int{1, 64, 1000} {
			x := randInput(rand.New(rand.NewPCG(2, 2)), m, n)
			dst := make([]int32, n*m.Classes)
			b.Run(fmt.Sprintf("%s/batch=%d", mm.name, n), func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				m.LogitsInto(dst, x, n) // warm: plan, buffers
				cpu0 := threadCPU()
				for b.Loop() {
					if err := m.LogitsInto(dst, x, n); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N*n), "µs/img")
				if runtime.GOMAXPROCS(0) == 1 {
					cpu := float64((threadCPU() - cpu0).Nanoseconds())
					b.ReportMetric(cpu/1e3/float64(b.N*n), "cpu-µs/img")
					// Against BenchmarkPeak's roof: MACs per thread-CPU ns.
					macs := 0
					for _, p := range m.plan().layers {
						macs += p.macs
					}
					b.ReportMetric(float64(macs)*float64(b.N*n)/cpu, "cpu-GMAC/s")
				}
			})
		}
	}
}
