package infer

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// TestRequantClampMatchesRequantize checks the clamped form (newClampForm,
// requantClamp) with quant.Requantize on the edge ladder: every shift in
// [13, 42], M0 at both ends and with many trailing zero bits (ties),
// zero points and clamps at their ends, accumulator bounds from 0 to
// 2^31 − 1; the accumulators at 0, ±1, ±bound, around both ends of the
// clamp (L, H) and random. Wherever the form is refused for a possible
// tie, the tie-free rounding would indeed be wrong somewhere on [L, H]
// for some of the cases (the check is not vacuous).
func TestRequantClampMatchesRequantize(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 61))
	m0s := []int32{quant.MinM0, quant.MinM0 + 1, quant.MaxM0, quant.MaxM0 - 1, 1<<23 + 1<<11, 1<<23 + 1<<14, 12582913, 1<<23 | 0x5555}
	zs := [][3]int32{{0, 0, 255}, {255, 0, 255}, {-256, 0, 255}, {511, 0, 255}, {-511, 0, 255}, {128, 128, 255}, {17, 3, 200}, {5, 5, 5}}
	bounds := []int64{0, 1, 1000, 1 << 17, 1<<19 - 1, 1 << 24, 1<<31 - 1}
	accepted, refused, checked, tieRefusals := 0, 0, 0, 0
	for n := int32(13); n <= 42; n++ {
		for _, m0 := range m0s {
			for _, q := range zs {
				for _, bound := range bounds {
					z, lo, hi := q[0], q[1], q[2]
					cf, ok := newClampForm(m0, n, z, lo, hi, bound)
					if !ok {
						refused++
						continue
					}
					accepted++
					accs := []int64{0, 1, -1, bound, -bound, int64(cf.l), int64(cf.h)}
					for _, d := range []int64{-2, -1, 1, 2} {
						accs = append(accs, int64(cf.l)+d, int64(cf.h)+d)
					}
					for range 60 {
						accs = append(accs, rng.Int64N(2*bound+1)-bound)
						if span := int64(cf.h) - int64(cf.l); span > 0 {
							accs = append(accs, int64(cf.l)+rng.Int64N(span+1))
						}
					}
					for _, a := range accs {
						if a < -bound || a > bound {
							continue
						}
						want := quant.Requantize(int32(a), m0, n, z, lo, hi)
						if got := requantClamp(int32(a), cf.l, cf.h, cf.ml, cf.mh, cf.c, cf.k); got != want {
							t.Fatalf("acc %d M0 %d n %d Z %d [%d, %d] bound %d (L %d H %d): requantClamp %d, quant.Requantize %d", a, m0, n, z, lo, hi, bound, cf.l, cf.h, got, want)
						}
						checked++
					}
				}
			}
		}
	}
	// A possible tie refuses the form, and rounding half up would differ
	// there: M0 = 2^23, n = 24 is round(acc/2), a tie at every odd acc.
	if _, ok := newClampForm(quant.MinM0, 24, 0, 0, 255, 1000); ok {
		t.Fatal("M0 2^23, n 24: the clamped form accepted with ties at every odd accumulator")
	}
	k := int32(12)
	if got, want := requantClamp(1, -1000, 1000, 0, 1<<11, 1<<(k-1), k), quant.Requantize(1, quant.MinM0, 24, 0, -1000, 1000); got == want {
		t.Fatalf("the tie at acc 1 rounds the same (%d) half up as half to even: the tie check is vacuous", got)
	}
	for n := int32(13); n <= 42; n++ {
		if _, ok := newClampForm(1<<23+1<<14, n, 0, 0, 255, 1<<31-1); !ok {
			tieRefusals++
		}
	}
	if accepted < 1000 || refused == 0 || checked < 100000 || tieRefusals == 0 {
		t.Fatalf("accepted %d, refused %d, values %d, tie refusals %d: the ladder does not reach both sides", accepted, refused, checked, tieRefusals)
	}
}

// TestRequantClampExhaustive compares the clamped form with
// quant.Requantize on every accumulator in [−bound, bound] for layers
// whose clamp ends lie inside and outside the bound.
func TestRequantClampExhaustive(t *testing.T) {
	cases := []struct {
		m0, n, z, lo, hi int32
		bound            int64
	}{
		{quant.MaxM0, 31, 0, 0, 127, 1 << 16},
		{12582913, 30, -3, 0, 255, 1 << 17},
		{quant.MinM0 + 1, 33, 128, 0, 255, 1 << 18},
		{1<<23 | 0x5555, 36, 50, 0, 255, 1 << 18},
		{quant.MaxM0 - 1, 24, -300, 2, 250, 1 << 14},
	}
	for _, c := range cases {
		cf, ok := newClampForm(c.m0, c.n, c.z, c.lo, c.hi, c.bound)
		if !ok {
			t.Fatalf("%+v: refused", c)
		}
		for a := -c.bound; a <= c.bound; a++ {
			want := quant.Requantize(int32(a), c.m0, c.n, c.z, c.lo, c.hi)
			if got := requantClamp(int32(a), cf.l, cf.h, cf.ml, cf.mh, cf.c, cf.k); got != want {
				t.Fatalf("%+v acc %d: %d, want %d", c, a, got, want)
			}
		}
	}
}

var _ = fmt.Sprint

// TestFusedClampMatchesUnfused runs every fused kernel of every level
// this CPU has (implicit-im2col, 3×3, GEMM, AVX2, with and without the
// residual add) in the clamped form on layers with full-range weights
// and bytes (accumulators to ±2^24, far beyond the clamp) and compares
// each byte with quant.Requantize (and quant.RequantizeAdd) of the
// portable kernel's sums: 16, 32 and 64 channels, strides 1 and 2,
// ragged pixel and channel counts, shifts in [24, 32] (M below 1), multipliers with
// trailing zero bits, zero points and clamps. The other forms' constants
// are spoiled, so a kernel that ignored the clamped form's flag would
// fail; bytes around the outputs keep their guard.
func TestFusedClampMatchesUnfused(t *testing.T) {
	rng := rand.New(rand.NewPCG(62, 62))
	ac := testAddConsts(-128, 0, quant.MinM0+12345, 21, quant.MaxM0-1, 22, 3, 0, 255)
	counts := map[string]int{}
	refused := 0
	for _, lv := range availableLevels() {
		if lv.convQ == nil && lv.sconvQ == nil && lv.q == nil && (lv.exact == nil || lv.exact.q == nil) {
			continue
		}
		for it := 0; it < 60; it++ {
			c := []int{16, 32, 64}[it%3]
			st := 1 + it/3%2
			ow := 1 + rng.IntN(31)
			m := []int{1, 7, 16, 17, 32, 33, 48, 49}[rng.IntN(8)]
			extreme := it%5 == 0
			kc := 9 * c
			wt := make([]int8, m*kc)
			no128 := it%2 == 1 // the signed AVX2 kernels take the layer
			for i := range wt {
				wt[i] = int8(rng.IntN(256) - 128)
				if extreme {
					wt[i] = -128
				}
				if no128 && wt[i] == -128 {
					wt[i] = -127
				}
			}
			bias := make([]int32, m)
			for i := range bias {
				bias[i] = rng.Int32N(1<<16) - 1<<15
			}
			pw := packWeights(wt, bias, m, kc, 0, 255, 0, lv)
			w := (ow-1)*st + 3 + rng.IntN(3)
			img := make([]uint8, 3*w*c)
			for i := range img {
				img[i] = uint8(rng.IntN(256))
				if extreme {
					img[i] = 255
				}
			}
			m0, shift := make([]int32, m), make([]int32, m)
			for i := range m0 {
				m0[i], shift[i] = quant.MinM0+rng.Int32N(1<<23), 24+rng.Int32N(9)
				switch i % 4 {
				case 1: // trailing zeros, ties far outside the clamp
					m0[i], shift[i] = 1<<23+1<<11, 32
				case 2:
					m0[i] = quant.MaxM0
				}
			}
			z := rng.Int32N(256)
			lo, hi := rng.Int32N(z+1), z+rng.Int32N(256-z)
			rq := newRequantPanels(m0, shift, pw.mp, z, lo, hi)
			if !enableRequantClamp(rq, m0, shift, z, lo, hi, accBound(pw, 255)) {
				refused++
				continue
			}
			// Spoil the other forms: only the clamped one may be taken.
			for q := 0; q < pw.mp/16; q++ {
				v := rq[q*rqLanes : (q+1)*rqLanes]
				for i := range v {
					if vec := i / 8; vec != 12 && vec < 22 {
						v[i] = int64(rng.Uint64())
					}
				}
				v[12*8+1] = 1
			}
			col := make([]uint8, ow*pw.kp)
			for r := 0; r < ow; r++ {
				for ky := 0; ky < 3; ky++ {
					copy(col[r*pw.kp+ky*3*c:], img[ky*w*c+r*st*c:ky*w*c+r*st*c+3*c])
				}
			}
			acc := make([]int32, ow*pw.mp)
			gemmPackedGo(acc, pw.mp, col, pw.kp, pw, ow)
			ldd := m + 3
			short := make([]uint8, ow*ldd)
			for i := range short {
				short[i] = uint8(rng.IntN(256))
			}
			kernels := map[string]func(dst []uint8){}
			if _, q := lv.convSets(pw); q != nil {
				kernels["convQ"] = func(dst []uint8) { convRowsQ(q, dst, ldd, img, st*c, pw, ow, 3, w*c, rq) }
			}
			if lv.k3 != nil {
				kernels["k3"] = func(dst []uint8) { gemmConvK3Q(lv.k3, dst, ldd, img, st, c, pw, ow, w*c, rq) }
			}
			if lv.q != nil {
				kernels["gemmQ"] = func(dst []uint8) { gemmPackedQ(lv.q, dst, ldd, col, pw.kp, pw, ow, rq) }
			}
			for _, ks := range []*kernelSet{lv.exact, lv.kernels(pw)} {
				if ks != nil && ks.q != nil && m%16 == 0 {
					kernels[fmt.Sprintf("avx2q/signed %v", ks.signed)] = func(dst []uint8) { gemmPackedQ(ks.q, dst, ldd, col, pw.kp, pw, ow, rq) }
				}
			}
			fa := newFusedAdd(ac, 1, 0)
			if lv.convQA != nil {
				kernels["convQA"] = func(dst []uint8) {
					gemmConvPackedQA(lv.convQA, dst, ldd, img, st*c, pw, ow, 3, w*c, rq, short, fa)
				}
			}
			if lv.k3a != nil {
				kernels["k3a"] = func(dst []uint8) { gemmConvK3QA(lv.k3a, dst, ldd, img, st, c, pw, ow, w*c, rq, short, fa) }
			}
			for name, run := range kernels {
				where := fmt.Sprintf("level %s %s c %d stride %d ow %d m %d", lv.name, name, c, st, ow, m)
				add := name == "convQA" || name == "k3a"
				const band = 64
				buf := make([]uint8, band+ow*ldd+band)
				for i := range buf {
					buf[i] = guard
				}
				run(buf[band : band+ow*ldd])
				for i, v := range buf {
					r, ch := (i-band)/ldd, (i-band)%ldd
					if i < band || r >= ow || ch >= m {
						if v != guard {
							t.Fatalf("%s: byte %d outside the outputs overwritten (%d)", where, i-band, v)
						}
						continue
					}
					a := acc[r*pw.mp+ch]
					want := quant.Requantize(a, m0[ch], shift[ch], z, lo, hi)
					if add {
						want = quant.RequantizeAdd(int32(short[r*ldd+ch])-128, want, ac.m0a, ac.na, ac.m0b, ac.nb, ac.z, ac.lo, ac.hi)
					}
					if int32(v) != want {
						t.Fatalf("%s: pixel %d channel %d (acc %d, M0 %d, n %d): %d, want %d", where, r, ch, a, m0[ch], shift[ch], v, want)
					}
					counts[lv.name+"/"+name]++
				}
			}
		}
	}
	if len(counts) == 0 {
		t.Skip("no fused kernels on this CPU or build")
	}
	if refused > 20 {
		t.Fatalf("the clamped form refused %d of the layers", refused)
	}
	for _, lv := range availableLevels() {
		if (lv.convQ != nil || lv.sconvQ != nil) && counts[lv.name+"/convQ"] == 0 {
			t.Errorf("level %s: its fused implicit kernels compared nothing", lv.name)
		}
	}
	t.Logf("compared %v (refused %d)", counts, refused)
}

// TestDWClampMatchesUnfused runs the fused depthwise kernels with the
// clamped form enabled (full-range weights and bytes, shifts in [24,
// 32], ragged images, strides, padding) at every level and compares each
// byte with quant.Requantize of the unfused sums
// (TestDWClampVNNISpoiled checks that the VNNI kernel takes the form).
func TestDWClampMatchesUnfused(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 63))
	ran := 0
	dwClampCases(t, rng, func(k dwClampCase) {
		ran += checkDWFused(t, k.where, k.img, k.c, k.h, k.w, k.stride, k.pad, k.d, k.m0, k.shift, k.z, k.lo, k.hi)
	})
	if avx512 := boundaryLevels()[0].boundary == boundaryAVX512; avx512 && ran == 0 {
		t.Fatal("the fused depthwise kernel never ran on an AVX-512 machine")
	}
}

// dwClampCase is one depthwise layer of the clamped-form tests.
type dwClampCase struct {
	where                string
	img                  []uint8
	c, h, w, stride, pad int
	d                    *dwWeights
	m0, shift            []int32
	z, lo, hi            int32
}

// dwClampCases calls f on 16 depthwise layers (channels 16, 17, 32, 64;
// full-range weights and bytes, the first of each all-extreme; shifts in
// [24, 32]; ragged images, strides, padding) with the clamped form
// enabled, drawn from rng (f may draw from it too).
func dwClampCases(t *testing.T, rng *rand.Rand, f func(k dwClampCase)) {
	t.Helper()
	for _, c := range []int{16, 17, 32, 64} {
		for rep := range 4 {
			h, w, stride, pad := 3+rng.IntN(7), 3+rng.IntN(7), 1+rng.IntN(2), rng.IntN(2)
			img := make([]uint8, h*w*c)
			for i := range img {
				img[i] = uint8(rng.IntN(256))
				if rep == 0 {
					img[i] = 255
				}
			}
			d := &dwWeights{w: make([]int32, 9*c), bias: make([]int32, c), padU: int32(rng.IntN(256))}
			for i := range d.w {
				d.w[i] = int32(rng.IntN(255) - 127)
				if rep == 0 {
					d.w[i] = -127
				}
			}
			for i := range d.bias {
				d.bias[i] = rng.Int32N(1<<16) - 1<<15
			}
			m0, shift := make([]int32, c), make([]int32, c)
			for i := range m0 {
				m0[i], shift[i] = quant.MinM0+rng.Int32N(1<<23), 24+rng.Int32N(9)
			}
			z := rng.Int32N(256)
			lo, hi := rng.Int32N(z+1), z+rng.Int32N(256-z)
			d.rq = newRequantPanels(m0, shift, (c+15)&^15, z, lo, hi)
			if !enableRequantClamp(d.rq, m0, shift, z, lo, hi, dwAccBound(d, 255)) {
				t.Fatalf("c %d: clamped form refused", c)
			}
			where := fmt.Sprintf("clamped c %d h %d w %d stride %d pad %d", c, h, w, stride, pad)
			f(dwClampCase{where, img, c, h, w, stride, pad, d, m0, shift, z, lo, hi})
		}
	}
}
