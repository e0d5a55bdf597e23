package infer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSignPlanesMatchesGo compares signPlanes (its vector part where the
// CPU has one) with signPlanesGo and with the definition (v = u − 128 as
// a signed byte, |v| as an unsigned one) on every byte value and on
// random bytes of every length from 0 to 200, at plane distances that
// are and are not multiples of 32; the bytes around both planes keep
// their guard.
func TestSignPlanesMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 71))
	all := make([]uint8, 256)
	for i := range all {
		all[i] = uint8(i)
	}
	for i, u := range all {
		v := int(u) - 128
		a := v
		if a < 0 {
			a = -a
		}
		var d [2]uint8
		signPlanesGo(d[:], 1, all[i:i+1])
		if d[0] != uint8(int8(v)) || int(d[1]) != a {
			t.Fatalf("u %d: v %d, |v| %d; want %d, %d", u, int8(d[0]), d[1], v, a)
		}
	}
	srcs := [][]uint8{all}
	for n := 0; n <= 200; n++ {
		s := make([]uint8, n)
		for i := range s {
			s[i] = uint8(rng.Uint32())
		}
		srcs = append(srcs, s)
	}
	for _, lv := range availableLevels() {
		withLevel(lv, func() {
			for _, src := range srcs {
				for _, extra := range []int{0, 5, 32} {
					plane := len(src) + extra
					const band = 40
					got := make([]uint8, band+plane+len(src)+band)
					for i := range got {
						got[i] = guard
					}
					want := slices.Clone(got)
					signPlanes(got[band:], plane, src)
					signPlanesGo(want[band:], plane, src)
					if !slices.Equal(got, want) {
						t.Fatalf("level %s, %d bytes, plane %d: planes differ", lv.name, len(src), plane)
					}
				}
			}
		})
	}
}

// TestPadSignPlanesMatchesPadImage compares padSignPlanes with padImage
// followed by signPlanesGo on ragged images, paddings 0 to 2 and every
// border byte class (0, 127, 128, 255, others).
func TestPadSignPlanesMatchesPadImage(t *testing.T) {
	rng := rand.New(rand.NewPCG(72, 72))
	for _, lv := range availableLevels() {
		withLevel(lv, func() {
			for it := 0; it < 200; it++ {
				c, h, w, p := []int{1, 3, 4, 16, 20, 32}[it%6], 1+rng.IntN(9), 1+rng.IntN(40), it%3
				pad := []uint8{0, 127, 128, 255, uint8(rng.Uint32())}[it%5]
				where := fmt.Sprintf("level %s c %d h %d w %d pad %d byte %d", lv.name, c, h, w, p, pad)
				src := make([]uint8, h*w*c)
				for i := range src {
					src[i] = uint8(rng.Uint32())
				}
				hp, wp := h+2*p, w+2*p
				size := hp * wp * c
				padded := make([]uint8, size)
				padImage(padded, src, c, h, w, p, pad, true)
				plane := size + rng.IntN(70)
				want := make([]uint8, plane+size+16)
				got := make([]uint8, plane+size+16)
				for i := range want {
					want[i], got[i] = guard, guard
				}
				signPlanesGo(want, plane, padded)
				padSignPlanes(got, plane, src, c, h, w, p, pad, nil)
				if !slices.Equal(got, want) {
					t.Fatalf("%s: planes differ", where)
				}
			}
		})
	}
}

// preModels are graphs whose layers take every path of the pre-signed
// kernels (AVX2): a one-channel 5×5 stem (pixels in fours, fused), a
// pointwise convolution of 20 channels (unfused) and one of 32 (fused),
// a 3×3 stride-2 convolution of 24 channels (unfused), linear layers of
// 40 (unfused) and 32 (fused) outputs; and a three-channel 3×3 stem
// (pixels in pairs), a grouped convolution, a 1×1 stride-2 convolution,
// a linear layer of 16. A model's weights are never −128 (Validate), and
// with no ReLU the inputs of every layer span the whole byte range, where
// the fast AVX2 kernels could saturate: the pre-signed kernels take every
// layer (convSets).
func preModels(t *testing.T, mode Mode) []*Model {
	rng := rand.New(rand.NewPCG(73, 73))
	g := newGraph(t, rng, mode, "pre1", 1, 20, 20, 10)
	g.weighted(-2, 20, 5, 1, 0, 0, false, false)
	g.weighted(-2, 20, 1, 1, 0, 0, false, false)
	g.weighted(-2, 32, 1, 1, 0, 0, false, false)
	g.weighted(-2, 24, 3, 2, 1, 0, false, false)
	g.flatten()
	g.weighted(-2, 40, 0, 0, 0, 0, false, false)
	g.weighted(-2, 32, 0, 0, 0, 0, false, false)
	g.weighted(-2, 10, 0, 0, 0, 0, false, false)
	m1 := g.done()
	g = newGraph(t, rng, mode, "pre3", 3, 12, 12, 10)
	g.weighted(-2, 16, 3, 1, 1, 0, false, false)
	g.weighted(-2, 32, 3, 1, 1, 4, false, false)
	g.weighted(-2, 32, 1, 2, 0, 0, false, false)
	g.gap()
	g.flatten()
	g.weighted(-2, 16, 0, 0, 0, 0, false, false)
	g.weighted(-2, 10, 0, 0, 0, 0, false, false)
	m3 := g.done()
	// A three-channel stride-2 stem: padded segments (seg, not pairs),
	// fused, and a 1×1 of 16 channels after it.
	g = newGraph(t, rng, mode, "pre3s2", 3, 11, 11, 10)
	g.weighted(-2, 16, 3, 2, 1, 0, false, false)
	g.weighted(-2, 16, 1, 1, 0, 0, false, false)
	g.gap()
	g.flatten()
	g.weighted(-2, 10, 0, 0, 0, 0, false, false)
	m3s2 := g.done()
	return []*Model{m1, m3, m3s2}
}

// TestPreSignedModelsMatchInterpreter runs preModels at every level of
// this CPU, batch 1 and 5, and compares every layer's output and the
// logits with the slow interpreter bit for bit; at the avx2 level the
// convolutions and linear layers of the models without −128 must have
// the pre-signed kernels (convSets), so the test cannot pass by falling
// back to the others.
func TestPreSignedModelsMatchInterpreter(t *testing.T) {
	rng := rand.New(rand.NewPCG(74, 74))
	for _, mode := range []Mode{W8A8, W8A8Asym} {
		for mi, m := range preModels(t, mode) {
			for _, lv := range availableLevels() {
				if lv.name != "avx2" {
					continue
				}
				for li, p := range m.plan().layers {
					if p.pw == nil || p.gpw != nil {
						continue
					}
					if c, _ := lv.convSets(p.pw); c == nil || c.pre == nil {
						t.Errorf("%s %s layer %d: no pre-signed kernels", m.Arch, mode, li)
					}
					// A stem whose kernel rows are not whole groups must
					// run on the padded segments or pixel groups (seg),
					// fused: else runConv falls back to im2col and the
					// comparison below would pass without the kernels.
					if l := m.Layers[li]; activeLevel == lv && l.Kind == KindConv2D && l.K*l.InC%4 != 0 {
						if p.seg == nil {
							t.Errorf("%s %s layer %d: no segmented weights", m.Arch, mode, li)
						} else if _, q := lv.convSets(p.seg); q == nil {
							t.Errorf("%s %s layer %d: segmented weights (pairs %d) without fused kernels", m.Arch, mode, li, p.seg.pairs)
						}
					}
				}
			}
			for _, n := range []int{1, 5} {
				x := randInput(rng, m, n)
				want := interpretMode(m, x, n)
				checkLevels(t, fmt.Sprintf("%s %s model %d n=%d", m.Arch, mode, mi, n), m, x, n, want)
			}
		}
	}
}

// TestConvSetsPicksByRange: at a level with both kinds of implicit
// kernels (AVX2), a layer whose pair sums cannot saturate (safe16: inputs
// after a ReLU, u ≤ 127) gets the fast ones on the image's bytes, and one
// whose inputs span the bytes the pre-signed ones.
func TestConvSetsPicksByRange(t *testing.T) {
	w := make([]int8, 16*36)
	for i := range w {
		w[i] = int8(127 - i%255)
	}
	for _, lv := range availableLevels() {
		if lv.sconv == nil {
			continue
		}
		safe := packWeights(w, make([]int32, 16), 16, 36, 0, 127, 0, lv)
		full := packWeights(w, make([]int32, 16), 16, 36, -128, 127, 0, lv)
		if !safe.safe16 || full.safe16 {
			t.Fatalf("level %s: safe16 %v and %v, want true and false", lv.name, safe.safe16, full.safe16)
		}
		if c, q := lv.convSets(safe); c != lv.fconv || q != lv.fconvQ || c == nil || c.pre != nil {
			t.Errorf("level %s: a safe16 layer does not get the fast implicit kernels", lv.name)
		}
		if c, q := lv.convSets(full); c != lv.sconv || q != lv.sconvQ || c == nil || c.pre == nil {
			t.Errorf("level %s: a full-range layer does not get the pre-signed kernels", lv.name)
		}
	}
}

// TestSignPlanesRejectsOverlap: a plane distance shorter than the bytes
// (negative included) panics before signPlanesAVX2 could write outside
// dst (with plane −32, dst[plane+n−1] is in bounds but the kernel's first
// store of |v| is 32 bytes before dst[0]).
func TestSignPlanesRejectsOverlap(t *testing.T) {
	for _, lv := range availableLevels() {
		withLevel(lv, func() {
			for _, plane := range []int{-32, -1, 0, 63} {
				buf := make([]uint8, 256)
				for i := range buf {
					buf[i] = guard
				}
				func() {
					defer func() { recover() }()
					signPlanes(buf[64:192], plane, make([]uint8, 64))
				}()
				for i := range buf[:64] {
					if buf[i] != guard {
						t.Fatalf("level %s plane %d: byte %d before dst written", lv.name, plane, i-64)
					}
				}
			}
		})
	}
}

// TestSignPlanesVectorInUse fails where the CPU has the avx2 level but
// signPlanes does not run its vector kernel there (every whole 32 bytes).
func TestSignPlanesVectorInUse(t *testing.T) {
	for _, lv := range availableLevels() {
		if lv.name != "avx2" {
			continue
		}
		withLevel(lv, func() {
			src := make([]uint8, 70)
			dst := make([]uint8, 2*len(src))
			if got := signPlanesVec(dst, len(src), src); got != 64 {
				t.Fatalf("signPlanesVec did %d of 70 bytes at the avx2 level, want 64", got)
			}
		})
	}
}

// TestPreWrappersCheckPlanes: gemmConvPackedPre and PreQ panic (Go bounds
// check) when the |v| plane the kernels would read runs past the slice,
// before any kernel runs.
func TestPreWrappersCheckPlanes(t *testing.T) {
	for _, lv := range availableLevels() {
		if lv.sconv == nil {
			continue
		}
		const m, c, k, w = 16, 16, 3, 6
		wt := make([]int8, m*k*k*c)
		pw := packWeights(wt, make([]int32, m), m, k*k*c, -128, 127, 0, lv)
		m0, shift := make([]int32, m), make([]int32, m)
		for i := range m0 {
			m0[i], shift[i] = 1<<23, 20
		}
		pw.rq = newRequantPanels(m0, shift, pw.mp, 0, 0, 255)
		img := make([]uint8, k*w*c)
		sp, plane := testPlanes(img)
		short := sp[:plane+len(img)-1] // the last byte of the |v| plane cut off
		for name, f := range map[string]func(){
			"pre":  func() { gemmConvPackedPre(lv.sconv, make([]int32, 4*m), m, short, plane, c, pw, 4, k, w*c) },
			"preQ": func() { gemmConvPackedPreQ(lv.sconvQ, make([]uint8, 4*m), m, short, plane, c, pw, 4, k, w*c, pw.rq) },
		} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("level %s %s: no panic on a short |v| plane", lv.name, name)
					}
				}()
				f()
			}()
		}
	}
}
