//go:build amd64 && !purego

package f32

import "golang.org/x/sys/cpu"

// pick chooses the widest micro-kernel the CPU runs.
func pick() kernel {
	switch {
	case hasAVX512():
		return avx512Kernel
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		return avx2Kernel
	}
	return goKernel
}

func hasAVX512() bool { return cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL }

var (
	avx2Kernel = kernel{name: "avx2 6x16", mr: 6, nr: 16, f: kernelAVX2, fo: kernelOffAVX2, fo4: kernelOff4of6AVX2, fastOff: true, dot: dot4x6AVX2,
		narrow: &avx2Kernel4x24}
	// avx2Kernel4x24 is the 4×24 AVX2 form: the same sums per element
	// as 6×16, for row counts that 6-row panels pad by a ninth or more
	// (16 and 32 output channels: 18 and 36 rows on 6×16; forConvRows).
	avx2Kernel4x24 = kernel{name: "avx2 4x24", mr: 4, nr: 24, f: kernel4x24AVX2, fo: kernelOff4x24AVX2, fastOff: true}
	avx512Kernel   = kernel{name: "avx512 12x32", mr: 12, nr: 32, f: kernelAVX512, fo: kernelOffAVX512, fastOff: true,
		dot:    dot4x6AVX512,
		narrow: &kernel{name: "avx512 8x32", mr: 8, nr: 32, fo: kernelOff8AVX512, fom: kernelOff8MaskAVX512, fom4: kernelOff4MaskAVX512, fastOff: true}}
)

// kernelAVX2 is goKernel6x16 with FMA instructions: for each of the 6×16
// tile elements, c = acc·c + Σ_p a[p·6+i]·b[p·16+j] (fused multiply-adds
// in increasing p, starting from zero).
//
//go:noescape
func kernelAVX2(k int, a, b, c *float32, ldc int, acc bool)

// kernelAVX512 is the 12×32 form: c = acc·c + Σ_p a[p·12+i]·b[p·32+j].
//
//go:noescape
func kernelAVX512(k int, a, b, c *float32, ldc int, acc bool)

// kernelOffAVX2 is kernelAVX2 with row p of B at b + off[p]:
// c = acc·c + Σ_p a[p·6+i]·b[off[p]+j].
//
//go:noescape
func kernelOffAVX2(k int, a, b *float32, off *int, c *float32, ldc int, acc bool)

// kernelOffAVX512 is kernelAVX512 with row p of B at b + off[p]:
// c = acc·c + Σ_p a[p·12+i]·b[off[p]+j].
//
//go:noescape
func kernelOffAVX512(k int, a, b *float32, off *int, c *float32, ldc int, acc bool)

// kernelOff8AVX512 is kernelOffAVX512 on 8 rows:
// c = acc·c + Σ_p a[p·8+i]·b[off[p]+j].
//
//go:noescape
func kernelOff8AVX512(k int, a, b *float32, off *int, c *float32, ldc int, acc bool)

// kernelOff8MaskAVX512 is kernelOff8AVX512 on the first w (1 ≤ w ≤ 32)
// columns, reading b[off[p]+j] and c only for j < w (masked):
// c = acc·c + Σ_p a[p·8+i]·b[off[p]+j], the same operations; with bias
// not nil, then c = min(max(c + bias[i], lo), hi) before the store (the
// operations of biasRowsClampAVX2).
//
//go:noescape
func kernelOff8MaskAVX512(k int, a, b *float32, off *int, c *float32, ldc int, acc bool, w int, bias *float32, lo, hi float32)

// kernelOff4MaskAVX512 is kernelOff8MaskAVX512 on rows 0–3 of the 8-row
// panel a (a[p·8+i], i < 4): the same operations on those rows; it reads
// and writes only rows 0–3 of c.
//
//go:noescape
func kernelOff4MaskAVX512(k int, a, b *float32, off *int, c *float32, ldc int, acc bool, w int, bias *float32, lo, hi float32)

// dot4x6AVX512 is dotGo in AVX-512 registers, 16 lanes in a register:
// for the nt tiles t, acc[384t + (6i+j)·16 + p mod 16] +=
// a[aoff[i]+p0+p]·b[boff[6t+j]+p0+p] for p < k (a multiple of 16).
//
//go:noescape
func dot4x6AVX512(k, p0 int, a *float32, aoff *int, b *float32, boff *int, acc *float32, nt int)

// The batch-normalization row kernels (see ZSum): zsumGo and its
// siblings with each lane's operations in the same order, 16 lanes a
// register.
//
//go:noescape
func zsumAVX512(y *float32, n int, b, rs float32, lanes *float32)

//go:noescape
func zsqdevAVX512(y *float32, n int, b, rs, mu float32, lanes *float32)

//go:noescape
func zaffineAVX512(out, y *float32, n int, b, rs, mu, k, off float32)

//go:noescape
func zsumdotAVX512(gr, y *float32, n int, b, rs, mu float32, lanes *float32)

//go:noescape
func zgradAVX512(d, gr, y *float32, n int, a, b0, b1, b, rs, mu float32, lanes *float32)

func init() {
	if hasAVX512() {
		zsumK, zsqdevK, zaffineK, zsumdotK, zgradK = zsumAVX512, zsqdevAVX512, zaffineAVX512, zsumdotAVX512, zgradAVX512
	}
}

// available lists the micro-kernels this CPU runs (for tests and benchmarks).
func available() []kernel {
	ks := []kernel{goKernel}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, avx2Kernel)
	}
	if hasAVX512() {
		ks = append(ks, avx512Kernel)
	}
	return ks
}

// adamAVX2 is adamGo on n (a multiple of 8) elements, 8 at a time; c holds
// β1, 1−β1, β2, 1−β2, Step, Scale2, Eps, Decay. VSQRTPS is correctly
// rounded, as float32(math.Sqrt(float64(x))) is.
//
//go:noescape
func adamAVX2(w, grad, m, v *float32, n int, c *[8]float32)

// adamVec runs the vector kernel on the largest multiple of 8 and
// returns how many elements it did.
func adamVec(w, g, m, v []float32, c AdamCoef) int {
	n := len(w) &^ 7
	if n == 0 || !cpu.X86.HasAVX2 {
		return 0
	}
	k := [8]float32{c.Beta1, 1 - c.Beta1, c.Beta2, 1 - c.Beta2, c.Step, c.Scale2, c.Eps, c.Decay}
	adamAVX2(&w[0], &g[0], &m[0], &v[0], n, &k)
	return n
}

// kernelOff4x24AVX2 is kernelOffAVX2 on a 4×24 tile:
// c = acc·c + Σ_p a[p·4+i]·b[off[p]+j], the same operations per element.
//
//go:noescape
func kernelOff4x24AVX2(k int, a, b *float32, off *int, c *float32, ldc int, acc bool)

// kernel4x24AVX2 is kernelOff4x24AVX2 on a packed B panel (row p at
// b + 24·p), through a table of those offsets: the operations of the
// packed kernels. Conv runs it on a last partial panel of pixels read in
// place, and on every panel of an operand it packs (such as Patches: strides
// other than 1 and phased 2); k ≤ KC there.
func kernel4x24AVX2(k int, a, b, c *float32, ldc int, acc bool) {
	if k > kc {
		panic("f32: kernel4x24AVX2: depth above KC")
	}
	kernelOff4x24AVX2(k, a, b, &panelOff24[0], c, ldc, acc)
}

// panelOff24 holds the offsets 24·p of a packed 24-column panel's rows.
var panelOff24 = func() (o [kc]int) {
	for p := range o {
		o[p] = 24 * p
	}
	return
}()

// kernelOff4of6AVX2 is kernelOffAVX2 on rows 0–3 of its 6-row panel
// (a[p·6+i], i < 4): c = acc·c + Σ_p a[p·6+i]·b[off[p]+j], the same
// operations on those rows; it reads and writes only rows 0–3 of c.
//
//go:noescape
func kernelOff4of6AVX2(k int, a, b *float32, off *int, c *float32, ldc int, acc bool)
