package infer

import (
	"encoding/binary"
	"math/bits"

	"github.com/tinyqat/tinyqat/quant"
)

// Residual addition and global average pooling of the runtime's
// channels-last bytes. No floating point may appear in this file
// (TestKernelsUseNoFloat).

// addConsts are an add layer's constants on the unsigned storage: the
// operand offsets ka = off_a − Z_a, kb = off_b − Z_b (d = u + k), the
// multipliers, the output zero point and clamp shifted by −off_out, and
// the layer's whole function as a table: an input pair is two bytes, so
// the 65,536 possible outputs are computed once, exactly, when the model
// is planned (quant.RequantizeAdd, 128-bit), and an add without a vector
// kernel is one lookup per element (64 KiB per add layer: the level-2
// cache holds it). With AVX-512 or AVX2 the add is computed instead
// (addVec: eight elements in a few vector instructions, against a scalar
// load per element for the table; with AVX2 on Zen 3, resnet8's adds take
// 0.59× the table's time).
type addConsts struct {
	ka, kb, m0a, na, m0b, nb, z, lo, hi int32
	table                               []uint8 // table[ua·256 + ub]
	// vec holds the vector kernel's constants (addVec), nil when its
	// products would not fit: then every level looks the table up.
	vec *addVec
	// word is the layer in addW's 16-bit form for the AVX2 word kernel
	// (addU8WordAVX2: sixteen elements in two VPMADDWD per eight, where
	// addU8AVX2 takes 64-bit products), as eight dwords: Al | Bl<<16,
	// Ah | Bh<<16, Kl, Kh, s, z, lo, hi; nil where the form does not
	// exist or differs from the table on any of the 65,536 operand pairs
	// (exactAddW).
	word *[8]int32
}

// addVec is an add layer's function in one 64-bit numerator, for the
// vector kernels (addU8AVX512, addU8AVX2). quant.RequantizeAdd rounds
//
//	(da·M0a·2^(n−na) + db·M0b·2^(n−nb)) / 2^n,   n = max(na, nb)
//
// once, half to even, with da = ua + ka, db = ub + kb. With A =
// M0a·2^(n−na) and B = M0b·2^(n−nb) both below 2^31 (the shifts differ by
// at most 7: the operands' scales within a factor 2^7 of each other, as
// a residual block's are), the numerator is
//
//	p = ua·A + ub·B + K,   K = ka·A + kb·B
//
// two exact 32 × 32 → 64-bit products (VPMULDQ: ua, ub ≤ 255) and a
// constant, |p| < 2·(255 + 2^9)·2^31 < 2^42, so it fits int64 and
//
//	q = clamp(((p + h + odd) >> n) + z, lo, hi),  h = 2^(n−1) − 1,  odd = (p >> n) & 1
//
// is quant.RoundShift of the same numerator: the same single rounding.
// newAddVec checks the formula against the table on all 65,536 operand
// pairs as well, so the vector kernel cannot differ from it.
//
// The AVX2 kernel (addU8AVX2) has neither 64-bit arithmetic shifts nor
// 64-bit min and max. It shifts logically after adding 2^63 (mod 2^64,
// folded into h: h63 = h + 2^63), which makes the numerator t = p + h +
// odd nonnegative and moves the quotient up by exactly 2^(63−n):
//
//	(t + 2^63) >>> n = (t >> n) + 2^(63−n),   so   q = ((t + 2^63) >>> n) + zs,  zs = z − 2^(63−n)
//
// and it adds zs and clamps in 32-bit lanes (the low dword of each 64-bit
// lane), which is exact when the unclamped q fits int32 for every operand
// pair (dword; q is nondecreasing in ua and ub, A and B being positive,
// so the pairs (0, 0) and (255, 255) bound it). applyAVX2 is that
// kernel's twin, which newAddVec checks against the table as well.
type addVec struct {
	a, b, k, h, pow, z, lo, hi, n int64 // pow = 2^n (bit n: the odd test)
	h63, zs                       int64 // the AVX2 kernel's h + 2^63 (mod 2^64) and z − 2^(63−n)
	dword                         bool  // the unclamped q fits int32: the AVX2 kernel is exact
}

// newAddVec returns c's vector constants, or nil if A or B is 2^31 or
// more (always when the shifts are more than 7 apart, M0 being ≥ 2^23),
// or if, which the argument above rules out, the formula disagrees with
// the table.
func newAddVec(c *addConsts) *addVec {
	n := max(c.na, c.nb)
	if n-c.na > 7 || n-c.nb > 7 { // M0 ≥ 2^23: a larger gap exceeds 2^31
		return nil
	}
	a, b := int64(c.m0a)<<(n-c.na), int64(c.m0b)<<(n-c.nb)
	if a >= 1<<31 || b >= 1<<31 {
		return nil
	}
	v := &addVec{a: a, b: b, k: int64(c.ka)*a + int64(c.kb)*b, h: 1<<(n-1) - 1, pow: int64(1) << n,
		z: int64(c.z), lo: int64(c.lo), hi: int64(c.hi), n: int64(n)}
	v.h63 = v.h ^ -1<<63
	v.zs = v.z - 1<<(63-n)
	qMin, qMax := v.unclamped(0, 0), v.unclamped(255, 255)
	v.dword = qMin >= -1<<31 && qMax < 1<<31
	for ua := range 256 {
		for ub := range 256 {
			t := c.table[ua<<8|ub]
			if v.apply(uint8(ua), uint8(ub)) != t {
				return nil
			}
			if v.dword && v.applyAVX2(uint8(ua), uint8(ub)) != t { // ruled out too
				v.dword = false
			}
		}
	}
	return v
}

// apply is the vector kernel's arithmetic on one pair: its reference
// twin.
func (v *addVec) apply(ua, ub uint8) uint8 {
	return uint8(min(max(v.unclamped(ua, ub), v.lo), v.hi))
}

// unclamped is apply before the clamp.
func (v *addVec) unclamped(ua, ub uint8) int64 {
	p := int64(ua)*v.a + int64(ub)*v.b + v.k
	odd := int64(0)
	if p&v.pow != 0 {
		odd = 1
	}
	return (p+v.h+odd)>>uint(v.n) + v.z
}

// applyAVX2 is addU8AVX2's arithmetic on one pair (its twin): the
// logical shift of t + 2^63, then zs added and the clamp in 32 bits
// (exact where v.dword).
func (v *addVec) applyAVX2(ua, ub uint8) uint8 {
	p := int64(ua)*v.a + int64(ub)*v.b + v.k
	odd := uint64(p) >> uint(v.n) & 1
	t := uint64(p) + uint64(v.h63) + odd
	q := int32(uint32(t>>uint(v.n)) + uint32(v.zs))
	return uint8(min(max(q, int32(v.lo)), int32(v.hi)))
}

// newAddConsts builds an add layer's constants for inputs a, b and output o.
func newAddConsts(l *Layer, a, b, o *value) *addConsts {
	c := &addConsts{ka: a.off - l.In.Zero, kb: b.off - l.In2.Zero, m0a: l.M0[0], na: l.Shift[0], m0b: l.M0[1], nb: l.Shift[1],
		z: l.Out.Zero - o.off, lo: l.Lo - o.off, hi: l.Hi - o.off}
	c.table = make([]uint8, 256*256)
	x, y := make([]uint8, 256), make([]uint8, 256)
	for u := range 256 {
		x[u] = uint8(u)
	}
	for ua := range 256 {
		for i := range y {
			y[i] = uint8(ua)
		}
		addRef(c.table[ua*256:(ua+1)*256], y, x, c)
	}
	c.vec = newAddVec(c)
	if v := exactAddW(c, false); v != nil {
		w := v.dwords()
		c.word = &w
	}
	return c
}

// addU8 writes the requantized sums of x and y (same length) to dst: with
// the AVX-512 kernel where the CPU has it and c.vec is set, or where the
// boundary level is AVX2 the word kernel (c.word) or the 64-bit one
// (c.vec.dword) (addVecU8), else, and for the last elements the vector
// kernels leave, one table lookup per element. addRef is its reference
// twin.
func addU8(dst, x, y []uint8, c *addConsts) {
	y, dst = y[:len(x)], dst[:len(x)]
	if c.vec != nil {
		done := addVecU8(dst, x, y, c)
		x, y, dst = x[done:], y[done:], dst[done:]
	}
	t := (*[256 * 256]uint8)(c.table)
	for i, u := range x {
		dst[i] = t[int(u)<<8|int(y[i])]
	}
}

// addRef is addU8 element by element through quant.RequantizeAdd.
func addRef(dst, x, y []uint8, c *addConsts) {
	for i := range x {
		dst[i] = uint8(quant.RequantizeAdd(int32(x[i])+c.ka, int32(y[i])+c.kb, c.m0a, c.na, c.m0b, c.nb, c.z, c.lo, c.hi))
	}
}

// gapU8 is global average pooling of one sample: hw channels-last pixels
// of c channels into c means, on the unsigned storage u = s − off of the
// input and output (the same grid): with k = off − Z,
//
//	s_out = Z + RoundDiv(Σ (s − Z), hw)   ⇔   u_out = RoundDiv(Σ u + hw·k, hw) − k
//
// Eight channels are summed at a time in one word per pixel, its even
// and odd bytes added as four 16-bit lanes each (no carries between
// lanes: 256 pixels of at most 255 sum to below 2^16), flushed into
// int64 sums every 256 pixels (no overflow for any hw); the last c mod 8
// channels are summed one by one. With AVX-512 (gapSums), up to 256
// channels are summed 32 at a time instead, and with AVX2 16 at a time
// where c is a multiple of 16. gapRef is its reference twin.
func gapU8(dst, src []uint8, c, hw int, k int32) {
	d := newGapDiv(hw, k)
	gapU8d(dst, src, c, hw, &d)
}

// gapU8d is gapU8 with the division's constants d = newGapDiv(hw, k)
// made by the caller (once a layer, not a sample).
func gapU8d(dst, src []uint8, c, hw int, d *gapDiv) {
	if c <= 256 {
		var sums [256]uint32
		if gapSums(sums[:], src, c, hw) { // AVX-512: 32 channels a vector; AVX2: 16
			if !gapMeans(dst, sums[:], c, d) {
				d.means(dst[:c], sums[:c])
			}
			return
		}
	}
	c8 := c &^ 7
	for c0 := 0; c0 < c8; c0 += 8 {
		var sums [8]int64
		for p0 := 0; p0 < hw; p0 += 256 {
			ev, od := gapWords(src[p0*c+c0:], c, min(256, hw-p0))
			for i := range 4 {
				sums[2*i] += int64(ev >> (16 * i) & 0xffff)
				sums[2*i+1] += int64(od >> (16 * i) & 0xffff)
			}
		}
		for j, sum := range sums {
			dst[c0+j] = d.mean(sum)
		}
	}
	for ch := c8; ch < c; ch++ {
		sum := int64(0)
		for p := 0; p < hw; p++ {
			sum += int64(src[p*c+ch])
		}
		dst[ch] = d.mean(sum)
	}
}

// gapDiv is gapU8's division by hw without a divide instruction (64 of
// them took longer than the sums). With k = 2j + e (e = k & 1),
//
//	RoundDiv(Σu + hw·k, hw) − k = RoundDiv(x, hw) − e,   x = Σu + hw·e ≥ 0
//
// (adding 2j·hw moves the quotient by the even 2j and keeps the remainder,
// so the tie rule too). For x < 2^32 (x ≤ 256·hw, so hw < 2^24) and
// hw ≥ 2, floor(x / hw) is the high word of x·M, M = ⌈2^64 / hw⌉
// (Lemire, Kaser and Kurz, "Faster remainder by direct computation",
// 2019: 64 bits of reciprocal are exact for 32-bit numerators), rounded
// half to even from the remainder. Other hw (m = 0) divide by RoundDiv.
//
// The vector kernel (gapMeans) divides in 32-bit lanes instead, for
// 2 ≤ hw < 2^16 (so x ≤ 256·(2^16 − 1) < 2^24): with ℓ = ⌈log2 hw⌉, s =
// 24 + ℓ and M = ⌈2^s / hw⌉ < 2^26, M·hw = 2^s + d with 0 ≤ d < hw, and
// x·M / 2^s = x/hw + x·d/(hw·2^s), the error below 2^24·hw/(hw·2^s) =
// 2^−ℓ ≤ 1/hw, so it never reaches the next integer: floor(x·M / 2^s) =
// floor(x / hw) (Granlund and Montgomery, 1994).
type gapDiv struct {
	hw, m uint64
	k, e  int64
	// vec is the vector kernel's constants, nil outside its range.
	vec *gapVecK
}

// gapVecK is gapMeansAVX512's constants: hw·e, M, hw, 1 and e in every
// dword of a vector each, then the shift s.
type gapVecK struct {
	he, m, hw, one, e [16]uint32
	s                 uint64
}

func newGapDiv(hw int, k int32) gapDiv {
	d := gapDiv{hw: uint64(hw), k: int64(k), e: int64(k & 1)}
	if hw >= 2 && hw < 1<<24 {
		d.m = ^uint64(0)/d.hw + 1
	}
	if hw >= 2 && hw < 1<<16 {
		l := uint(bits.Len64(d.hw - 1))
		s := 24 + l
		m := (uint64(1)<<s + d.hw - 1) / d.hw
		v := &gapVecK{s: uint64(s)}
		for i := range 16 {
			v.he[i], v.m[i], v.hw[i], v.one[i], v.e[i] = uint32(d.hw*uint64(d.e)), uint32(m), uint32(hw), 1, uint32(d.e)
		}
		d.vec = v
	}
	return d
}

// mean is the stored mean of a channel whose bytes sum to sum.
func (d gapDiv) mean(sum int64) uint8 {
	if d.m == 0 {
		return uint8(quant.RoundDiv(sum+int64(d.hw)*d.k, int64(d.hw)) - d.k)
	}
	x := uint64(sum) + d.hw*uint64(d.e)
	q, _ := bits.Mul64(x, d.m)
	r := x - q*d.hw
	// Up when 2r > hw, or 2r = hw and q is odd: when 2r + (q & 1) > hw.
	// Without a branch (the remainders of a sample's channels are data:
	// a branch on them mispredicted half the time); 2r + 1 ≤ 2·hw + 1,
	// so hw − t wraps (its top bit set) exactly when t > hw.
	t := 2*r + q&1
	q += (d.hw - t) >> 63
	return uint8(int64(q) - d.e)
}

// means is mean on every sum (dst[i] = d.mean(sums[i])), in one loop
// with d's fields in registers (mean is not inlined).
func (d *gapDiv) means(dst []uint8, sums []uint32) {
	if d.m == 0 {
		for i, sum := range sums {
			dst[i] = d.mean(int64(sum))
		}
		return
	}
	hw, m, e := d.hw, d.m, d.e
	dst = dst[:len(sums)]
	for i, sum := range sums {
		x := uint64(sum) + hw*uint64(e)
		q, _ := bits.Mul64(x, m)
		t := 2*(x-q*hw) + q&1
		q += (hw - t) >> 63
		dst[i] = uint8(int64(q) - e)
	}
}

// gapWords sums the first 8 bytes of n ≤ 256 rows of src, c bytes apart,
// as the 16-bit lanes of the even bytes (ev) and the odd bytes (od).
func gapWords(src []uint8, c, n int) (ev, od uint64) {
	const even = 0x00ff00ff00ff00ff
	for o := 0; n > 0; n-- {
		w := binary.LittleEndian.Uint64(src[o:])
		ev += w & even
		od += w >> 8 & even
		o += c
	}
	return ev, od
}
