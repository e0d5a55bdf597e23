package infer

import (
	"fmt"
	"math"

	"github.com/tinyqat/tinyqat/quant"
)

// Input quantization: the one float step of the integer modes, fused with
// the check for non-finite inputs. This file and quantize_input_amd64.s
// are outside the integer kernel files on purpose (TestKernelsUseNoFloat,
// TestAssemblyUsesNoFloat).

// quantizeU8 writes u[i] = quant.QuantizeValue(x[i], s, z, qmin, qmax) − off,
// the runtime's unsigned storage of the quantized input (x / S in float32,
// rounded half to even, as ONNX Runtime's QuantizeLinear), and returns −1,
// or the index of the first NaN or ±Inf in x (u is then incomplete). The
// grid must be at most 8 bits (qmax − qmin ≤ 255, off ≤ qmin, Z in range).
func quantizeU8(u []uint8, x []float32, s float32, z, qmin, qmax, off int32) int {
	u = u[:len(x)]
	i := quantizeVec(u, x, s, z, qmin, qmax, off)
	for ; i < len(x); i++ {
		v := x[i]
		if math.Float32bits(v)&0x7f800000 == 0x7f800000 { // NaN or ±Inf
			return i
		}
		u[i] = uint8(quant.RoundClamp(v/s, qmin-z, qmax-z) + z - off)
	}
	return -1
}

// normConsts are the input normalization's per-channel mean and
// reciprocal std, 1/Std[c] in float32 as datasets.Batcher computes it
// (nil, nil without a normalization).
func (m *Model) normConsts() (mean, inv []float32) {
	if m.Norm == nil {
		return nil, nil
	}
	mean = append([]float32(nil), m.Norm.Mean...)
	inv = make([]float32, len(m.Norm.Std))
	for c, s := range m.Norm.Std {
		inv[c] = 1 / s
	}
	return mean, inv
}

// normalizeCHW writes dst[i] = (x[i] − mean[c])·inv[c] for x made of
// planes of hw values, plane k of channel c = k mod len(mean): the
// expression and operation order of datasets.Batcher (a float32
// subtraction, rounded, then a float32 multiplication), so the runtime
// quantizes the values the simulation quantized. The explicit conversion
// keeps a compiler from fusing the two operations.
func normalizeCHW(dst, x, mean, inv []float32, hw int) {
	nc := len(mean)
	for k := 0; k*hw < len(x); k++ {
		m, iv := mean[k%nc], inv[k%nc]
		d := dst[k*hw : (k+1)*hw]
		for j, v := range x[k*hw : (k+1)*hw] {
			d[j] = float32(v-m) * iv
		}
	}
}

// inputTables builds, once per model, the byte input's tables: lut[c][p]
// is the unsigned input storage (offset off) of byte p in channel c,
// computed by the float path itself, x = float32(p)/255, normalizeCHW and
// quantizeU8, so that a byte image and its float pixels give the same
// integers by construction. Validate keeps the normalized bytes finite.
func (m *Model) inputTables(mean, inv []float32, off int32) [][256]uint8 {
	qmin, qmax := m.Input.QRange()
	lut := make([][256]uint8, m.InC)
	var x, xn [256]float32
	for p := range x {
		x[p] = float32(p) / 255
	}
	for c := range lut {
		src := x[:]
		if mean != nil {
			normalizeCHW(xn[:], x[:], mean[c:c+1], inv[c:c+1], len(x))
			src = xn[:]
		}
		if bad := quantizeU8(lut[c][:], src, m.Input.Scale, m.Input.Zero, qmin, qmax, off); bad >= 0 {
			panic(fmt.Sprintf("infer: byte %d of channel %d normalizes to %v (Validate admits only finite ones)", bad, c, src[bad]))
		}
	}
	return lut
}

// quantizeC3 is quantizeRows' three passes on one image of 3 planes of
// hw floats (normalizeCHW with mean and inv, if set; quantizeU8;
// toUnsignedHWC into u) in one, with the vector kernel
// (quantizeC3AVX512) where the CPU has it, the last hw mod 16 pixels by
// the passes themselves. It reports false, u then incomplete, without
// the kernel or if the image holds a non-finite value: the caller runs
// the passes, which find it.
func quantizeC3(u []uint8, x []float32, hw int, s float32, z, qmin, qmax, off int32, mean, inv []float32) bool {
	done := quantizeC3Vec(u, x, hw, s, z, qmin, qmax, off, mean, inv)
	if done == 0 || done < hw&^15 {
		return false
	}
	if done == hw {
		return true
	}
	t := hw - done // below 16
	var xb [48]float32
	var qb [48]uint8
	xs, qs := xb[:3*t], qb[:3*t]
	for c := range 3 {
		copy(xs[c*t:(c+1)*t], x[c*hw+done:(c+1)*hw])
	}
	if mean != nil {
		normalizeCHW(xs, xs, mean, inv, t)
	}
	if quantizeU8(qs, xs, s, z, qmin, qmax, off) >= 0 {
		return false
	}
	toUnsignedHWC(u[3*done:3*hw], qs, 0, 3, t)
	return true
}
