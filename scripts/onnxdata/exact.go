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
					groups := max(l.Groups, 1)
					icg := l.InC / groups // input channels of c's group
					fan := icg * l.K * l.K
					w := l.W[c*fan : (c+1)*fan]
					c0 := c / (l.OutC / groups) * icg
					for cl := 0; cl < icg; cl++ {
						ci := c0 + cl
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
								acc += int64(x[(ci*l.InH+iy)*l.InW+ix]-l.In.Zero) * int64(w[(cl*l.K+ky)*l.K+kx])
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

// exactAdd computes an add layer from its definition for n samples: the
// real sum (a − Z_a)·S_a/S_o + (b − Z_b)·S_b/S_o with the exact scale
// quotients (not their float32 roundings, which the runtime and ONNX
// Runtime use), rounded once, half to even, plus Z_o, clamped.
func exactAdd(l *infer.Layer, a, b []int32, n int) []int32 {
	size := l.OutSize()
	out := make([]int32, n*size)
	so := new(big.Rat).SetFloat64(float64(l.Out.Scale))
	ra := new(big.Rat).Quo(new(big.Rat).SetFloat64(float64(l.In.Scale)), so)
	rb := new(big.Rat).Quo(new(big.Rat).SetFloat64(float64(l.In2.Scale)), so)
	for i := range out {
		v := new(big.Rat).Mul(big.NewRat(int64(a[i]-l.In.Zero), 1), ra)
		v.Add(v, new(big.Rat).Mul(big.NewRat(int64(b[i]-l.In2.Zero), 1), rb))
		out[i] = int32(min(max(ratRoundHalfEven(v)+int64(l.Out.Zero), int64(l.Lo)), int64(l.Hi)))
	}
	return out
}

// exactMean computes a global average pool from its definition for n
// samples: Z + round_half_even(Σ (q − Z) / (H·W)) per channel.
func exactMean(l *infer.Layer, x []int32, n int) []int32 {
	hw := l.InH * l.InW
	out := make([]int32, n*l.OutC)
	for i := range out {
		var sum int64
		for _, v := range x[i*hw : (i+1)*hw] {
			sum += int64(v - l.In.Zero)
		}
		out[i] = int32(ratRoundHalfEven(big.NewRat(sum, int64(hw))) + int64(l.In.Zero))
	}
	return out
}

// ratRoundHalfEven is r rounded to the nearest integer, ties to even.
func ratRoundHalfEven(r *big.Rat) int64 {
	q, m := new(big.Int).DivMod(r.Num(), r.Denom(), new(big.Int)) // floor, 0 ≤ m < den
	switch c := new(big.Int).Lsh(m, 1).Cmp(r.Denom()); {
	case c > 0, c == 0 && q.Bit(0) == 1:
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}
