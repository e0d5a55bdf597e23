package infer

import (
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
