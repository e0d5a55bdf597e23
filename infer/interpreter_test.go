package infer

import (
	"math"
	"math/big"
	"math/rand/v2"
)

// roundBig is num/den rounded half to even, in big integers.
func roundBig(num, den *big.Int) *big.Int {
	q, r := new(big.Int).DivMod(num, den, new(big.Int)) // floor, 0 ≤ r < den
	switch new(big.Int).Lsh(r, 1).Cmp(den) {
	case 1:
		q.Add(q, big.NewInt(1))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(1))
		}
	}
	return q
}

// clampBig is clamp(z + v, lo, hi).
func clampBig(v *big.Int, z, lo, hi int32) int32 {
	v = new(big.Int).Add(v, big.NewInt(int64(z)))
	if v.Cmp(big.NewInt(int64(lo))) < 0 {
		return lo
	}
	if v.Cmp(big.NewInt(int64(hi))) > 0 {
		return hi
	}
	return int32(v.Int64())
}

// pow2 is 2^n as a big integer.
func pow2(n int32) *big.Int { return new(big.Int).Lsh(big.NewInt(1), uint(n)) }

// interpret is the slow oracle of an integer graph model, from the
// definitions in doc.go and nothing of the runtime but the input
// quantization (quantizeInput): one sample at a time, CHW stored values,
// int64 accumulators, each rounding in big integers. It returns every
// layer's output for n samples.
// interpretMode is interpret with the activation type of m's mode.
func interpretMode(m *Model, x []float32, n int) [][]int32 {
	if m.Mode == W8A8 {
		return interpret[int8](m, x, n)
	}
	return interpret[uint8](m, x, n)
}

func interpret[T act](m *Model, x []float32, n int) [][]int32 {
	size := m.InC * m.InH * m.InW
	q := make([]T, n*size)
	quantizeInput(m, q, x)
	outs := make([][]int32, len(m.Layers))
	for s := 0; s < n; s++ {
		vals := make([][]int32, len(m.Layers)+1) // vals[v+1]: value v
		vals[0] = make([]int32, size)
		for i := range vals[0] {
			vals[0][i] = int32(q[s*size+i])
		}
		for li, l := range m.Layers {
			ins := l.Inputs
			if len(ins) == 0 {
				ins = []int{li - 1}
			}
			src := vals[ins[0]+1]
			out := make([]int32, l.OutSize())
			switch l.Kind {
			case KindFlatten:
				copy(out, src)
			case KindMaxPool2D:
				for c := 0; c < l.OutC; c++ {
					for oy := 0; oy < l.OutH; oy++ {
						for ox := 0; ox < l.OutW; ox++ {
							best := int32(math.MinInt32)
							for ky := 0; ky < l.K; ky++ {
								for kx := 0; kx < l.K; kx++ {
									best = max(best, src[(c*l.InH+oy*l.Stride+ky)*l.InW+ox*l.Stride+kx])
								}
							}
							out[(c*l.OutH+oy)*l.OutW+ox] = best
						}
					}
				}
			case KindGlobalAvgPool:
				hw := l.InH * l.InW
				for c := 0; c < l.OutC; c++ {
					sum := int64(0)
					for _, v := range src[c*hw : (c+1)*hw] {
						sum += int64(v - l.In.Zero)
					}
					out[c] = clampBig(roundBig(big.NewInt(sum), big.NewInt(int64(hw))), l.In.Zero, math.MinInt32, math.MaxInt32)
				}
			case KindAdd:
				b := vals[ins[1]+1]
				for i := range out {
					// (da·M0a·2^nb + db·M0b·2^na) / 2^(na+nb)
					ta := new(big.Int).Mul(big.NewInt(int64(src[i]-l.In.Zero)*int64(l.M0[0])), pow2(l.Shift[1]))
					tb := new(big.Int).Mul(big.NewInt(int64(b[i]-l.In2.Zero)*int64(l.M0[1])), pow2(l.Shift[0]))
					out[i] = clampBig(roundBig(ta.Add(ta, tb), pow2(l.Shift[0]+l.Shift[1])), l.Out.Zero, l.Lo, l.Hi)
				}
			case KindLinear, KindConv2D:
				g := max(1, l.Groups)
				cg, og, k := l.InC/g, l.OutC/g, max(1, l.K)
				stride := max(1, l.Stride)
				fan := l.fanIn()
				for oc := 0; oc < l.OutC; oc++ {
					gi := oc / og
					for oy := 0; oy < l.OutH; oy++ {
						for ox := 0; ox < l.OutW; ox++ {
							acc := int64(l.Bias[oc])
							if l.Kind == KindLinear {
								for j, v := range src {
									acc += int64(v-l.In.Zero) * int64(l.W[oc*fan+j])
								}
							} else {
								for ci := 0; ci < cg; ci++ {
									for ky := 0; ky < k; ky++ {
										for kx := 0; kx < k; kx++ {
											iy, ix := oy*stride+ky-l.Pad, ox*stride+kx-l.Pad
											if iy < 0 || iy >= l.InH || ix < 0 || ix >= l.InW {
												continue // a padding pixel is Z: s − Z = 0
											}
											v := src[((gi*cg+ci)*l.InH+iy)*l.InW+ix]
											acc += int64(v-l.In.Zero) * int64(l.W[oc*fan+(ci*k+ky)*k+kx])
										}
									}
								}
							}
							p := new(big.Int).Mul(big.NewInt(acc), big.NewInt(int64(l.M0[oc])))
							out[(oc*l.OutH+oy)*l.OutW+ox] = clampBig(roundBig(p, pow2(l.Shift[oc])), l.Out.Zero, l.Lo, l.Hi)
						}
					}
				}
			}
			vals[li+1] = out
			outs[li] = append(outs[li], out...)
		}
	}
	return outs
}

// randInput is n samples of m's input, beyond both ends of the grid.
func randInput(rng *rand.Rand, m *Model, n int) []float32 {
	x := make([]float32, n*m.InC*m.InH*m.InW)
	for i := range x {
		x[i] = rng.Float32()*8 - 4
	}
	return x
}

// interpretFloat is the w8-only oracle in float64, from the definitions:
// weights S_w[c]·q, float bias, direct (grouped) convolution with zero
// padding, sums, means, ReLU clamped at Max.
func interpretFloat(m *Model, x []float32, n int) []float64 {
	size := m.InC * m.InH * m.InW
	var logits []float64
	for s := 0; s < n; s++ {
		vals := make([][]float64, len(m.Layers)+1)
		vals[0] = make([]float64, size)
		for i := range vals[0] {
			vals[0][i] = float64(x[s*size+i])
		}
		for li, l := range m.Layers {
			ins := m.inputs(li)
			src := vals[ins[0]+1]
			out := make([]float64, l.OutSize())
			switch l.Kind {
			case KindFlatten:
				copy(out, src)
			case KindGlobalAvgPool:
				hw := l.InH * l.InW
				for c := range out {
					for _, v := range src[c*hw : (c+1)*hw] {
						out[c] += v
					}
					out[c] /= float64(hw)
				}
			case KindAdd:
				for i := range out {
					out[i] = src[i] + vals[ins[1]+1][i]
				}
			case KindLinear, KindConv2D:
				g := max(1, l.Groups)
				cg, og, k, fan := l.InC/g, l.OutC/g, max(1, l.K), l.fanIn()
				for oc := 0; oc < l.OutC; oc++ {
					wf := func(j int) float64 { return float64(l.WScale[oc]) * float64(l.W[oc*fan+j]) }
					for oy := 0; oy < l.OutH; oy++ {
						for ox := 0; ox < l.OutW; ox++ {
							acc := float64(l.FBias[oc])
							if l.Kind == KindLinear {
								for j, v := range src {
									acc += v * wf(j)
								}
							} else {
								for ci := 0; ci < cg; ci++ {
									for ky := 0; ky < k; ky++ {
										for kx := 0; kx < k; kx++ {
											iy, ix := oy*l.Stride+ky-l.Pad, ox*l.Stride+kx-l.Pad
											if iy >= 0 && iy < l.InH && ix >= 0 && ix < l.InW {
												acc += src[((oc/og*cg+ci)*l.InH+iy)*l.InW+ix] * wf((ci*k+ky)*k+kx)
											}
										}
									}
								}
							}
							out[(oc*l.OutH+oy)*l.OutW+ox] = acc
						}
					}
				}
			}
			if l.ReLU && l.Kind != KindFlatten {
				for i, v := range out {
					out[i] = max(v, 0)
					if l.Max > 0 {
						out[i] = min(out[i], float64(l.Max))
					}
				}
			}
			vals[li+1] = out
		}
		logits = append(logits, vals[len(m.Layers)]...)
	}
	return logits
}
