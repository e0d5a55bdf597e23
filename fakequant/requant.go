package fakequant

import (
	"fmt"
	"math"
	"sync"

	"github.com/tinyqat/tinyqat/quant"
)

// RequantFakeQuantize is the fake quantization of a layer output that
// reproduces the integer runtime's requantization exactly. For an element
// of channel c (axis 1) with value y, accumulator scale S_acc[c] = S_x·S_w[c]
// and output parameters (S, Z):
//
//	acc = round(y / S_acc[c])                         (the int32 accumulator)
//	q   = clamp(round(acc · M0[c] / 2^n[c]) + Z, q_min, q_max)   (quant.Requantize)
//	ŷ   = S · (q − Z)
//
// with M0[c], n[c] = quant.QuantizeMultiplier(S_acc[c], S), the multiplier
// the exported model stores (one rounding, half to even). When y is the float image of an exact integer
// accumulation, acc recovers it and ŷ is bit for bit what the integer
// runtime produces; the float32 accumulation of the graph leaves only the
// rare case where its rounding error crosses half an accumulator step.
func RequantFakeQuantize(dst, src []float32, shape []int, p *quant.Params, accScale []float32) error {
	_, qmax := p.QRange()
	return requantFakeQuantize(dst, src, shape, p, accScale, qmax)
}

// requantFakeQuantize is RequantFakeQuantize with the grid top lowered to
// hi ≤ q_max (a fused ReLU6's clamp).
func requantFakeQuantize(dst, src []float32, shape []int, p *quant.Params, accScale []float32, hi int32) error {
	if len(shape) < 2 {
		return fmt.Errorf("fakequant: requantization needs a channel axis, shape %v", shape)
	}
	if p.PerChannel() {
		return fmt.Errorf("fakequant: requantized outputs are per tensor")
	}
	ch := shape[1]
	if len(accScale) != ch && len(accScale) != 1 {
		return fmt.Errorf("fakequant: %d accumulator scales for %d channels", len(accScale), ch)
	}
	inner := 1
	for _, d := range shape[2:] {
		inner *= d
	}
	if len(src) == 0 {
		return nil
	}
	s, z := p.Scale[0], p.Zero[0]
	qmin, qmax := p.QRange()
	qmax = min(qmax, hi)
	// Per channel: the accumulator scale and the integer multiplier,
	// computed once per call.
	k := getRequantK(s, z, qmin, qmax, len(accScale))
	defer requantPool.Put(k)
	sa, m0, shift := k.csa, k.cm0, k.cshift
	for c, a := range accScale {
		var err error
		if m0[c], shift[c], err = quant.QuantizeMultiplier(a, s); err != nil {
			return err
		}
		sa[c] = float64(a)
	}
	if len(accScale) == 1 {
		k.broadcast(sa[0], m0[0], shift[0])
		n := requantVec(dst, src, k, false)
		requantRun(dst[n:len(src)], src[n:], sa[0], m0[0], shift[0], z, qmin, qmax, s)
		return nil
	}
	_ = dst[len(src)-1]
	if inner == 1 {
		// (N, C) outputs: one channel per element of a row.
		k.lanes(sa, m0, shift)
		for start := 0; start+ch <= len(src); start += ch {
			row, out := src[start:start+ch], dst[start:start+ch]
			n := requantVec(out, row, k, true)
			for c := n; c < len(row); c++ {
				out[c] = s * float32(requantOne(row[c], sa[c], m0[c], shift[c], z, qmin, qmax)-z)
			}
		}
		return nil
	}
	n := 0
	if level >= levelAVX2 {
		// Every whole run in one call (a call per run cost 20–35 ns, as
		// much as 50 elements at 7×7).
		k.channels(sa, m0, shift)
		n = requantRunsVec(dst, src, k, inner, ch)
	}
	requantRunsGo(dst[n:], src[n:], inner, (n/inner)%ch, sa, m0, shift, z, qmin, qmax, s)
	return nil
}

// requantRunsGo is the loop over the runs of inner elements of src, run
// r with channel (c0 + r) mod len(sa)'s parameters: requantRunsVec's
// twin.
func requantRunsGo(dst, src []float32, inner, c0 int, sa []float64, m0, shift []int32, z, qmin, qmax int32, s float32) {
	for lo, c := 0, c0; lo < len(src); lo += inner {
		requantRun(dst[lo:lo+inner], src[lo:lo+inner], sa[c], m0[c], shift[c], z, qmin, qmax, s)
		if c++; c == len(sa) {
			c = 0
		}
	}
}

// requantK holds the vector kernel's parameters: per lane (one entry per
// channel of a row, padded to a multiple of 8) or 8 copies of one
// channel's, and the constants; csa, cm0 and cshift are the per-channel
// parameters. rcp holds 1/S_acc beside S_acc. Instances are pooled
// (requantPool) with their slices, so a call allocates nothing.
type requantK struct {
	sa, rcp, mf     []float64
	m0, half, shift []int64
	// c: the vector kernels' constants: the first 10 for the integer
	// steps, then 2^29 and the grid's ends q_min − Z and q_max − Z as
	// float64 for the float64 steps below 2^29 (c[10..12]; read by
	// requantAVX512, requantRunsAVX512 and requantRunsAVX2).
	c [13]uint64
	// the output grid (S, Z, q_min, q_max), for the blocks the AVX2
	// kernel leaves to requantOne
	s             float32
	z, qmin, qmax int32

	csa         []float64
	cm0, cshift []int32
	// 8 lanes for broadcast, or one per channel (lanes)
	lsa, lrcp, lmf []float64
	lm0, lh, ls    []int64
	// 8 lanes per channel, channel c at 8c (channels); bmf holds
	// M0·2^−shift (requantRunsAVX512)
	bsa, brcp, bmf []float64
	bm0, bh, bs    []int64
}

var requantPool = sync.Pool{New: func() any { return new(requantK) }}

// getRequantK returns a pooled requantK with the constants set and room
// for ch channels.
func getRequantK(s float32, z, qmin, qmax int32, ch int) *requantK {
	k := requantPool.Get().(*requantK)
	k.c = [13]uint64{math.Float64bits(math.MinInt32), math.Float64bits(math.MaxInt32),
		math.Float64bits(0.5), math.Float64bits(1), 1 << 63, 1<<63 - 1,
		math.Float64bits(0.5 - 0x1p-16), uint64(int64(qmin) - int64(z)), uint64(int64(qmax) - int64(z)),
		uint64(math.Float32bits(s)),
		math.Float64bits(0x1p29), math.Float64bits(float64(int64(qmin) - int64(z))), math.Float64bits(float64(int64(qmax) - int64(z)))}
	k.s, k.z, k.qmin, k.qmax = s, z, qmin, qmax
	if cap(k.csa) < ch {
		k.csa, k.cm0, k.cshift = make([]float64, ch), make([]int32, ch), make([]int32, ch)
	}
	k.csa, k.cm0, k.cshift = k.csa[:ch], k.cm0[:ch], k.cshift[:ch]
	return k
}

// laneParams returns the lane slices of n entries.
func (k *requantK) laneParams(n int) (sa, rcp, mf []float64, m0, half, shift []int64) {
	if cap(k.lm0) < n {
		k.lsa, k.lrcp, k.lmf = make([]float64, n), make([]float64, n), make([]float64, n)
		k.lm0, k.lh, k.ls = make([]int64, n), make([]int64, n), make([]int64, n)
	}
	return k.lsa[:n], k.lrcp[:n], k.lmf[:n], k.lm0[:n], k.lh[:n], k.ls[:n]
}

// multiplier is M0·2^−shift as a float64: exact, M0 < 2^24.
func multiplier(m0, shift int32) float64 { return math.Ldexp(float64(m0), -int(shift)) }

// broadcast sets 8 lanes to one channel's parameters.
func (k *requantK) broadcast(sa float64, m0, shift int32) {
	k.sa, k.rcp, k.mf, k.m0, k.half, k.shift = k.laneParams(8)
	for i := range 8 {
		k.sa[i], k.rcp[i], k.m0[i], k.half[i], k.shift[i] = sa, 1/sa, int64(m0), int64(1)<<(shift-1)-1, int64(shift)
		k.mf[i] = multiplier(m0, shift)
	}
}

// channels sets 8 lanes per channel, channel c's at 8c, for
// requantRunsAVX512 and requantRunsAVX2: broadcast once per call
// instead of once per run.
func (k *requantK) channels(sa []float64, m0, shift []int32) {
	n := 8 * len(sa)
	if cap(k.bsa) < n {
		k.bsa, k.brcp, k.bmf = make([]float64, n), make([]float64, n), make([]float64, n)
		k.bm0, k.bh, k.bs = make([]int64, n), make([]int64, n), make([]int64, n)
	}
	k.bsa, k.brcp, k.bmf = k.bsa[:n], k.brcp[:n], k.bmf[:n]
	k.bm0, k.bh, k.bs = k.bm0[:n], k.bh[:n], k.bs[:n]
	for c := range sa {
		m, h, sh := int64(m0[c]), int64(1)<<(shift[c]-1)-1, int64(shift[c])
		mf := multiplier(m0[c], shift[c])
		for i := 8 * c; i < 8*c+8; i++ {
			k.bsa[i], k.brcp[i], k.bm0[i], k.bh[i], k.bs[i], k.bmf[i] = sa[c], 1/sa[c], m, h, sh, mf
		}
	}
}

// lanes sets one lane per channel, padded to a multiple of 8 lanes with
// channel 0's parameters (the kernel's masked last block reads them).
func (k *requantK) lanes(sa []float64, m0, shift []int32) {
	n := len(sa)
	k.sa, k.rcp, k.mf, k.m0, k.half, k.shift = k.laneParams((n + 7) &^ 7)
	for i := range k.sa {
		c := i
		if c >= n {
			c = 0
		}
		k.sa[i], k.rcp[i], k.mf[i] = sa[c], 1/sa[c], multiplier(m0[c], shift[c])
		k.m0[i], k.half[i], k.shift[i] = int64(m0[c]), int64(1)<<(shift[c]-1)-1, int64(shift[c])
	}
}

// requantRun is the loop over a run of elements sharing a channel.
func requantRun(dst, src []float32, sa float64, m0, shift, z, qmin, qmax int32, s float32) {
	dst = dst[:len(src)]
	for i, y := range src {
		dst[i] = s * float32(requantOne(y, sa, m0, shift, z, qmin, qmax)-z)
	}
}

// requantOne is the integer output of one element: the accumulator
// round(y / S_acc) (half away from zero, clamped to int32; NaN to the
// minimum), requantized.
func requantOne(y float32, sa float64, m0, shift, z, qmin, qmax int32) int32 {
	a := math.Round(float64(y) / sa) // recovers the exact integer accumulator
	if !(a > math.MinInt32) {        // NaN too
		a = math.MinInt32
	} else if a > math.MaxInt32 {
		a = math.MaxInt32
	}
	return quant.Requantize(int32(a), m0, shift, z, qmin, qmax)
}
