//go:build amd64 && !purego

package f32

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestKernelOff8Mask compares kernelOff8MaskAVX512 on the first w
// columns with its twin kernelOff8AVX512 on a copy of B padded to 32
// columns (the same fused multiply-adds in the same order: equal bits),
// and with a float64 sum (tolerance: k products of |a·b| ≤ 1 summed in
// a different order and rounding, 1e-5 relative to Σ|a·b|): every w from
// 1 to 32, depths 0, 1, 7 and 300, scattered row offsets, both acc, C's
// row stride above 32 with guard values past column w and between rows;
// and its fused epilogue with biasRowsClampAVX2 on the twin's tile.
func TestKernelOff8Mask(t *testing.T) {
	if !hasAVX512() {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(43, 7))
	const ldc = 41
	inf := float32(math.Inf(1))
	for w := 1; w <= 32; w++ {
		for _, k := range []int{0, 1, 7, 300} {
			for _, acc := range []bool{false, true} {
				a := randMat(r, max(1, 8*k))
				// B: k rows of w values at scattered offsets, the rest
				// of the buffer poison that must not be read.
				span := 3*k + 40
				b := make([]float32, span+w)
				for i := range b {
					b[i] = 1e30
				}
				off := make([]int, max(1, k))
				for p := 0; p < k; p++ {
					off[p] = r.IntN(span)
					for j := 0; j < w; j++ {
						b[off[p]+j] = float32(r.NormFloat64())
					}
				}
				// The twin's B: the same rows, 32 wide, zero past w.
				bp := make([]float32, max(1, 32*k))
				offp := make([]int, max(1, k))
				for p := 0; p < k; p++ {
					offp[p] = 32 * p
					copy(bp[32*p:32*p+w], b[off[p]:off[p]+w])
				}
				c0 := randMat(r, 8*ldc)
				for i := 0; i < 8; i++ {
					for j := w; j < ldc; j++ {
						c0[i*ldc+j] = guardVal
					}
				}
				got, want := slices.Clone(c0), slices.Clone(c0)
				kernelOff8MaskAVX512(k, &a[0], &b[0], &off[0], &got[0], ldc, acc, w, nil, 0, 0)
				kernelOff8AVX512(k, &a[0], &bp[0], &offp[0], &want[0], ldc, acc)
				// The fused epilogue equals the twin's tile then
				// biasRowsClampAVX2, for each activation.
				bias := randMat(r, 8)
				for _, c := range [][2]float32{{-inf, inf}, {0, inf}, {0, 0.5}} {
					gotEp, wantEp := slices.Clone(c0), slices.Clone(want)
					kernelOff8MaskAVX512(k, &a[0], &b[0], &off[0], &gotEp[0], ldc, acc, w, &bias[0], c[0], c[1])
					biasRowsClampAVX2(&wantEp[0], ldc, 8, w, &bias[0], 1, c[0], c[1])
					for i := 0; i < 8; i++ {
						if !slices.Equal(gotEp[i*ldc:i*ldc+w], wantEp[i*ldc:i*ldc+w]) || gotEp[i*ldc+w] != guardVal {
							t.Fatalf("w=%d k=%d acc=%v clamp %v: row %d of the fused epilogue differs from the twin's", w, k, acc, c, i)
						}
					}
				}
				for i := 0; i < 8; i++ {
					for j := 0; j < ldc; j++ {
						g := got[i*ldc+j]
						if j >= w {
							if g != guardVal {
								t.Fatalf("w=%d k=%d acc=%v: wrote (%d, %d)", w, k, acc, i, j)
							}
							continue
						}
						if g != want[i*ldc+j] {
							t.Fatalf("w=%d k=%d acc=%v: (%d, %d) = %v, twin %v", w, k, acc, i, j, g, want[i*ldc+j])
						}
						var s, mag float64
						if acc {
							s, mag = float64(c0[i*ldc+j]), abs64(float64(c0[i*ldc+j]))
						}
						for p := 0; p < k; p++ {
							v := float64(a[p*8+i]) * float64(b[off[p]+j])
							s += v
							mag += abs64(v)
						}
						if d := abs64(float64(g) - s); d > 1e-5*mag+1e-30 {
							t.Fatalf("w=%d k=%d acc=%v: (%d, %d) = %v, float64 sum %v", w, k, acc, i, j, g, s)
						}
					}
				}
			}
		}
	}
}

func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestKernelOff4Mask: kernelOff4MaskAVX512 gives rows 0–3 of
// kernelOff8MaskAVX512's tile bit for bit (the same fused multiply-adds
// in the same order) — every w from 1 to 32, depths 0, 1, 7 and 300,
// both acc, with and without the fused epilogue — and writes nothing in
// rows 4–7 nor past column w.
func TestKernelOff4Mask(t *testing.T) {
	if !hasAVX512() {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(47, 7))
	const ldc = 37
	for w := 1; w <= 32; w++ {
		for _, k := range []int{0, 1, 7, 300} {
			for _, acc := range []bool{false, true} {
				for _, withBias := range []bool{false, true} {
					a := randMat(r, max(1, 8*k))
					span := 3*k + 40
					b := randMat(r, span+32)
					off := make([]int, max(1, k))
					for p := range off {
						off[p] = r.IntN(span)
					}
					var bias *float32
					bs := randMat(r, 8)
					if withBias {
						bias = &bs[0]
					}
					c0 := randMat(r, 8*ldc)
					got, want := slices.Clone(c0), slices.Clone(c0)
					for i := 4 * ldc; i < 8*ldc; i++ {
						got[i] = guardVal
					}
					for i := 0; i < 4; i++ {
						for j := w; j < ldc; j++ {
							got[i*ldc+j] = guardVal
						}
					}
					kernelOff4MaskAVX512(k, &a[0], &b[0], &off[0], &got[0], ldc, acc, w, bias, 0, 6)
					kernelOff8MaskAVX512(k, &a[0], &b[0], &off[0], &want[0], ldc, acc, w, bias, 0, 6)
					for i := 0; i < 8; i++ {
						for j := 0; j < ldc; j++ {
							g := got[i*ldc+j]
							if i >= 4 || j >= w {
								if g != guardVal {
									t.Fatalf("w=%d k=%d acc=%v bias=%v: wrote (%d, %d)", w, k, acc, withBias, i, j)
								}
								continue
							}
							if math.Float32bits(g) != math.Float32bits(want[i*ldc+j]) {
								t.Fatalf("w=%d k=%d acc=%v bias=%v: (%d, %d) = %v, the 8-row kernel gives %v", w, k, acc, withBias, i, j, g, want[i*ldc+j])
							}
						}
					}
				}
			}
		}
	}
}

// TestConvFom4: Conv with the 8-row kernel's fom4 (a last panel of at
// most four rows at half the work) gives what it gives without it (fom
// on all eight rows), bit for bit, on row counts around multiples of 8
// and ragged pixel counts, in place (rowPatches) — and PackA takes the
// 8-row panels where fom4 makes them pad less (20 and 50 channels).
func TestConvFom4(t *testing.T) {
	if !hasAVX512() {
		t.Skip("no AVX-512")
	}
	for _, c := range []struct{ m, rows int }{{20, 8}, {50, 8}, {12, 12}, {36, 12}, {10, 12}, {28, 8}, {16, 8}} {
		if got := activeLevel.forConvRows(c.m).mr; activeLevel.kern.name == avx512Kernel.name && got != c.rows {
			t.Errorf("forConvRows(%d): %d-row panels, want %d", c.m, got, c.rows)
		}
	}
	r := rand.New(rand.NewPCG(53, 3))
	lv := levelOf(avx512Kernel)
	lv.kern = avx512Kernel8
	off := lv
	off.kern.fom4 = nil
	ran := 0
	for _, m := range []int{1, 2, 3, 4, 5, 9, 12, 20, 50} {
		for _, g := range []ConvGeom{
			{C: 3, H: 7, W: 9, K: 3, Stride: 1, Pad: 1, OH: 7, OW: 9},
			{C: 20, H: 12, W: 12, K: 5, Stride: 1, Pad: 0, OH: 8, OW: 8},
			{C: 1, H: 28, W: 28, K: 5, Stride: 1, Pad: 0, OH: 24, OW: 24},
		} {
			ep := epilogues(r, m)[m%4]
			src := randMat(r, g.C*g.H*g.W)
			w := randMat(r, m*g.C*g.K*g.K)
			got := make([]float32, m*g.OH*g.OW)
			want := make([]float32, m*g.OH*g.OW)
			convImageRef(got, src, g, packWeights(lv, w, m, g.C*g.K*g.K, 8), &ep)
			convImageRef(want, src, g, packWeights(off, w, m, g.C*g.K*g.K, 8), &ep)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("m=%d %+v: output %d = %v, without fom4 %v", m, g, i, got[i], want[i])
				}
			}
			if m%8 != 0 && m%8 <= 4 {
				ran++
			}
		}
	}
	if ran == 0 {
		t.Fatal("no shape with a short last panel")
	}
}
