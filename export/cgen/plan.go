package cgen

import (
	"fmt"
	"slices"

	"github.com/tinyqat/tinyqat/infer"
)

// buffer is one region of the arena: a value (the quantized input, or a
// layer's output with every flatten and in-place layer that aliases it)
// or a layer's scratch (a convolution's column). It is live from layer
// def to layer last inclusive (def −1: before the first layer, the input
// table lookup).
type buffer struct {
	size      int
	def, last int
	off       int
	scratch   bool
	// over is the buffer (or −1) this one may be placed on, at the same
	// offset: a pool's input, which dies at the pool that writes this
	// one in place.
	over int
}

// plan is where every value lives: root[v+1] is the buffer of value v (−1:
// the model input), −1 for the last layer's output, which the generated
// code writes straight into the caller's logits. col[i] is layer i's
// column buffer (−1: none).
type plan struct {
	bufs []*buffer
	root []int
	col  []int
	// fused[i] is true for a convolution whose only reader, layer i+1,
	// is an add: the convolution adds each value to the other input
	// (residual[i], a value) as it stores it, into the add's output, and
	// its own output never exists (root −2).
	fused    []bool
	residual []int
	arena    int
	// peak is the most bytes live at any layer (every buffer that must
	// hold its values then): no placement can need less arena.
	peak int
	// inPlace counts the layers that write over their dying input.
	inPlace int
}

// inputsOf is the values layer i reads (Inputs, or the previous layer).
func inputsOf(m *infer.Model, i int) []int {
	if l := m.Layers[i]; len(l.Inputs) > 0 {
		return l.Inputs
	}
	return []int{i - 1}
}

// colSize is the bytes of layer l's column buffer: one output pixel's
// receptive field over one group's channels (0: the layer needs none).
func colSize(l *infer.Layer) int {
	if packed(l) {
		return 2 * l.InSize() // two unpacked weight rows
	}
	if l.Kind != infer.KindConv2D {
		return 0
	}
	return l.InC / max(1, l.Groups) * l.K * l.K
}

// packed reports whether layer l's weights stay packed in flash, 4 bits
// each, and are unpacked at run time: a linear layer (each weight row is
// read once an inference, so unpacking costs little) with weights of at
// most 4 bits or a codebook of at most 16 entries. Convolutions, whose
// rows are read at every output pixel, are unpacked at export.
func packed(l *infer.Layer) bool {
	return l.Kind == infer.KindLinear && (l.CBits > 0 && l.CBits <= 4 || l.CBits == 0 && l.WBits <= 4)
}

// align is the arena's placement granule in bytes.
const align = 4

// makePlan lays out the arena (package doc, Memory plan): lifetimes and
// aliases first (a flatten renames its input; an add whose first input
// dies there writes over it; a convolution read only by the next layer's
// add is fused with it), then a greedy placement, largest buffer first,
// each at the lowest aligned offset that overlaps no buffer live at the
// same time — a pool's output first tries its dying input's offset.
func makePlan(m *infer.Model) (*plan, error) {
	L := len(m.Layers)
	p := &plan{root: make([]int, L+1), col: make([]int, L), fused: make([]bool, L), residual: make([]int, L)}
	readers := make([]int, L+1) // readers[v+1]: how many inputs read value v
	for i := range m.Layers {
		for _, v := range inputsOf(m, i) {
			readers[v+1]++
		}
	}
	for i, l := range m.Layers {
		if i+1 < L && l.Kind == infer.KindConv2D && readers[i+1] == 1 && m.Layers[i+1].Kind == infer.KindAdd {
			if ins := inputsOf(m, i+1); ins[0] == i && ins[1] != i || ins[1] == i && ins[0] != i {
				p.fused[i], p.residual[i] = true, ins[0]+ins[1]-i
			}
		}
	}
	newBuf := func(size, def int, scratch bool) int {
		p.bufs = append(p.bufs, &buffer{size: size, def: def, last: def, scratch: scratch, over: -1})
		return len(p.bufs) - 1
	}
	p.root[0] = newBuf(m.InC*m.InH*m.InW, -1, false)
	for i, l := range m.Layers {
		p.col[i] = -1
		ins := inputsOf(m, i)
		fusedAdd := i > 0 && p.fused[i-1]
		for _, v := range ins {
			if b := p.root[v+1]; b >= 0 {
				p.bufs[b].last = max(p.bufs[b].last, i)
			}
		}
		first := p.root[ins[0]+1] // −2 only for a fused add
		// lastUse reports whether no later layer reads buffer b.
		lastUse := func(b int) bool {
			for j := i + 1; j < L; j++ {
				for _, v := range inputsOf(m, j) {
					if p.root[v+1] == b {
						return false
					}
				}
			}
			return true
		}
		switch {
		case p.fused[i]:
			p.root[i+1] = -2 // never stored
		case fusedAdd:
			// Written during layer i−1 by the convolution, which reads
			// its own input then: in place over the residual only if
			// that is another buffer and no later layer reads it.
			r, convIn := p.root[p.residual[i-1]+1], p.root[inputsOf(m, i-1)[0]+1]
			switch {
			case i == L-1:
				p.root[i+1] = -1
			case r >= 0 && r != convIn && lastUse(r):
				p.root[i+1] = r
				p.inPlace++
			default:
				p.root[i+1] = newBuf(l.OutSize(), i-1, false)
			}
		case l.Kind == infer.KindFlatten:
			p.root[i+1] = first
		case i == L-1:
			p.root[i+1] = -1 // the caller's logits
		case l.Kind == infer.KindAdd && first >= 0 && lastUse(first):
			// An add's output e is written after its reads of element
			// e, the only ones: writing over the dying input is safe.
			p.root[i+1] = first
			p.inPlace++
		case (l.Kind == infer.KindGlobalAvgPool || l.Kind == infer.KindMaxPool2D) && first >= 0 && lastUse(first):
			// Output e is written after its own reads, and no later
			// output reads input e: a global average pool reads channel
			// c's pixels, at or after c in CHW order; max pooling's
			// output e' = (c·OH + oy)·OW + ox reads from (c·H + oy·s)·W
			// + ox·s ≥ e' on (H ≥ OH, W ≥ OW, s ≥ 1). The output is a
			// buffer of its own (its input's larger one is not kept
			// alive with it) that may lie on the input.
			p.root[i+1] = newBuf(l.OutSize(), i, false)
			p.bufs[p.root[i+1]].over = first
		default:
			p.root[i+1] = newBuf(l.OutSize(), i, false)
		}
		if n := colSize(l); n > 0 {
			p.col[i] = newBuf(n, i, true)
		}
	}
	// A last layer that only renames (flatten) leaves its values in an
	// arena buffer: the generated code copies them to the logits.
	if b := p.root[L]; b >= 0 {
		p.bufs[b].last = L
	}
	order := make([]int, len(p.bufs))
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int { return p.bufs[b].size - p.bufs[a].size })
	// A pool's output right after the input it may lie on, before
	// another buffer takes that place.
	var seq []int
	queued := make([]bool, len(p.bufs))
	for _, k := range order {
		for ; k >= 0 && !queued[k]; k = partnerOf(p.bufs, k) {
			seq, queued[k] = append(seq, k), true
		}
	}
	order = seq
	placed := make([]bool, len(p.bufs))
	for _, k := range order {
		b := p.bufs[k]
		var busy []*buffer
		for o, ob := range p.bufs {
			if placed[o] && ob.def <= b.last && b.def <= ob.last {
				busy = append(busy, ob)
			}
		}
		// fits reports whether b fits at off, where it may lie exactly
		// on its in-place partner.
		fits := func(off int) bool {
			for _, o := range busy {
				partner := o == p.bufs[max(b.over, 0)] && b.over >= 0 || o.over == k
				if !(partner && o.off == off) && off < o.off+o.size && o.off < off+b.size {
					return false
				}
			}
			return true
		}
		// On the partner (in place) if it is placed and nothing else
		// is in the way; else the lowest gap. A partner placed later
		// sees this one's offset through its own over link.
		if b.over >= 0 && placed[b.over] && fits(p.bufs[b.over].off) {
			b.off = p.bufs[b.over].off
		} else if j := partnerOf(p.bufs, k); j >= 0 && placed[j] && fits(p.bufs[j].off) {
			b.off = p.bufs[j].off
		} else {
			slices.SortFunc(busy, func(x, y *buffer) int { return x.off - y.off })
			off := 0
			for _, o := range busy {
				if off+b.size <= o.off {
					break
				}
				off = max(off, roundUp(o.off+o.size))
			}
			b.off = off
		}
		placed[k] = true
		p.arena = max(p.arena, b.off+b.size)
	}
	for _, b := range p.bufs {
		if b.over >= 0 && p.bufs[b.over].off == b.off {
			p.inPlace++
		}
	}
	// The bytes live at each layer, a pool's output counted once with
	// the input it lies on.
	for i := -1; i <= L; i++ {
		live := 0
		for k, b := range p.bufs {
			if b.def <= i && i <= b.last {
				live += b.size
				if j := partnerOf(p.bufs, k); j >= 0 && p.bufs[j].def == i && p.bufs[j].off == b.off && i == b.last {
					live -= min(b.size, p.bufs[j].size)
				}
			}
		}
		p.peak = max(p.peak, live)
	}
	if p.arena > 1<<31-1 {
		return nil, fmt.Errorf("cgen: the arena would need %d bytes, more than a C int32 offset holds", p.arena)
	}
	return p, nil
}

func roundUp(n int) int { return (n + align - 1) / align * align }

// partnerOf is the buffer placed on buffer k in place (over = k), or −1.
func partnerOf(bufs []*buffer, k int) int {
	for j, b := range bufs {
		if b.over == k {
			return j
		}
	}
	return -1
}
