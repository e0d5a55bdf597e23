package infer

import "github.com/tinyqat/tinyqat/quant"

// Residual addition and global average pooling of the runtime's
// channels-last bytes. No floating point may appear in this file
// (TestKernelsUseNoFloat).

// addConsts are an add layer's constants on the unsigned storage: the
// operand offsets ka = off_a − Z_a, kb = off_b − Z_b (d = u + k), the
// multipliers, the output zero point and clamp shifted by −off_out, and
// the layer's whole function as a table: an input pair is two bytes, so
// the 65,536 possible outputs are computed once, exactly, when the model
// is planned (quant.RequantizeAdd, 128-bit), and an add is one lookup per
// element (64 KiB per add layer: the level-2 cache holds it).
type addConsts struct {
	ka, kb, m0a, na, m0b, nb, z, lo, hi int32
	table                               []uint8 // table[ua·256 + ub]
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
	return c
}

// addU8 writes the requantized sums of x and y (same length) to dst: one
// table lookup per element. addRef is its reference twin.
func addU8(dst, x, y []uint8, c *addConsts) {
	y, dst = y[:len(x)], dst[:len(x)]
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
// The sums run over blocks of 64 channels in int64 (no overflow for any
// hw). gapRef is its reference twin.
func gapU8(dst, src []uint8, c, hw int, k int32) {
	var sums [64]int64
	for c0 := 0; c0 < c; c0 += 64 {
		c1 := min(c0+64, c)
		s := sums[:c1-c0]
		clear(s)
		for p := 0; p < hw; p++ {
			row := src[p*c+c0 : p*c+c1]
			row = row[:len(s)]
			for j, v := range row {
				s[j] += int64(v)
			}
		}
		for j, sum := range s {
			dst[c0+j] = uint8(quant.RoundDiv(sum+int64(hw)*int64(k), int64(hw)) - int64(k))
		}
	}
}

// gapRef is gapU8 from the definition, channel by channel: the mean of
// s − Z (s = u + off), rounded, plus Z, stored as s − off.
func gapRef(dst, src []uint8, c, hw int, off, z int32) {
	for ch := 0; ch < c; ch++ {
		sum := int64(0)
		for p := 0; p < hw; p++ {
			sum += int64(int32(src[p*c+ch]) + off - z)
		}
		dst[ch] = uint8(int64(z) + quant.RoundDiv(sum, int64(hw)) - int64(off))
	}
}
