package main

import (
	"math"
	"math/big"

	"github.com/tinyqat/tinyqat/infer"
)

// exactLayer computes a Linear or Conv2D layer from its definition for n
// samples of input in (the layer's input integers, CHW per sample): the
// int64 accumulator, then the output rounded once, half to even, from the
// real product acc · S_in·S_w[c] / S_out (S_in·S_w[c] the float32 product
// the bias scale is, as in the ONNX graph), then the zero point and clamp.
// Near a half the product is decided with exact rationals. It shares
// nothing with the runtime but the model's numbers.
func exactLayer(l *infer.Layer, in []int32, n int) []int32 {
	inSize, outSize := l.InSize(), l.OutSize()
	out := make([]int32, n*outSize)
	so := new(big.Rat).SetFloat64(float64(l.Out.Scale))
	for s := 0; s < n; s++ {
		x := in[s*inSize : (s+1)*inSize]
		for c := 0; c < l.OutC; c++ {
			bs := float64(l.In.Scale * l.WScale[c])
			m := bs / float64(l.Out.Scale)
			for p := 0; p < l.OutH*l.OutW; p++ {
				acc := int64(l.Bias[c])
				if l.Kind == "linear" {
					w := l.W[c*inSize : (c+1)*inSize]
					for k, v := range x {
						acc += int64(v-l.In.Zero) * int64(w[k])
					}
				} else {
					oy, ox := p/l.OutW, p%l.OutW
					fan := l.InC * l.K * l.K
					w := l.W[c*fan : (c+1)*fan]
					for ci := 0; ci < l.InC; ci++ {
						for ky := 0; ky < l.K; ky++ {
							iy := oy*l.Stride + ky - l.Pad
							if iy < 0 || iy >= l.InH {
								continue
							}
							for kx := 0; kx < l.K; kx++ {
								ix := ox*l.Stride + kx - l.Pad
								if ix < 0 || ix >= l.InW {
									continue
								}
								acc += int64(x[(ci*l.InH+iy)*l.InW+ix]-l.In.Zero) * int64(w[(ci*l.K+ky)*l.K+kx])
							}
						}
					}
				}
				r := roundHalfEven(acc, m, bs, so)
				q := min(max(r+int64(l.Out.Zero), int64(l.Lo)), int64(l.Hi))
				out[s*outSize+c*l.OutH*l.OutW+p] = int32(q)
			}
		}
	}
	return out
}

// roundHalfEven rounds acc·bs/so to the nearest integer, ties to even;
// m = bs/so in float64 decides all but values within 1e−6 of a half,
// which are decided exactly.
func roundHalfEven(acc int64, m, bs float64, so *big.Rat) int64 {
	v := float64(acc) * m
	fl := math.Floor(v)
	if math.Abs(v-fl-0.5) > 1e-6 {
		return int64(math.Round(v))
	}
	e := new(big.Rat).SetInt64(acc)
	e.Mul(e, new(big.Rat).SetFloat64(bs))
	e.Quo(e, so)
	f := new(big.Int).Quo(e.Num(), e.Denom()) // truncated toward zero
	if e.Sign() < 0 && !e.IsInt() {
		f.Sub(f, big.NewInt(1)) // floor
	}
	frac := new(big.Rat).Sub(e, new(big.Rat).SetInt(f))
	switch frac.Cmp(big.NewRat(1, 2)) {
	case -1:
		return f.Int64()
	case 1:
		return f.Int64() + 1
	}
	if f.Bit(0) == 0 { // a tie: to the even neighbour
		return f.Int64()
	}
	return f.Int64() + 1
}
