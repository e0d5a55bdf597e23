package infer

import (
	"fmt"
	"slices"
	"sync"

	"github.com/tinyqat/tinyqat/internal/f32"
	"github.com/tinyqat/tinyqat/internal/par"
)

// The float runtime (Mode F32). Activations stay in the model's CHW order,
// one sample after another, so a flatten is free and the logits need no
// reordering. Each layer is one fused kernel of internal/f32, weights
// packed once per model for this CPU's micro-kernel:
//
//	linear     f32.Linear: the chunk's samples are the rows of one GEMM,
//	           bias and ReLU/ReLU6 in its epilogue
//	conv2d     f32.ConvImages per group: the chunk's images a few at a
//	           time side by side in one wide zero-padded image, weights ×
//	           its implicit im2col (stride 2: of its phase planes,
//	           f32.SplitPhases), packed a panel at a time; small maps
//	           whose padding columns waste more than an explicit im2col
//	           costs (resnet8's 4×4, lenet5's conv2) on column planes
//	           without them, chosen per layer by counted work. Where
//	           f32.NewConvFlat takes the layer (one group, stride 1
//	           keeping the width or stride 2 on rows of at most 32;
//	           AVX-512: 16k outputs, each depth's masked load of 16
//	           output pixels times 16 output channels' weights; AVX2:
//	           4k outputs where measured faster, masked loads of 8
//	           pixels of three images times 4 channels' weights):
//	           f32.ConvFlatImages instead, straight from the image
//	           (stride 2: its phase planes), no padded image and no
//	           padding columns
//	depthwise  f32.DepthwiseFlat where it runs (AVX-512; stride 1
//	           keeping the width, or stride 2): masked loads straight
//	           from each image (stride 2: from its four phase planes)
//	           into the output, no padded planes; on AVX2 without
//	           AVX-512 DepthwiseFlat too, with the weights of dw8 (what
//	           f32.DepthwiseImages runs there) laid out once in the
//	           plan: image by image, masked loads straight from the
//	           image (stride 2: its column-parity planes), four
//	           channels and 16 outputs a step; else
//	           f32.DepthwiseImages: the chunk's images side
//	           by side in one wide padded plane per channel, one DWSum
//	maxpool2d  f32.MaxPool; globalavgpool f32.GlobalAvgPool; add f32.Add
//
// A residual add of a stride-1 K×K convolution (K > 1) and a 1×1
// projection without padding (any stride, a ResNet's downsampling
// shortcut), each without a ReLU and read by the add alone, runs as one
// f32.ConvImagesProj at the add: the projection's weights are extra
// depths of the convolution's, its input subsampled beside the
// convolution's, the two biases summed; neither conv2d's output is
// computed (the trace reports nil for them). With a stride-2 projection
// where f32.NewConvFlatProj takes it, f32.ConvFlatImagesProj instead.
//
// Samples run in chunks (several samples through every layer); a large
// batch is split over GOMAXPROCS goroutines by samples. The sum of a
// layer's products is ordered the same way whatever the batch, chunk or
// split (internal/f32's gemm_epilogue.go), so with the assembly kernels a
// sample's logits do not depend on the batch it is in.

// floatPlan is an F32 model's plan, built once.
type floatPlan struct {
	layers []floatLayer
	// slotOf[v+1] is the buffer slot of value v (−1: the input); slots
	// are the slots' per-sample sizes in floats.
	slotOf []int
	slots  []int
	// fromInput[v+1]: value v is the input itself (the input, or a
	// flatten of it), read in place when no normalization applies.
	fromInput []bool
	chunk     int
	macs      int
	// mean, inv: the input normalization (nil: none); lut[c][p] the
	// normalized float of byte p in channel c (the float path's value of
	// float32(p)/255).
	mean, inv []float32
	lut       [][256]float32
}

type floatLayer struct {
	ins  []int
	lin  *f32.Packed
	conv []*f32.Packed  // per group
	eps  []f32.Epilogue // per group (conv2d); eps[0] otherwise
	geom f32.ConvGeom   // one group's geometry (conv2d), or the pooling's
	dw   bool
	// dwf: the depthwise layer for f32.DepthwiseFlat (nil: this CPU or
	// geometry takes f32.DepthwiseImages).
	dwf *f32.DWFlat
	// flat: a conv2d for f32.ConvFlatImages (nil: this CPU or geometry
	// takes f32.ConvImages).
	flat *f32.ConvFlat
	// skip: a conv2d folded into the add that reads it (fused).
	skip bool
	// fused (an add): the convolution with the projection folded in,
	// reading values ins[0] (the convolution's input) and ins[1] (the
	// projection's); conv[0], eps[0] and geom are the fused layer's.
	fused *fusedProj
}

// fusedProj is the projection of a fused add (f32.Proj without the
// slices).
type fusedProj struct {
	c, h, w, stride int
}

// projFusion reports whether add layer i can run as one f32.ConvImagesProj
// (see the runtime's comment above) and returns the convolution's and the
// projection's layer indices; readers counts each value's readers.
func (m *Model) projFusion(i int, readers []int) (body, proj int, ok bool) {
	l := m.Layers[i]
	ins := m.inputs(i)
	if l.Kind != KindAdd || len(ins) != 2 {
		return 0, 0, false
	}
	isBody := func(v int) bool {
		if v < 0 || readers[v+1] != 1 {
			return false
		}
		b := m.Layers[v]
		return b.Kind == KindConv2D && b.groups() == 1 && !b.ReLU && b.Stride == 1 && b.K > 1
	}
	isProj := func(v int) bool {
		if v < 0 || readers[v+1] != 1 {
			return false
		}
		b := m.Layers[v]
		return b.Kind == KindConv2D && b.groups() == 1 && !b.ReLU && b.K == 1 && b.Pad == 0
	}
	switch a, b := ins[0], ins[1]; {
	case a != b && isBody(a) && isProj(b):
		return a, b, true
	case a != b && isBody(b) && isProj(a):
		return b, a, true
	}
	return 0, 0, false
}

// floatChunkBudget bounds the activation floats one goroutine's chunk
// holds (1 MiB): a chunk's layers then pass their activations through
// the core's L2 cache rather than L3 or memory. On a 1 MiB-L2 core this
// runs resnet8 and resnet8-mlperf about 8% faster per image than 4 MiB
// chunks (CPU time, batch 64 and 1000); 512 KiB measured the same, 256 KiB
// slower (the side-by-side images of ConvImages then fill fewer panels).
const floatChunkBudget = 1 << 18

func (m *Model) prepareFloat() (*floatPlan, error) {
	if m.Mode != F32 {
		return nil, fmt.Errorf("infer: a %s model is not a float model", m.Mode)
	}
	m.padOnce.Do(func() {
		if m.planErr = m.Validate(); m.planErr == nil {
			m.fplan = buildFloatPlan(m)
		}
	})
	return m.fplan, m.planErr
}

func buildFloatPlan(m *Model) *floatPlan {
	L := len(m.Layers)
	fp := &floatPlan{layers: make([]floatLayer, L), slotOf: make([]int, L+1)}
	fp.mean, fp.inv = m.normConsts()
	fp.lut = make([][256]float32, m.InC)
	var x [256]float32
	for p := range x {
		x[p] = float32(p) / 255
	}
	for c := range fp.lut {
		if fp.mean != nil {
			normalizeCHW(fp.lut[c][:], x[:], fp.mean[c:c+1], fp.inv[c:c+1], len(x))
		} else {
			fp.lut[c] = x
		}
	}
	size := make([]int, L+1)
	size[0] = m.InC * m.InH * m.InW
	root := make([]int, L+1)
	last := make([]int, L+1)
	root[0], last[0] = -1, -1
	for i, l := range m.Layers {
		fp.layers[i] = planFloatLayer(l)
		p := &fp.layers[i]
		p.ins = m.inputs(i)
		size[i+1] = l.OutSize()
		root[i+1], last[i+1] = i, i
		for _, v := range p.ins {
			last[root[v+1]+1] = max(last[root[v+1]+1], i)
		}
		if l.Kind == KindFlatten {
			root[i+1] = root[p.ins[0]+1]
		}
		if l.Kind.Weighted() {
			fp.macs += l.OutC * l.fanIn() * l.OutH * l.OutW
		}
	}
	last[root[L]+1] = L
	// Fused adds (projFusion): the add reads the convolution's and the
	// projection's inputs, the two conv2d layers are not run.
	readers := m.valueReaders()
	for i, l := range m.Layers {
		bi, pi, ok := m.projFusion(i, readers)
		if !ok {
			continue
		}
		b, pj := m.Layers[bi], m.Layers[pi]
		fb := b.fanIn()
		fan := fb + pj.InC
		w := make([]float32, b.OutC*fan)
		bias := make([]float32, b.OutC)
		for o := range b.OutC {
			copy(w[o*fan:], b.FW[o*fb:(o+1)*fb])
			copy(w[o*fan+fb:], pj.FW[o*pj.InC:(o+1)*pj.InC])
			bias[o] = b.FBias[o] + pj.FBias[o]
		}
		p := &fp.layers[i]
		p.ins = []int{m.inputs(bi)[0], m.inputs(pi)[0]}
		p.conv = []*f32.Packed{f32.PackA(w, b.OutC, fan)}
		p.eps = []f32.Epilogue{{Bias: bias, ReLU: l.ReLU, Max: l.Max}}
		p.geom = fp.layers[bi].geom
		p.fused = &fusedProj{c: pj.InC, h: pj.InH, w: pj.InW, stride: pj.Stride}
		if pj.Stride == 2 {
			p.flat = f32.NewConvFlatProj(p.geom, b.OutC, w, &p.eps[0], pj.InC, pj.InH, pj.InW)
		}
		for _, j := range []int{bi, pi} {
			fp.layers[j].skip, fp.layers[j].conv, fp.layers[j].eps, fp.layers[j].flat = true, nil, nil, nil
		}
		last[bi+1], last[pi+1] = bi, pi
		for _, v := range p.ins {
			last[root[v+1]+1] = max(last[root[v+1]+1], i)
		}
	}
	fp.fromInput = make([]bool, L+1)
	for v := range fp.fromInput {
		fp.fromInput[v] = root[v] == -1
	}
	// Slots, as the integer plan gives them: a value's slot is free after
	// its last reader; a layer's output takes the lowest free one.
	var free []int
	take := func(v int) {
		s := len(fp.slots)
		if len(free) > 0 {
			s, free = free[0], free[1:]
		} else {
			fp.slots = append(fp.slots, 0)
		}
		fp.slotOf[v+1] = s
		fp.slots[s] = max(fp.slots[s], size[v+1])
	}
	take(-1)
	for i := range m.Layers {
		for v := -1; v < i; v++ {
			if root[v+1] == v && last[v+1] == i-1 && (v < 0 || !fp.layers[v].skip) {
				free = append(free, fp.slotOf[v+1])
			}
		}
		slices.Sort(free)
		switch {
		case fp.layers[i].skip:
			fp.slotOf[i+1] = -1 // never written nor read
		case root[i+1] == i:
			take(i)
		default:
			fp.slotOf[i+1] = fp.slotOf[root[i+1]+1]
		}
	}
	total := 0
	for _, s := range fp.slots {
		total += s
	}
	fp.chunk = max(1, min(chunkSamples, floatChunkBudget/max(1, total)))
	return fp
}

// planFloatLayer is layer l's kernels, weights packed for this CPU (its
// ins and any fusion are the plan's business).
func planFloatLayer(l *Layer) floatLayer {
	var fl floatLayer
	p := &fl
	ep := f32.Epilogue{ReLU: l.ReLU, Max: l.Max}
	switch {
	case l.Kind == KindLinear:
		p.lin = f32.PackB(l.FW, l.OutC, l.fanIn())
		ep.Bias = l.FBias
	case l.depthwise():
		p.dw = true
		ep.Bias = l.FBias
		p.geom = f32.ConvGeom{C: l.InC, H: l.InH, W: l.InW, K: l.K, Stride: l.Stride, Pad: l.Pad, OH: l.OutH, OW: l.OutW}
		p.dwf = f32.NewDWFlat(p.geom, l.FW, &ep)
	case l.Kind == KindConv2D:
		g, og, fan := l.groups(), l.OutC/l.groups(), l.fanIn()
		p.geom = f32.ConvGeom{C: l.InC / g, H: l.InH, W: l.InW, K: l.K, Stride: l.Stride, Pad: l.Pad, OH: l.OutH, OW: l.OutW}
		for gi := 0; gi < g; gi++ {
			p.conv = append(p.conv, f32.PackA(l.FW[gi*og*fan:(gi+1)*og*fan], og, fan))
			e := ep
			e.Bias = l.FBias[gi*og : (gi+1)*og]
			p.eps = append(p.eps, e)
		}
		if g == 1 {
			p.flat = f32.NewConvFlat(p.geom, l.OutC, l.FW, &p.eps[0])
		}
	case l.Kind == KindMaxPool2D:
		p.geom = f32.ConvGeom{C: l.InC, H: l.InH, W: l.InW, K: l.K, Stride: l.Stride, OH: l.OutH, OW: l.OutW}
	}
	if p.eps == nil {
		p.eps = []f32.Epilogue{ep}
	}
	return fl
}

// floatScratch is one goroutine's buffers (pooled).
type floatScratch struct {
	bufs [][]float32
	// lap, if set, is called after the input step (−1: the byte table or
	// the normalization, nothing for floats read in place) and after
	// each layer that runs (not a conv2d fused into its add):
	// TimeLayers' clock.
	lap func(layer int)
}

var floatScratchPool = sync.Pool{New: func() any { return new(floatScratch) }}

// floatTrace is called with each layer's float output (n samples, CHW).
type floatTrace func(layer int, out []float32)

// floatLogits is FloatLogits for an F32 model.
func (m *Model) floatLogits(x []float32, n int) ([]float32, error) {
	if err := m.checkShape(len(x), "floats", n); err != nil {
		return nil, err
	}
	out := make([]float32, n*m.Classes)
	if err := m.runFloat(out, input{x: x}, n, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// FloatLogitsInto is FloatLogits writing into dst, which must hold
// n·Classes values; a warm call on a float model allocates nothing at
// batch sizes that run on one goroutine.
func (m *Model) FloatLogitsInto(dst, x []float32, n int) error {
	if err := m.checkShape(len(x), "floats", n); err != nil {
		return err
	}
	if len(dst) != n*m.Classes {
		return &InputError{fmt.Sprintf("%d output values for %d samples of %d classes", len(dst), n, m.Classes)}
	}
	if m.Mode != F32 {
		out, err := m.FloatLogits(x, n)
		if err == nil {
			copy(dst, out)
		}
		return err
	}
	return m.runFloat(dst, input{x: x}, n, nil)
}

// FloatLogitsBytes is FloatLogits for n images of bytes (NCHW, byte p
// standing for p/255): a float model maps each byte through a table per
// channel built once by the float path (float32(p)/255, then Norm), so
// the result equals FloatLogits(BytesToFloat(pix)) bit for bit; a
// w8-only model converts with BytesToFloat.
func (m *Model) FloatLogitsBytes(pix []uint8, n int) ([]float32, error) {
	if err := m.checkShape(len(pix), "bytes", n); err != nil {
		return nil, err
	}
	if m.Mode != F32 {
		return m.FloatLogits(BytesToFloat(pix), n)
	}
	out := make([]float32, n*m.Classes)
	if err := m.runFloat(out, input{pix: pix, bytes: true}, n, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// runFloat runs n samples of a float model into dst (n·Classes); with a
// trace, on the caller's goroutine in one chunk.
func (m *Model) runFloat(dst []float32, in input, n int, tr floatTrace) error {
	fp, err := m.prepareFloat()
	if err != nil {
		return err
	}
	if !in.bytes {
		if i := f32.FirstNonFinite(in.x); i >= 0 {
			return m.nonFinite(in.x, i)
		}
	}
	if n == 0 {
		return nil
	}
	bad := -1
	switch w := par.Workers(n, fp.macs); {
	case tr != nil:
		sc := floatScratchPool.Get().(*floatScratch)
		bad = m.floatRange(fp, sc, dst, in, 0, n, n, tr)
		floatScratchPool.Put(sc)
	case w > 1:
		bads := make([]int, w)
		var wg sync.WaitGroup
		for t := 1; t < w; t++ {
			wg.Go(func() { bads[t] = m.floatSamples(fp, dst, in, n*t/w, n*(t+1)/w) })
		}
		bads[0] = m.floatSamples(fp, dst, in, 0, n/w)
		wg.Wait()
		for _, b := range bads {
			if b >= 0 {
				bad = b
				break
			}
		}
	default:
		bad = m.floatSamples(fp, dst, in, 0, n)
	}
	if bad >= 0 {
		return m.nonFinite(in.x, bad)
	}
	return nil
}

// floatSamples runs samples [lo, hi) in chunks and returns the index of
// the first input value that the normalization made non-finite, or −1.
func (m *Model) floatSamples(fp *floatPlan, dst []float32, in input, lo, hi int) int {
	sc := floatScratchPool.Get().(*floatScratch)
	defer floatScratchPool.Put(sc)
	chunk := min(fp.chunk, hi-lo)
	for s := lo; s < hi; s += chunk {
		if bad := m.floatRange(fp, sc, dst, in, s, min(s+chunk, hi), chunk, nil); bad >= 0 {
			return bad
		}
	}
	return -1
}

// floatRange runs samples [s0, s1) through every layer.
func (m *Model) floatRange(fp *floatPlan, sc *floatScratch, dst []float32, in input, s0, s1, maxChunk int, tr floatTrace) int {
	n := s1 - s0
	if len(sc.bufs) < len(fp.slots) {
		sc.bufs = append(sc.bufs, make([][]float32, len(fp.slots)-len(sc.bufs))...)
	}
	for k, size := range fp.slots {
		sc.bufs[k] = grow(sc.bufs[k], maxChunk*size)
	}
	size := m.InC * m.InH * m.InW
	xin := sc.bufs[fp.slotOf[0]][:n*size]
	hw := m.InH * m.InW
	var direct []float32
	switch {
	case in.bytes:
		pix := in.pix[s0*size : s1*size]
		for k := 0; k*hw < len(pix); k++ {
			lut := &fp.lut[k%m.InC]
			d := xin[k*hw : (k+1)*hw]
			for j, p := range pix[k*hw : (k+1)*hw] {
				d[j] = lut[p]
			}
		}
	case fp.mean != nil:
		normalizeCHW(xin, in.x[s0*size:s1*size], fp.mean, fp.inv, hw)
		if i := f32.FirstNonFinite(xin); i >= 0 {
			return s0*size + i
		}
	default:
		// The layers read the caller's floats in place.
		direct = in.x[s0*size : s1*size]
	}
	if sc.lap != nil {
		sc.lap(-1)
	}
	val := func(v int) []float32 {
		if direct != nil && fp.fromInput[v+1] {
			return direct
		}
		return sc.bufs[fp.slotOf[v+1]]
	}
	for li := range m.Layers {
		p := &fp.layers[li]
		if p.skip {
			if tr != nil {
				tr(li, nil)
			}
			continue
		}
		out := val(li)
		runFloatLayer(m.Layers[li], p, out, val, n)
		outSize := m.Layers[li].OutSize()
		if sc.lap != nil {
			sc.lap(li)
		}
		if tr != nil {
			tr(li, slices.Clone(out[:n*outSize]))
		}
	}
	copy(dst[s0*m.Classes:s1*m.Classes], val(len(m.Layers) - 1)[:n*m.Classes])
	return -1
}

// runFloatLayer runs layer l (planned as p) on n samples into out; val
// gives the values it reads (n samples each, CHW).
func runFloatLayer(l *Layer, p *floatLayer, out []float32, val func(v int) []float32, n int) {
	src := val(p.ins[0])
	inSize, outSize := l.InSize(), l.OutSize()
	switch l.Kind {
	case KindFlatten:
	case KindLinear:
		f32.Linear(out, l.OutC, src, inSize, n, p.lin, &p.eps[0])
	case KindConv2D:
		if p.dwf != nil {
			f32.DepthwiseFlat(out, outSize, src, inSize, n, p.dwf)
			break
		}
		if p.dw {
			f32.DepthwiseImages(out, outSize, src, inSize, n, l.FW, p.geom, &p.eps[0])
			break
		}
		if p.flat != nil {
			f32.ConvFlatImages(out, outSize, src, inSize, n, p.flat)
			break
		}
		// Per group, the chunk's images a few at a time side by side
		// (small images fill the GEMM's panels together).
		P, og, gin := l.OutH*l.OutW, l.OutC/len(p.conv), p.geom.C*l.InH*l.InW
		for gi, pw := range p.conv {
			f32.ConvImages(out[gi*og*P:], outSize, src[gi*gin:], inSize, n, p.geom, pw, &p.eps[gi])
		}
	case KindMaxPool2D:
		for s := 0; s < n; s++ {
			f32.MaxPool(out[s*outSize:(s+1)*outSize], src[s*inSize:(s+1)*inSize], p.geom)
		}
	case KindGlobalAvgPool:
		f32.GlobalAvgPool(out[:n*l.OutC], src[:n*inSize], l.InH*l.InW)
	case KindAdd:
		if f := p.fused; f != nil {
			g := p.geom
			pr := f32.Proj{Src: val(p.ins[1]), SrcStride: f.c * f.h * f.w, C: f.c, H: f.h, W: f.w, Stride: f.stride}
			if p.flat != nil {
				f32.ConvFlatImagesProj(out, outSize, src, g.C*g.H*g.W, n, p.flat, &pr)
				return
			}
			f32.ConvImagesProj(out, outSize, src, g.C*g.H*g.W, n, g, p.conv[0], &p.eps[0], &pr)
			break
		}
		b := val(p.ins[1])
		f32.Add(out[:n*outSize], src[:n*outSize], b[:n*outSize], &p.eps[0])
	}
}
