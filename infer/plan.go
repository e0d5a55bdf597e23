package infer

import (
	"slices"
)

// The integer layers run on unsigned bytes. Every activation buffer holds
// u = s − off, s the stored value and off the lowest value s can take
// there (the input range, or the producing layer's clamp, with its zero
// point): u ∈ [0, 255] exactly, ordered like s (max-pooling is unchanged),
// and it is what the u8×s8 kernels multiply (gemm.go). The requantization
// writes u directly, with the zero point and the clamp shifted by −off.
//
// Buffers are channels-last (HWC) — the model's layout is CHW — so that an
// im2col row copies runs of k·C contiguous bytes and max-pooling compares
// whole channel vectors. The weights are permuted to match when packed
// (convPerm, hwcOrder); a trace and the logits convert back to CHW.
//
// A model is a graph (Layer.Inputs): each value (the quantized input, a
// layer's output) lives in a buffer slot from the layer that writes it to
// the last layer that reads it; buildPlan gives each the lowest slot free
// then, so a chain of layers ping-pongs between two slots as before and a
// residual block holds a third for its shortcut.

// value is where a layer's output (or the quantized input) lives while
// it is needed: its buffer slot, storage offset (u = s − off, and hi the
// highest stored value), per-sample stride (a linear reader's padded row
// length, or the value's size) and physical shape, channels last (a
// flatten keeps its input's bytes and shape).
type value struct {
	slot    int
	off, hi int32
	stride  int
	c, h, w int
}

// layerPlan is how a layer runs: the values it reads, its output value,
// its packed weights (linear and dense conv2d; one per group for a grouped
// conv2d), or its depthwise or add constants.
type layerPlan struct {
	ins  []int // value indices (−1: the input)
	out  *value
	pw   *packedWeights
	gpw  []*packedWeights
	dw   *dwWeights
	add  *addConsts
	gap  *gapDiv // a global average pool's division (newGapDiv)
	macs int     // multiply-accumulates per sample

	// fa, if set, is the add layer just after this convolution, run in
	// its epilogue (fuseAdds): the add's output is written here and the
	// add layer does nothing, where the level has the kernels
	// (runConv); nil otherwise.
	fa *fusedAdd

	// seg is pw with each kernel row padded with zero weights to whole
	// 4-byte groups (segmentRows), for the implicit-im2col kernels of
	// a convolution whose kernel rows are not (the one-channel stems);
	// nil if not needed.
	seg *packedWeights
}

// modelPlan is a model's plan: the input value, each layer's plan and the
// buffer slots' per-sample sizes.
type modelPlan struct {
	in     *value
	layers []*layerPlan
	slots  []int
	// chunk is how many samples a goroutine runs through all layers at a
	// time: chunkSamples, fewer for a model whose images need many
	// buffers (chunkFor).
	chunk int
	// mean and inv are the input normalization's per-channel mean and
	// reciprocal std (nil without one); lut[c][p] is the unsigned input
	// storage of byte p in channel c (inputTables).
	mean, inv []float32
	lut       [][256]uint8
}

// val is value v (−1: the input).
func (mp *modelPlan) val(v int) *value {
	if v < 0 {
		return mp.in
	}
	return mp.layers[v].out
}

// plan returns the model's plan, built once (the weights packed for the
// kernel level of this CPU); a loaded model is immutable, so this is safe
// for concurrent use. The model must be valid (prepare).
func (m *Model) plan() *modelPlan {
	p, err := m.prepare()
	if err != nil {
		panic("infer: plan of an invalid model: " + err.Error())
	}
	return p
}

// prepare validates the model and builds its plan, once: a model built
// in memory and run without Validate gets Validate's error, never a
// plan that its values would overflow.
func (m *Model) prepare() (*modelPlan, error) {
	m.padOnce.Do(func() {
		if m.planErr = m.Validate(); m.planErr == nil {
			m.plans = buildPlan(m)
		}
	})
	return m.plans, m.planErr
}

func buildPlan(m *Model) *modelPlan {
	qlo, qhi := m.Input.QRange()
	total, _ := m.scratch()
	mp := &modelPlan{in: &value{off: min(qlo, m.Input.Zero), hi: max(qhi, m.Input.Zero), c: m.InC, h: m.InH, w: m.InW}, chunk: chunkFor(total)}
	mp.mean, mp.inv = m.normConsts()
	mp.lut = m.inputTables(mp.mean, mp.inv, mp.in.off)
	mp.layers = make([]*layerPlan, len(m.Layers))
	// root[v+1] is the value whose buffer v uses (a flatten's is its
	// input's root); last[v+1] the last layer reading a root (through any
	// alias), len(m.Layers) for the logits.
	root := make([]int, len(m.Layers)+1)
	last := make([]int, len(m.Layers)+1)
	root[0], last[0] = -1, -1
	for i, l := range m.Layers {
		p := &layerPlan{ins: m.inputs(i)}
		in := mp.val(p.ins[0])
		out := &value{off: in.off, hi: in.hi, c: l.OutC, h: l.OutH, w: l.OutW}
		root[i+1], last[i+1] = i, i
		for _, v := range p.ins {
			last[root[v+1]+1] = max(last[root[v+1]+1], i)
		}
		switch l.Kind {
		case KindFlatten:
			out.c, out.h, out.w = in.c, in.h, in.w
			root[i+1] = root[p.ins[0]+1]
		case KindLinear, KindConv2D, KindAdd:
			out.off, out.hi = min(l.Lo, l.Out.Zero), max(l.Hi, l.Out.Zero)
		}
		switch {
		case l.Kind == KindAdd:
			p.add = newAddConsts(l, in, mp.val(p.ins[1]), out)
		case l.Kind == KindGlobalAvgPool:
			d := newGapDiv(l.InH*l.InW, in.off-l.In.Zero)
			p.gap = &d
		case l.depthwise():
			p.dw = newDWWeights(l, in.off)
			p.dw.rq = newRequantPanels(l.M0, l.Shift, (l.OutC+15)&^15, l.Out.Zero-out.off, l.Lo-out.off, l.Hi-out.off)
			bound := dwAccBound(p.dw, in.hi-in.off)
			enableRequant32(p.dw.rq, l.M0, l.Shift, l.Lo-out.off, l.Hi-out.off, bound)
			// The clamped form, for the VNNI kernel (dwRow3VNNI) and
			// AVX2's fused one (dwRow3QAVX2); the others keep the
			// 32-bit or 64-bit form.
			enableRequantClamp(p.dw.rq, l.M0, l.Shift, l.Out.Zero-out.off, l.Lo-out.off, l.Hi-out.off, bound)
			p.macs = l.OutSize() * l.K * l.K
		case l.Kind == KindConv2D && l.groups() > 1:
			g, og, fan := l.groups(), l.OutC/l.groups(), l.fanIn()
			perm := convPerm(l.InC/g, l.K)
			for gi := 0; gi < g; gi++ {
				wt := permuteRows(l.W[gi*og*fan:(gi+1)*og*fan], og, fan, perm)
				p.gpw = append(p.gpw, packWeights(wt, l.Bias[gi*og:(gi+1)*og], og, fan, in.off, in.hi, l.In.Zero, activeLevel))
			}
			p.macs = l.OutC * fan * l.OutH * l.OutW
		case l.Kind.Weighted():
			var perm []int
			if l.Kind == KindConv2D {
				perm = convPerm(l.InC, l.K)
			} else if in.c > 1 && in.h*in.w > 1 {
				perm = hwcOrder(in.c, in.h, in.w)
			}
			wt := permuteRows(l.W, l.OutC, l.fanIn(), perm)
			p.pw = packWeights(wt, l.Bias, l.OutC, l.fanIn(), in.off, in.hi, l.In.Zero, activeLevel)
			if kc := l.K * l.InC; l.Kind == KindConv2D && kc%4 != 0 && (l.InW+2*l.Pad)*l.InC >= (kc+3)&^3 && hasConv(activeLevel.convSets(p.pw)) {
				segW, segK := segmentRows(wt, l.OutC, l.K, kc)
				p.seg = packWeights(segW, l.Bias, l.OutC, segK, in.off, in.hi, l.In.Zero, activeLevel)
			}
			// The fused kernels' requantization.
			p.pw.rq = newRequantPanels(l.M0, l.Shift, p.pw.mp, l.Out.Zero-out.off, l.Lo-out.off, l.Hi-out.off)
			// The 32-bit form where the sums are small enough (seg has
			// the same weights, padded with zeros).
			// The clamped form where the multipliers allow it (the kernels
			// prefer it to both others).
			bound := accBound(p.pw, in.hi-in.off)
			enableRequant32(p.pw.rq, l.M0, l.Shift, l.Lo-out.off, l.Hi-out.off, bound)
			enableRequantClamp(p.pw.rq, l.M0, l.Shift, l.Out.Zero-out.off, l.Lo-out.off, l.Hi-out.off, bound)
			if p.seg != nil {
				p.seg.rq = p.pw.rq
			}
			// A stem of few input bytes a kernel row and a multiple of 4
			// output channels runs with output pixels in the lanes
			// (stemImage) where the CPU has the kernels (stemFits, and
			// every channel has the clamped form).
			if l.Kind == KindConv2D && stemKernels && activeLevel.convQ != nil && p.pw.rq != nil {
				p.pw.stem = newStemPlan(l.InC, l.K, l.Stride, l.InW+2*l.Pad, l.OutH, l.OutW, l.OutC, wt, p.pw.bias, l.M0, l.Shift,
					l.Out.Zero-out.off, l.Lo-out.off, l.Hi-out.off, bound)
			}
			// A stride-1 stem of few channels packs pixels in pairs or
			// fours (pairRows) for the fused kernels, in place of seg.
			if f := pairFactor(l.InC, l.K); l.Kind == KindConv2D && f > 1 && l.Stride == 1 && l.OutW%f == 0 && hasConv(activeLevel.convSets(p.pw)) && p.pw.rq != nil {
				pw, k := pairRows(wt, l.OutC, l.K, l.InC, f)
				bias, m0, shift := make([]int32, 0, f*l.OutC), make([]int32, 0, f*l.OutC), make([]int32, 0, f*l.OutC)
				for range f {
					bias, m0, shift = append(bias, l.Bias...), append(m0, l.M0...), append(shift, l.Shift...)
				}
				ps := packWeights(pw, bias, f*l.OutC, k, in.off, in.hi, l.In.Zero, activeLevel)
				ps.rq = newRequantPanels(m0, shift, ps.mp, l.Out.Zero-out.off, l.Lo-out.off, l.Hi-out.off)
				bound := accBound(ps, in.hi-in.off)
				enableRequant32(ps.rq, m0, shift, l.Lo-out.off, l.Hi-out.off, bound)
				enableRequantClamp(ps.rq, m0, shift, l.Out.Zero-out.off, l.Lo-out.off, l.Hi-out.off, bound)
				ps.pairs = f
				// Pixels in groups run only fused (runConv): where the
				// level has no fused kernels for them (AVX2's: whole
				// panels, no weight −128), seg stays as it was.
				if _, q := activeLevel.convSets(ps); q != nil && ps.rq != nil {
					p.seg = ps
				}
			}
			p.macs = l.OutC * l.fanIn() * l.OutH * l.OutW
		}
		p.out = out
		mp.layers[i] = p
	}
	last[root[len(m.Layers)]+1] = len(m.Layers)
	fuseAdds(m, mp, root, last)
	// Strides: a root's size, or the padded row of a linear layer reading
	// it (directly or through flatten).
	stride := make([]int, len(m.Layers)+1)
	for v := -1; v < len(m.Layers); v++ {
		val := mp.val(v)
		stride[root[v+1]+1] = max(stride[root[v+1]+1], val.c*val.h*val.w)
	}
	for i, l := range m.Layers {
		if l.Kind == KindLinear {
			r := root[mp.layers[i].ins[0]+1] + 1
			stride[r] = max(stride[r], mp.layers[i].pw.kp)
		}
	}
	// Slots: before layer i runs, the slots of roots last read before i
	// are free; a layer's output takes the lowest free one (never one it
	// reads: those are still live). A chain ping-pongs between two.
	var free []int
	slotOf := make([]int, len(m.Layers)+1)
	take := func(v int) {
		r := v + 1
		if len(free) > 0 {
			slotOf[r], free = free[0], free[1:]
		} else {
			slotOf[r] = len(mp.slots)
			mp.slots = append(mp.slots, 0)
		}
		mp.slots[slotOf[r]] = max(mp.slots[slotOf[r]], stride[r])
	}
	take(-1)
	for i := range m.Layers {
		for v := -1; v < i; v++ {
			if root[v+1] == v && last[v+1] == i-1 {
				free = append(free, slotOf[v+1])
			}
		}
		slices.Sort(free)
		if root[i+1] == i {
			take(i)
		}
	}
	for v := -1; v < len(m.Layers); v++ {
		val := mp.val(v)
		val.slot, val.stride = slotOf[root[v+1]+1], stride[root[v+1]+1]
	}
	return mp
}

// fuseAdds marks each dense convolution i whose output only the add
// layer i+1 reads, as one operand, to run that add in its epilogue
// (layerPlan.fa), and gives the add's output the convolution's buffer
// (its root becomes i): a fused run writes the add's bytes where the
// convolution's would have gone, and a run that does not fuse (a trace,
// a level without the kernels) adds in place, element by element, over
// the convolution's bytes, which nothing reads after the add. The
// convolution never writes a slot it reads, nor the shortcut's (live
// until the add), so neither path overwrites a byte it still needs.
func fuseAdds(m *Model, mp *modelPlan, root, last []int) {
	for i := 0; i+1 < len(m.Layers); i++ {
		l, p, add := m.Layers[i], mp.layers[i], mp.layers[i+1]
		if l.Kind != KindConv2D || p.pw == nil || p.pw.rq == nil || add.add == nil || last[i+1] != i+1 {
			continue
		}
		if len(add.ins) != 2 || (add.ins[0] == i) == (add.ins[1] == i) {
			continue
		}
		op := 0
		if add.ins[1] == i {
			op = 1
		}
		if p.fa = newFusedAdd(add.add, op, add.ins[1-op]); p.fa == nil {
			continue
		}
		for v := range root {
			if root[v] == i+1 {
				root[v] = i
			}
		}
		last[i+1] = max(last[i+1], last[i+2])
	}
}

// convPerm is the column order of a conv2d's weight rows on channels-last
// inputs of c channels: perm[j] is the model's (CHW) column of packed
// column j, (ci, ky, kx) becoming (ky, kx, ci); nil if the orders agree.
func convPerm(c, k int) []int {
	if c == 1 {
		return nil
	}
	perm := make([]int, 0, c*k*k)
	for ky := 0; ky < k; ky++ {
		for kx := 0; kx < k; kx++ {
			for ci := 0; ci < c; ci++ {
				perm = append(perm, (ci*k+ky)*k+kx)
			}
		}
	}
	return perm
}

// segmentRows returns the m rows of k kernel rows of kc weights each with
// every kernel row padded with zeros to a multiple of 4 weights (s), and
// the new row length k·s: the layout of gemmConvPacked's segments when a
// kernel row is not whole 4-byte groups. A zero weight adds nothing, so
// the bytes a segment reads past its kernel row change no sum.
func segmentRows(w []int8, m, k, kc int) ([]int8, int) {
	s := (kc + 3) &^ 3
	out := make([]int8, m*k*s)
	for o := 0; o < m; o++ {
		for ky := 0; ky < k; ky++ {
			copy(out[(o*k+ky)*s:], w[(o*k+ky)*kc:(o*k+ky+1)*kc])
		}
	}
	return out, k * s
}

// permuteRows returns the m rows of k weights with columns in perm's
// order (w itself for a nil perm).
func permuteRows(w []int8, m, k int, perm []int) []int8 {
	if perm == nil {
		return w
	}
	wt := make([]int8, m*k)
	for o := 0; o < m; o++ {
		for j, from := range perm {
			wt[o*k+j] = w[o*k+from]
		}
	}
	return wt
}

// hwcOrder is the CHW index of each HWC position of a c×h×w tensor.
func hwcOrder(c, h, w int) []int {
	perm := make([]int, 0, c*h*w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for ci := 0; ci < c; ci++ {
				perm = append(perm, (ci*h+y)*w+x)
			}
		}
	}
	return perm
}

// hasConv says whether a level has implicit-im2col kernels for a layer
// (convSets' first result).
func hasConv(c *convKernelSet, _ *convQKernelSet) bool { return c != nil }
