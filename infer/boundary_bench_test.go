package infer

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkBoundary times the layer-boundary kernels at every level this
// CPU runs, on lenet300's shapes at batch 64: the requantization of fc1
// (64 × 300 accumulators, row stride 304) and the input quantization of
// 64 MNIST-sized images (784 pixels each). ns/op is per call.
func BenchmarkBoundary(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	const n, m, stride = 64, 300, 304
	acc := make([]int32, n*stride)
	for i := range acc {
		acc[i] = int32(rng.IntN(1<<18) - 1<<17)
	}
	m0, shift := make([]int32, m), make([]int32, m)
	for c := range m0 {
		m0[c], shift[c] = int32(1<<23+rng.IntN(1<<23)), int32(30+rng.IntN(8))
	}
	dst := make([]uint8, n*m)
	x := make([]float32, n*784)
	for i := range x {
		x[i] = float32(rng.IntN(256)) / 255
	}
	u := make([]uint8, len(x))
	for _, lv := range boundaryLevels() {
		withLevel(lv, func() {
			b.Run(fmt.Sprintf("requant/level=%v", lv), func(b *testing.B) {
				for b.Loop() {
					requantU8(dst, acc, n, m, stride, m0, shift, 0, 0, 127, m)
				}
			})
			b.Run(fmt.Sprintf("quantize/level=%v", lv), func(b *testing.B) {
				for b.Loop() {
					if quantizeU8(u, x, 1.0/255, 0, 0, 255, 0) >= 0 {
						b.Fatal("non-finite")
					}
				}
			})
		})
	}
}
