package infer

import (
	"fmt"
	"slices"

	"github.com/tinyqat/tinyqat/internal/f32"
	"github.com/tinyqat/tinyqat/internal/par"
)

// FloatProbe is the float runtime's probing mode, made for the
// sensitivity pass of package mixed (mixed.Measure), which asks the same
// question once per quantizable tensor and bit-width: what are the
// logits when only this one tensor changes? It holds one batch: Forward
// runs it through every layer and keeps every layer's output; Run then
// recomputes only the layers after a cut (FloatCut), reading the kept
// outputs for everything before it. A cut replaces one layer's weights
// (a weight's fake quantization) and/or transforms one value in place
// before any later layer reads it (an activation's fake quantization);
// the network input is value −1.
//
// Every layer is planned on its own (no convolution folded into the add
// that reads it, as the float runtime does for a ResNet's projection
// shortcut), so every layer's output exists and can be cut; the kernels
// are the float runtime's (runFloatLayer), the samples run in chunks as
// there, the chunks split over GOMAXPROCS goroutines (par.Run; every
// sample's logits are computed the same way whatever the split). A model's input normalization is not applied: Forward takes the
// floats the first layer reads, and a model with a Norm is refused.
//
// It is not part of the runtime's stable API (a model file or Logits
// never uses it) and not safe for concurrent use.
type FloatProbe struct {
	m      *Model
	layers []floatLayer
	// root[v+1] is the value whose floats value v is (a flatten's are its
	// input's); size[v+1] its per-sample size.
	root, size []int
	chunk      int
	macs       int // per sample
	n          int
	// vals[v+1] holds root value v of the batch.
	vals [][]float32
	// bufs[w][v+1] is a chunk of value v for the w-th goroutine of Run.
	bufs [][][]float32
}

// NewFloatProbe returns the probe of float model m (Mode F32, no Norm).
func (m *Model) NewFloatProbe() (*FloatProbe, error) {
	if _, err := m.prepareFloat(); err != nil {
		return nil, err
	}
	if m.Norm != nil {
		return nil, fmt.Errorf("infer: a float probe reads normalized floats; the model has an input normalization")
	}
	L := len(m.Layers)
	p := &FloatProbe{m: m, layers: make([]floatLayer, L), root: make([]int, L+1), size: make([]int, L+1),
		vals: make([][]float32, L+1)}
	p.root[0], p.size[0] = -1, m.InC*m.InH*m.InW
	for i, l := range m.Layers {
		p.layers[i] = planFloatLayer(l)
		p.layers[i].ins = m.inputs(i)
		p.root[i+1], p.size[i+1] = i, l.OutSize()
		if l.Kind == KindFlatten {
			p.root[i+1] = p.root[p.layers[i].ins[0]+1]
		}
		if l.Kind.Weighted() {
			p.macs += l.OutC * l.fanIn() * l.OutH * l.OutW
		}
	}
	// The chunk: about what the float plan's three largest buffers hold
	// (floatChunkBudget), as a chunk reads one or two values and writes one.
	sizes := slices.Clone(p.size)
	slices.Sort(sizes)
	top := 0
	for _, s := range sizes[max(0, len(sizes)-3):] {
		top += s
	}
	p.chunk = max(1, min(chunkSamples, floatChunkBudget/max(1, top)))
	return p, nil
}

// Samples is the number of samples Forward last held.
func (p *FloatProbe) Samples() int { return p.n }

// Forward runs n samples of x (n·InC·InH·InW floats, CHW, as the first
// layer reads them) through every layer and keeps every output.
func (p *FloatProbe) Forward(x []float32, n int) error {
	m := p.m
	if err := m.checkShape(len(x), "floats", n); err != nil {
		return err
	}
	if i := f32.FirstNonFinite(x); i >= 0 {
		return m.nonFinite(x, i)
	}
	p.n = n
	for v := -1; v < len(m.Layers); v++ {
		if p.root[v+1] == v {
			p.vals[v+1] = grow(p.vals[v+1], n*p.size[v+1])
		} else {
			p.vals[v+1] = nil
		}
	}
	copy(p.vals[0], x)
	chunks := (n + p.chunk - 1) / p.chunk
	par.Run(chunks, par.Workers(chunks, p.chunk*p.macs), func(t int) {
		s0 := t * p.chunk
		k := min(p.chunk, n-s0)
		val := func(v int) []float32 {
			r := p.root[v+1]
			return p.vals[r+1][s0*p.size[r+1]:]
		}
		for li, l := range m.Layers {
			if p.root[li+1] == li {
				runFloatLayer(l, &p.layers[li], val(li), val, k)
			}
		}
	})
	return nil
}

// Value returns value v (−1: the input, else layer v's output) of the
// held batch: Samples()·size floats, CHW per sample. The caller must not
// modify it.
func (p *FloatProbe) Value(v int) []float32 {
	r := p.root[v+1]
	return p.vals[r+1][:p.n*p.size[r+1]]
}

// FloatCut is one change of a FloatProbe's network (FloatProbe.Cut).
type FloatCut struct {
	layer int
	l     *Layer      // the layer with its replaced weights, or nil
	fl    *floatLayer // its plan
	out   func(v []float32)
}

// Cut prepares a change at value layer (−1: the network input): fw, if
// not nil, replaces the weights of that linear or conv2d layer (the
// layout and size of its FW, finite); out, if not nil, is applied in
// place to the value (after the layer ran with fw) before any later layer
// reads it. out is called on a chunk of samples at a time, possibly on
// several goroutines at once, so it must treat every element on its own
// (a per-tensor fake quantization does) and be safe for concurrent use.
func (p *FloatProbe) Cut(layer int, fw []float32, out func(v []float32)) (*FloatCut, error) {
	m := p.m
	if layer < -1 || layer >= len(m.Layers) {
		return nil, fmt.Errorf("infer: cut at layer %d of %d", layer, len(m.Layers))
	}
	if p.root[layer+1] != layer {
		return nil, fmt.Errorf("infer: cut at layer %d (%s): a flatten has no output of its own", layer, m.Layers[layer].Kind)
	}
	c := &FloatCut{layer: layer, out: out}
	if fw == nil {
		return c, nil
	}
	if layer < 0 || !m.Layers[layer].Kind.Weighted() {
		return nil, fmt.Errorf("infer: cut at layer %d: weights for a value without any", layer)
	}
	l := *m.Layers[layer]
	if len(fw) != len(l.FW) {
		return nil, fmt.Errorf("infer: cut at layer %d (%s): %d weights, want %d", layer, l.Name, len(fw), len(l.FW))
	}
	if i := firstNotFinite(fw); i >= 0 {
		return nil, fmt.Errorf("infer: cut at layer %d (%s): weight %d is %v", layer, l.Name, i, fw[i])
	}
	l.FW = slices.Clone(fw)
	fl := planFloatLayer(&l)
	fl.ins = m.inputs(layer)
	c.l, c.fl = &l, &fl
	return c, nil
}

// Run writes into dst (Samples()·Classes) the logits of the held batch
// with cut c made: the layers before the cut are not run again.
func (p *FloatProbe) Run(dst []float32, c *FloatCut) error {
	m := p.m
	if len(dst) != p.n*m.Classes {
		return &InputError{fmt.Sprintf("%d output values for %d samples of %d classes", len(dst), p.n, m.Classes)}
	}
	chunks := (p.n + p.chunk - 1) / p.chunk
	w := par.Workers(chunks, p.chunk*p.macs)
	for len(p.bufs) < w {
		p.bufs = append(p.bufs, make([][]float32, len(p.vals)))
	}
	free := make(chan [][]float32, w)
	for _, b := range p.bufs[:w] {
		free <- b
	}
	par.Run(chunks, w, func(t int) {
		bufs := <-free
		p.runChunk(bufs, dst, c, t*p.chunk, min((t+1)*p.chunk, p.n))
		free <- bufs
	})
	return nil
}

// runChunk is Run for samples [s0, s1) with the chunk buffers bufs.
func (p *FloatProbe) runChunk(bufs [][]float32, dst []float32, c *FloatCut, s0, s1 int) {
	m, k, k0 := p.m, s1-s0, c.layer
	val := func(v int) []float32 {
		r := p.root[v+1]
		if r < k0 {
			return p.vals[r+1][s0*p.size[r+1]:]
		}
		bufs[r+1] = grow(bufs[r+1], p.chunk*p.size[r+1])
		return bufs[r+1]
	}
	cut := val(k0)[:k*p.size[k0+1]]
	if c.fl != nil {
		runFloatLayer(c.l, c.fl, cut, val, k)
	} else {
		copy(cut, p.vals[k0+1][s0*p.size[k0+1]:])
	}
	if c.out != nil {
		c.out(cut)
	}
	for li := k0 + 1; li < len(m.Layers); li++ {
		if p.root[li+1] == li {
			runFloatLayer(m.Layers[li], &p.layers[li], val(li), val, k)
		}
	}
	copy(dst[s0*m.Classes:s1*m.Classes], val(len(m.Layers) - 1)[:k*m.Classes])
}
