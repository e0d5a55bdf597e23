package infer

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkFloatVsInt8 runs lenet300, lenet5, resnet8, mobilenet-tiny and
// resnet8-mlperf (CIFAR, 3×32×32) shapes (built here, fixed seeds) through the float runtime
// (FloatLogitsInto on the float twin) and the int8 runtime (LogitsInto
// on the w8a8 model of the same shape), side by side, at batch 1, 64 and
// 1000, and reports µs per image (and, with -cpu 1, the thread's CPU µs
// per image). Compare the two lines of one run; there are no thresholds.
func BenchmarkFloatVsInt8(b *testing.B) {
	models := []struct {
		name  string
		build func() *Model
	}{
		{"lenet300", func() *Model { return randModel(b, rand.New(rand.NewPCG(1, 1)), "lenet300", W8A8) }},
		{"lenet5", func() *Model { return randModel(b, rand.New(rand.NewPCG(1, 1)), "lenet5", W8A8) }},
		{"resnet8", func() *Model { return resnet8Shape(b, W8A8) }},
		{"mobilenet", func() *Model { return mobilenetShape(b, W8A8) }},
		{"resnet8-mlperf", func() *Model { return resnet8MLPerfShape(b, W8A8) }},
	}
	for _, mm := range models {
		im := mm.build()
		fm := floatTwin(b, im, 1, 0)
		for _, n := range []int{1, 64, 1000} {
			x := testInput(im, n, 2)
			idst := make([]int32, n*im.Classes)
			fdst := make([]float32, n*fm.Classes)
			for _, rt := range []struct {
				name string
				run  func() error
			}{
				{"float", func() error { return fm.FloatLogitsInto(fdst, x, n) }},
				{"int8", func() error { return im.LogitsInto(idst, x, n) }},
			} {
				b.Run(fmt.Sprintf("%s/batch=%d/%s", mm.name, n, rt.name), func(b *testing.B) {
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					if err := rt.run(); err != nil { // warm: plan, buffers
						b.Fatal(err)
					}
					cpu0 := threadCPU()
					for b.Loop() {
						if err := rt.run(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N*n), "µs/img")
					if runtime.GOMAXPROCS(0) == 1 {
						b.ReportMetric(float64((threadCPU()-cpu0).Nanoseconds())/1e3/float64(b.N*n), "cpu-µs/img")
					}
				})
			}
		}
	}
}

// resnet8MLPerfShape is resnet8-mlperf's shape (nn.ResNet8MLPerf): conv
// 3×3 16 on 3×32×32 (ReLU); three residual stacks of two 3×3 convs at 16
// (stride 1, identity shortcut), 32 and 64 channels (the first conv of
// stride 2, 16×16 and 8×8, a 1×1 stride-2 projection shortcut), each
// closed by a ReLU add; global average pool; linear 10.
func resnet8MLPerfShape(t testing.TB, mode Mode) *Model {
	g := newGraph(t, rand.New(rand.NewPCG(33, 33)), mode, "resnet8-mlperf", 3, 32, 32, 10)
	x := g.weighted(-2, 16, 3, 1, 1, 0, true, false)
	for _, st := range []struct{ c, stride int }{{16, 1}, {32, 2}, {64, 2}} {
		g.weighted(x, st.c, 3, st.stride, 1, 0, true, false)
		body := g.weighted(-2, st.c, 3, 1, 1, 0, false, false)
		short := x
		if st.stride != 1 {
			short = g.weighted(x, st.c, 1, st.stride, 0, 0, false, false)
		}
		x = g.add(body, short, true, 0)
	}
	g.gap()
	g.weighted(-2, 10, 0, 0, 0, 0, false, false)
	return g.done()
}
