package infer

import (
	"fmt"

	"github.com/tinyqat/tinyqat/quant"

	"github.com/tinyqat/tinyqat/internal/f32"
)

// wBlock is how many weight rows (output channels) are dequantized at a
// time: the float copy never exceeds wBlock rows, so the weights stay int8
// in memory between calls and nearly so during one.
const wBlock = 64

// FloatLogits runs a float model (F32: float_run.go) or a w8-only model:
// for w8-only, int8 weights dequantized (S_w[c]·q_w)
// in blocks of wBlock rows as they are used (a convolution's, which are
// small, all at once), float32 activations and gonum's SGEMM. Between calls
// only the int8 weights are held: the size saving without the integer
// arithmetic.
func (m *Model) FloatLogits(x []float32, n int) ([]float32, error) {
	if m.Mode == F32 {
		return m.floatLogits(x, n)
	}
	if m.Mode != W8Only {
		return nil, fmt.Errorf("infer: FloatLogits runs float and w8-only models, this one is %s: use Logits", m.Mode)
	}
	if err := m.checkInput(x, n); err != nil {
		return nil, err
	}
	if n == 0 { // nothing to compute
		return []float32{}, nil
	}
	// outs[v+1] is value v (−1: the input); it is dropped after its last
	// reader.
	outs := make([][]float32, len(m.Layers)+1)
	outs[0] = x
	if m.Norm != nil {
		mean, inv := m.normConsts()
		xn := make([]float32, len(x))
		normalizeCHW(xn, x, mean, inv, m.InH*m.InW)
		if i := quant.FirstNonFinite(xn); i >= 0 {
			return nil, m.nonFinite(x, i)
		}
		outs[0] = xn
	}
	last := make([]int, len(m.Layers)+1)
	for i := range m.Layers {
		last[i+1] = i
		for _, v := range m.inputs(i) {
			last[v+1] = max(last[v+1], i)
		}
	}
	last[len(m.Layers)] = len(m.Layers)
	for i, l := range m.Layers {
		ins := m.inputs(i)
		cur := outs[ins[0]+1]
		var out []float32
		switch l.Kind {
		case KindFlatten:
			out = cur
		case KindMaxPool2D:
			out = make([]float32, n*l.OutSize())
			for s := 0; s < n; s++ {
				maxPoolF(out[s*l.OutSize():(s+1)*l.OutSize()], cur[s*l.InSize():(s+1)*l.InSize()], l)
			}
		case KindGlobalAvgPool:
			out = make([]float32, n*l.OutC)
			hw := l.InH * l.InW
			for j := range out { // samples × channels: each a contiguous plane
				var sum float32
				for _, v := range cur[j*hw : (j+1)*hw] {
					sum += v
				}
				out[j] = sum / float32(hw)
			}
		case KindAdd:
			b := outs[ins[1]+1]
			out = make([]float32, len(cur))
			for j, v := range cur {
				out[j] = v + b[j]
			}
		case KindLinear:
			k := l.InSize()
			out = make([]float32, n*l.OutC)
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
		case KindConv2D:
			out = convF(l, cur, n)
		}
		if l.ReLU && (l.Kind.Weighted() || l.Kind == KindAdd) {
			relu(out, l.Max)
		}
		outs[i+1] = out
		for _, v := range ins {
			if last[v+1] == i && v >= 0 {
				outs[v+1] = nil
			}
		}
	}
	return outs[len(m.Layers)], nil
}

// convF is a (grouped) convolution of n CHW samples in float32: per
// sample and group, im2col and SGEMM into CHW order.
func convF(l *Layer, cur []float32, n int) []float32 {
	g := l.groups()
	P, row := l.OutH*l.OutW, l.fanIn()
	og, plane := l.OutC/g, l.InH*l.InW*(l.InC/g)
	col := make([]float32, P*row)
	wf := make([]float32, l.OutC*row) // conv weights are small: all rows at once
	for c := 0; c < l.OutC; c++ {
		l.floatRow(wf[c*row:(c+1)*row], c)
	}
	lg := *l // one group's geometry
	lg.InC, lg.OutC, lg.Groups = l.InC/g, og, 0
	out := make([]float32, n*l.OutSize())
	for s := 0; s < n; s++ {
		o := out[s*l.OutSize() : (s+1)*l.OutSize()]
		for c := 0; c < l.OutC; c++ {
			for p := 0; p < P; p++ {
				o[c*P+p] = l.FBias[c]
			}
		}
		for gi := 0; gi < g; gi++ {
			im2colF(col, cur[s*l.InSize()+gi*plane:s*l.InSize()+(gi+1)*plane], &lg)
			// (og × P) += W_g · colᵀ: CHW order directly.
			f32.Gemm(false, true, og, P, row, wf[gi*og*row:], row, col, row, o[gi*og*P:], P, true)
		}
	}
	return out
}

func dequantRow(dst []float32, q []int8, s float32) {
	for i, v := range q {
		dst[i] = s * float32(v)
	}
}

// relu clamps v below at 0 and, for hi > 0 (ReLU6: 6), above at hi.
func relu(v []float32, hi float32) {
	for i, x := range v {
		if x < 0 {
			v[i] = 0
		} else if hi > 0 && x > hi {
			v[i] = hi
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
