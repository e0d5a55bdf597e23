package infer

import (
	"fmt"

	"github.com/tinyqat/tinyqat/internal/f32"
)

// wBlock is how many weight rows (output channels) are dequantized at a
// time: the float copy never exceeds wBlock rows, so the weights stay int8
// in memory between calls and nearly so during one.
const wBlock = 64

// FloatLogits runs a w8-only model: int8 weights dequantized (S_w[c]·q_w)
// in blocks of wBlock rows as they are used (a convolution's, which are
// small, all at once), float32 activations and gonum's SGEMM. Between calls
// only the int8 weights are held: the size saving without the integer
// arithmetic.
func (m *Model) FloatLogits(x []float32, n int) ([]float32, error) {
	if m.Mode != W8Only {
		return nil, fmt.Errorf("infer: FloatLogits runs w8-only models, this one is %s", m.Mode)
	}
	if err := m.checkInput(x, n); err != nil {
		return nil, err
	}
	if n == 0 { // nothing to compute
		return []float32{}, nil
	}
	cur := append([]float32(nil), x...)
	for _, l := range m.Layers {
		switch l.Kind {
		case KindFlatten:
		case KindMaxPool2D:
			out := make([]float32, n*l.OutSize())
			for s := 0; s < n; s++ {
				maxPoolF(out[s*l.OutSize():(s+1)*l.OutSize()], cur[s*l.InSize():(s+1)*l.InSize()], l)
			}
			cur = out
		case KindLinear:
			k := l.InSize()
			out := make([]float32, n*l.OutC)
			for s := 0; s < n; s++ {
				copy(out[s*l.OutC:(s+1)*l.OutC], l.FBias)
			}
			wf := make([]float32, min(wBlock, l.OutC)*k)
			for c0 := 0; c0 < l.OutC; c0 += wBlock {
				c1 := min(c0+wBlock, l.OutC)
				for c := c0; c < c1; c++ {
					l.floatRow(wf[(c-c0)*k:(c-c0+1)*k], c)
				}
				// out[:, c0:c1] += x · W[c0:c1]ᵀ (the training stack's SGEMM)
				f32.Gemm(false, true, n, c1-c0, k, cur, k, wf, k, out[c0:], l.OutC, true)
			}
			if l.ReLU {
				relu(out)
			}
			cur = out
		case KindConv2D:
			P, row := l.OutH*l.OutW, l.fanIn()
			col := make([]float32, P*row)
			wf := make([]float32, l.OutC*row) // conv weights are small: all rows at once
			for c := 0; c < l.OutC; c++ {
				l.floatRow(wf[c*row:(c+1)*row], c)
			}
			out := make([]float32, n*l.OutSize())
			for s := 0; s < n; s++ {
				im2colF(col, cur[s*l.InSize():(s+1)*l.InSize()], l)
				o := out[s*l.OutSize() : (s+1)*l.OutSize()]
				for c := 0; c < l.OutC; c++ {
					for p := 0; p < P; p++ {
						o[c*P+p] = l.FBias[c]
					}
				}
				// (OutC × P) += W · colᵀ: CHW order directly.
				f32.Gemm(false, true, l.OutC, P, row, wf, row, col, row, o, P, true)
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
