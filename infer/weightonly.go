package infer

import "fmt"

// FloatLogits runs a w8-only model: int8 weights dequantized row by row as
// they are used (S_w[c]·q_w), float32 activations and arithmetic. It keeps
// only the int8 weights in memory: the size saving without the integer
// arithmetic.
func (m *Model) FloatLogits(x []float32, n int) ([]float32, error) {
	if m.Mode != W8Only {
		return nil, fmt.Errorf("infer: FloatLogits runs w8-only models, this one is %s", m.Mode)
	}
	if err := m.checkInput(x, n); err != nil {
		return nil, err
	}
	cur := append([]float32(nil), x...)
	for _, l := range m.Layers {
		switch l.Kind {
		case "flatten":
		case "maxpool2d":
			out := make([]float32, n*l.OutSize())
			for s := 0; s < n; s++ {
				maxPoolF(out[s*l.OutSize():(s+1)*l.OutSize()], cur[s*l.InSize():(s+1)*l.InSize()], l)
			}
			cur = out
		case "linear":
			out := make([]float32, n*l.OutC)
			k := l.InSize()
			wrow := make([]float32, k)
			for c := 0; c < l.OutC; c++ {
				dequantRow(wrow, l.W[c*k:(c+1)*k], l.WScale[c])
				for s := 0; s < n; s++ {
					out[s*l.OutC+c] = l.FBias[c] + dotF(cur[s*k:(s+1)*k], wrow)
				}
			}
			if l.ReLU {
				relu(out)
			}
			cur = out
		case "conv2d":
			P, row := l.OutH*l.OutW, l.fanIn()
			col := make([]float32, P*row)
			wrows := make([]float32, l.OutC*row)
			for c := 0; c < l.OutC; c++ {
				dequantRow(wrows[c*row:(c+1)*row], l.W[c*row:(c+1)*row], l.WScale[c])
			}
			out := make([]float32, n*l.OutSize())
			for s := 0; s < n; s++ {
				im2colF(col, cur[s*l.InSize():(s+1)*l.InSize()], l)
				o := out[s*l.OutSize() : (s+1)*l.OutSize()]
				for c := 0; c < l.OutC; c++ {
					wr := wrows[c*row : (c+1)*row]
					for p := 0; p < P; p++ {
						o[c*P+p] = l.FBias[c] + dotF(col[p*row:(p+1)*row], wr)
					}
				}
			}
			if l.ReLU {
				relu(out)
			}
			cur = out
		}
	}
	return cur, nil
}

func dequantRow(dst []float32, q []int8, s float32) {
	for i, v := range q {
		dst[i] = s * float32(v)
	}
}

func dotF(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func relu(v []float32) {
	for i, x := range v {
		if x < 0 {
			v[i] = 0
		}
	}
}

func maxPoolF(dst, src []float32, l *Layer) {
	for ci := 0; ci < l.InC; ci++ {
		plane := src[ci*l.InH*l.InW : (ci+1)*l.InH*l.InW]
		for oy := 0; oy < l.OutH; oy++ {
			for ox := 0; ox < l.OutW; ox++ {
				best := plane[oy*l.Stride*l.InW+ox*l.Stride]
				for ky := 0; ky < l.K; ky++ {
					for kx := 0; kx < l.K; kx++ {
						best = max(best, plane[(oy*l.Stride+ky)*l.InW+ox*l.Stride+kx])
					}
				}
				dst[(ci*l.OutH+oy)*l.OutW+ox] = best
			}
		}
	}
}

func im2colF(dst, src []float32, l *Layer) {
	row := l.fanIn()
	for oy := 0; oy < l.OutH; oy++ {
		for ox := 0; ox < l.OutW; ox++ {
			d := dst[(oy*l.OutW+ox)*row : (oy*l.OutW+ox+1)*row]
			i := 0
			for ci := 0; ci < l.InC; ci++ {
				for ky := 0; ky < l.K; ky++ {
					iy := oy*l.Stride + ky - l.Pad
					for kx := 0; kx < l.K; kx++ {
						ix := ox*l.Stride + kx - l.Pad
						if iy < 0 || iy >= l.InH || ix < 0 || ix >= l.InW {
							d[i] = 0
						} else {
							d[i] = src[(ci*l.InH+iy)*l.InW+ix]
						}
						i++
					}
				}
			}
		}
	}
}
