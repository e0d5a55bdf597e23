package infer

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkBoundary times the layer-boundary kernels at every level this
// CPU runs, on lenet300's shapes at batch 64: the requantization of fc1
// (64 × 300 accumulators, row stride 304) and the input quantization of
// 64 MNIST-sized images (784 pixels each), and of 64 CIFAR-sized ones
// (3×32×32, floats and bytes), then the residual add of resnet8's first
// block (64 × 14×14×16 bytes, a ReLU add of random constants in the
// vector kernels' domain) and lenet5's first pooling (64 images of
// 24×24×20 bytes to 12×12). ns/op is per call.
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
	const hw3 = 32 * 32
	x3 := make([]float32, n*3*hw3)
	pix3 := make([]uint8, len(x3))
	for i := range x3 {
		pix3[i] = uint8(rng.IntN(256))
		x3[i] = float32(pix3[i]) / 255
	}
	u3 := make([]uint8, len(x3))
	mean, inv := []float32{0.4914, 0.4822, 0.4465}, []float32{1 / 0.247, 1 / 0.243, 1 / 0.261}
	lut := make([][256]uint8, 3)
	for c := range lut {
		for p := range lut[c] {
			lut[c][p] = uint8(p*(c+1)) ^ 0x5a
		}
	}
	addX, addY, addDst := make([]uint8, n*14*14*16), make([]uint8, n*14*14*16), make([]uint8, n*14*14*16)
	for i := range addX {
		addX[i], addY[i] = uint8(rng.IntN(256)), uint8(rng.IntN(256))
	}
	addL := &Layer{In: QParams{Zero: -3}, In2: QParams{Zero: 5}, Out: QParams{Zero: -128},
		M0: []int32{1<<23 + 12345, 1<<23 + 777}, Shift: []int32{24, 25}, Lo: -128, Hi: 127}
	addC := newAddConsts(addL, &value{off: -128}, &value{off: -128}, &value{off: -128})
	if addC.vec == nil || !addC.vec.dword {
		b.Fatal("the benchmark's add is outside the vector kernels' domain")
	}
	poolSrc, poolDst := make([]uint8, n*24*24*20), make([]uint8, n*12*12*20)
	for i := range poolSrc {
		poolSrc[i] = uint8(rng.IntN(256))
	}
	for _, lv := range boundaryLevels() {
		withLevel(lv, func() {
			b.Run(fmt.Sprintf("add/level=%v", lv), func(b *testing.B) {
				for b.Loop() {
					addU8(addDst, addX, addY, addC)
				}
			})
			b.Run(fmt.Sprintf("pool/level=%v", lv), func(b *testing.B) {
				for b.Loop() {
					for i := range n {
						maxPoolU8(poolDst[i*12*12*20:(i+1)*12*12*20], poolSrc[i*24*24*20:(i+1)*24*24*20], 20, 24, 24, 2, 2, 12, 12)
					}
				}
			})
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
			b.Run(fmt.Sprintf("quantize3/level=%v", lv), func(b *testing.B) {
				for b.Loop() {
					for i := range n {
						img := u3[i*3*hw3 : (i+1)*3*hw3]
						if !quantizeC3(img, x3[i*3*hw3:(i+1)*3*hw3], hw3, 0.02, 3, -128, 127, -128, mean, inv) {
							sc := make([]float32, 3*hw3)
							normalizeCHW(sc, x3[i*3*hw3:(i+1)*3*hw3], mean, inv, hw3)
							q := make([]uint8, 3*hw3)
							quantizeU8(q, sc, 0.02, 3, -128, 127, -128)
							toUnsignedHWC(img, q, 0, 3, hw3)
						}
					}
				}
			})
			b.Run(fmt.Sprintf("bytes3/level=%v", lv), func(b *testing.B) {
				for b.Loop() {
					for i := range n {
						bytesToInput(u3[i*3*hw3:(i+1)*3*hw3], pix3[i*3*hw3:(i+1)*3*hw3], lut, hw3)
					}
				}
			})
		})
	}
}
