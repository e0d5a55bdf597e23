package infer

import (
	"sync"

	"github.com/tinyqat/tinyqat/internal/par"
)

// scratch is one goroutine's buffers; they grow to the largest batch seen
// and are reused through scratchPool, so a warm call allocates nothing.
type scratch struct {
	xn   []float32 // normalized float input (Model.Norm)
	qu   []uint8   // quantized input of several channels, before HWC
	bufs [][]uint8 // the plan's slots
	col  []uint8
	grp  []uint8 // one group's input channels (grouped conv2d)
	pad  []uint8 // a padded image (conv2d)
	sgn  []uint8 // a padded image's operand planes (padSignPlanes)
	acc  []int32
	tile []uint32 // stemImage's tile
	// lap, if set, is called after the input quantization (−1) and after
	// each layer (its index): Model.TimeLayers' clock.
	lap func(layer int)
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func grow[T any](v []T, n int) []T {
	if cap(v) < n {
		return make([]T, n)
	}
	return v[:n]
}

// chunkSamples is how many samples a goroutine runs through all layers at
// a time: enough rows for the GEMM to reuse each weight panel, few enough
// for the activations to stay in cache. gemmRows caps the rows of one GEMM
// call (a convolution has a row per output position).
const (
	chunkSamples = 64
	gemmRows     = 512
)

// runInt runs the integer layers on n samples of x and writes the logits
// to dst. Large batches are split into contiguous sample ranges over
// GOMAXPROCS goroutines; each sample's result is computed the same way
// whatever the split (exact integer sums), so results do not depend on it.
// With a trace, all n samples go through each layer together on one
// goroutine. It returns the index in x of the first NaN or ±Inf (the
// batch stops there and dst is incomplete), or −1.
func runInt(m *Model, dst []int32, x input, n int, tr Trace) int {
	plans := m.plan()
	macs := 0
	for _, p := range plans.layers {
		macs += p.macs
	}
	if tr != nil {
		sc := scratchPool.Get().(*scratch)
		bad := runRange(m, plans, sc, dst, x, 0, n, n, tr)
		scratchPool.Put(sc)
		return bad
	}
	if w := par.Workers(n, macs); w > 1 {
		return runParallel(m, plans, dst, x, n, w)
	}
	return runSamples(m, plans, dst, x, 0, n)
}

// runSamples runs samples [lo, hi) in chunks, with one scratch, and
// returns the index of the first non-finite input, or −1.
func runSamples(m *Model, plans *modelPlan, dst []int32, x input, lo, hi int) int {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	chunk := min(plans.chunk, hi-lo) // batch 1 needs buffers for one sample
	for s := lo; s < hi; s += chunk {
		if bad := runRange(m, plans, sc, dst, x, s, min(s+chunk, hi), chunk, nil); bad >= 0 {
			return bad
		}
	}
	return -1
}

// quantizeRows quantizes samples [s0, s1) of the input into the unsigned
// input buffer u (per-sample stride stride, storage offset off), channels
// last, and returns the index in x of the first non-finite value, or −1.
// Float pixels are normalized (Norm) and quantized; bytes are looked up in
// the plan's tables, with no float arithmetic.
func quantizeRows(m *Model, mp *modelPlan, sc *scratch, u []uint8, in input, s0, s1, stride int, off int32) int {
	size := m.InC * m.InH * m.InW
	if in.bytes {
		for i := s0; i < s1; i++ {
			bytesToInput(u[(i-s0)*stride:(i-s0)*stride+size], in.pix[i*size:(i+1)*size], mp.lut, m.InH*m.InW)
		}
		return -1
	}
	x := in.x
	qmin, qmax := m.Input.QRange()
	s, z := m.Input.Scale, m.Input.Zero
	if m.InC == 1 && stride == size { // one run for the whole chunk
		xs := x[s0*size : s1*size]
		if m.Norm != nil {
			sc.xn = grow(sc.xn, len(xs))
			normalizeCHW(sc.xn, xs, mp.mean, mp.inv, size)
			xs = sc.xn
		}
		if bad := quantizeU8(u[:(s1-s0)*size], xs, s, z, qmin, qmax, off); bad >= 0 {
			return s0*size + bad
		}
		return -1
	}
	if m.InC > 1 {
		sc.qu = grow(sc.qu, size)
	}
	if m.Norm != nil {
		sc.xn = grow(sc.xn, size)
	}
	for i := s0; i < s1; i++ {
		row := u[(i-s0)*stride : (i-s0)*stride+size]
		if m.InC == 3 && quantizeC3(row, x[i*size:(i+1)*size], m.InH*m.InW, s, z, qmin, qmax, off, mp.mean, mp.inv) {
			continue
		}
		q := row
		if m.InC > 1 {
			q = sc.qu
		}
		xs := x[i*size : (i+1)*size]
		if m.Norm != nil {
			normalizeCHW(sc.xn, xs, mp.mean, mp.inv, m.InH*m.InW)
			xs = sc.xn
		}
		if bad := quantizeU8(q, xs, s, z, qmin, qmax, off); bad >= 0 {
			return i*size + bad
		}
		if m.InC > 1 {
			toUnsignedHWC(row, q, 0, m.InC, m.InH*m.InW)
		}
	}
	return -1
}

// runRange runs samples [s0, s1) through every layer and returns the index
// in x of the first non-finite input, or −1 (then nothing ran).
func runRange(m *Model, mp *modelPlan, sc *scratch, dst []int32, x input, s0, s1, maxChunk int, tr Trace) int {
	n := s1 - s0
	// The buffers are sized for the largest value of each slot, once per
	// chunk size.
	if len(sc.bufs) < len(mp.slots) {
		sc.bufs = append(sc.bufs, make([][]uint8, len(mp.slots)-len(sc.bufs))...)
	}
	for k, size := range mp.slots {
		sc.bufs[k] = grow(sc.bufs[k], maxChunk*size)
	}
	in := mp.in
	if bad := quantizeRows(m, mp, sc, sc.bufs[in.slot], x, s0, s1, in.stride, in.off); bad >= 0 {
		return bad
	}
	if sc.lap != nil {
		sc.lap(-1)
	}
	fusedTo := -1 // an add layer already run by the convolution before it
	for li, l := range m.Layers {
		p := mp.layers[li]
		a, o := mp.val(p.ins[0]), p.out
		if li == fusedTo {
			if sc.lap != nil {
				sc.lap(li)
			}
			continue
		}
		src, dstb := sc.bufs[a.slot], sc.bufs[o.slot]
		switch l.Kind {
		case KindFlatten:
			// The buffer and its stride stay: the flat values are the
			// input's channels-last bytes (a linear reader's weights are
			// permuted to match; the logits are put back in CHW order
			// below).
		case KindMaxPool2D:
			inSize, outSize := l.InSize(), l.OutSize()
			for s := 0; s < n; s++ {
				maxPoolU8(dstb[s*o.stride:s*o.stride+outSize], src[s*a.stride:s*a.stride+inSize], l.InC, l.InH, l.InW, l.K, l.Stride, l.OutH, l.OutW)
			}
		case KindGlobalAvgPool:
			for s := 0; s < n; s++ {
				gapU8d(dstb[s*o.stride:s*o.stride+l.OutC], src[s*a.stride:s*a.stride+l.InSize()], l.InC, l.InH*l.InW, p.gap)
			}
		case KindAdd:
			b := mp.val(p.ins[1])
			srcb := sc.bufs[b.slot]
			size := l.OutSize()
			for s := 0; s < n; s++ {
				addU8(dstb[s*o.stride:s*o.stride+size], src[s*a.stride:s*a.stride+size], srcb[s*b.stride:s*b.stride+size], p.add)
			}
		case KindLinear:
			pw, lv := p.pw, p.pw.level
			if testLevel != nil {
				lv = testLevel
			}
			for r := 0; r < n; r += gemmRows {
				rows := min(gemmRows, n-r)
				sc.acc = grow(sc.acc, rows*pw.mp)
				if conv, convQ, sp, plane := preRows(sc, lv, pw, src[r*a.stride:], a.stride, rows); conv != nil {
					// AVX2, on the rows' operand planes: one segment a row.
					if convQ != nil && pw.rq != nil {
						gemmConvPackedPreQ(convQ, dstb[r*o.stride:], o.stride, sp, plane, a.stride, pw, rows, 1, pw.kp, pw.rq)
						continue
					}
					gemmConvPackedPre(conv, sc.acc, pw.mp, sp, plane, a.stride, pw, rows, 1, pw.kp)
				} else if q := lv.fusedQ(pw); q != nil {
					gemmPackedQ(q, dstb[r*o.stride:], o.stride, src[r*a.stride:], a.stride, pw, rows, pw.rq)
					continue
				} else {
					gemmPacked(lv, sc.acc, pw.mp, src[r*a.stride:], a.stride, pw, rows)
				}
				requantU8(dstb[r*o.stride:], sc.acc, rows, l.OutC, pw.mp, l.M0, l.Shift,
					l.Out.Zero-o.off, l.Lo-o.off, l.Hi-o.off, o.stride)
			}
		case KindConv2D:
			switch {
			case p.dw != nil:
				P := l.OutH * l.OutW
				sc.acc = grow(sc.acc, P*l.OutC)
				sc.pad = grow(sc.pad, (l.InH+2*l.Pad)*(l.InW+2*l.Pad)*l.InC)
				for s := 0; s < n; s++ {
					if dwConvU8Q(dstb[s*o.stride:s*o.stride+l.OutSize()], src[s*a.stride:s*a.stride+l.InSize()], sc.pad, l.InC, l.InH, l.InW, l.K, l.Stride, l.Pad, l.OutH, l.OutW, p.dw, s == 0) {
						continue
					}
					dwConvU8(sc.acc, src[s*a.stride:s*a.stride+l.InSize()], sc.pad, l.InC, l.InH, l.InW, l.K, l.Stride, l.Pad, l.OutH, l.OutW, p.dw, s == 0)
					requantU8(dstb[s*o.stride:], sc.acc, P, l.OutC, l.OutC, l.M0, l.Shift,
						l.Out.Zero-o.off, l.Lo-o.off, l.Hi-o.off, l.OutC)
				}
			case p.gpw != nil:
				runGroupedConv(sc, l, p, src, a.stride, dstb, o, n)
			default:
				var ca *convAdd
				if p.fa != nil && tr == nil {
					sv, ao := mp.val(p.fa.short), mp.layers[li+1].out
					ca = &convAdd{fa: p.fa, dst: sc.bufs[ao.slot], dstStride: ao.stride, sa: sc.bufs[sv.slot], saStride: sv.stride}
				}
				if runConv(sc, l, p.pw, p.seg, l.InC, src, a.stride, 0, dstb, o, 0, n, ca) {
					fusedTo = li + 1
				}
			}
		}
		if tr != nil {
			tr(li, traceOut(dstb, o, n, l.OutSize()))
		}
		if sc.lap != nil {
			sc.lap(li)
		}
	}
	// The logits in the model's order: a flatten of several channels at
	// more than one position (a convolution head) keeps its input's
	// channels-last bytes, which go back to CHW as the simulation's
	// flatten orders them.
	out := mp.layers[len(mp.layers)-1].out
	logits := dst[s0*m.Classes : s1*m.Classes]
	if out.c > 1 && out.h*out.w > 1 {
		widenRowsCHW(logits, sc.bufs[out.slot], n, out.c, out.h*out.w, out.stride, out.off)
	} else {
		widenRows(logits, sc.bufs[out.slot], n, m.Classes, out.stride, out.off)
	}
	return -1
}

// widenRowsCHW is widenRows for n rows of c channels at hw positions
// stored channels last (HWC): dst gets each row in CHW order.
func widenRowsCHW(dst []int32, u []uint8, n, c, hw, stride int, off int32) {
	size := c * hw
	for s := 0; s < n; s++ {
		row := u[s*stride : s*stride+size]
		out := dst[s*size : (s+1)*size]
		for p := 0; p < hw; p++ {
			px := row[p*c : (p+1)*c]
			for ci, v := range px {
				out[ci*hw+p] = int32(v) + off
			}
		}
	}
}

// convAdd is where a convolution with a fused add (layerPlan.fa) writes:
// the add's output buffer and the shortcut's, with their per-sample
// strides.
type convAdd struct {
	fa                  *fusedAdd
	dst, sa             []uint8
	dstStride, saStride int
}

// runConv runs a dense convolution (or one group of a grouped one) of n
// samples: inC channels of each sample's channels-last input (stride
// inStride; for a group, gathered from channel c0 on into sc.grp first),
// im2col, the packed GEMM, and requantization of the pw.m output channels
// from channel oc0 on into o's buffer (its rows are OutC channels apart).
// With ca, where the level has the kernels (convQA), the add after it
// runs in the epilogue instead and writes ca.dst; it reports whether it
// did (else the output is the convolution's, in o's buffer).
func runConv(sc *scratch, l *Layer, pw, seg *packedWeights, inC int, src []uint8, inStride, c0 int, dstb []uint8, o *value, oc0, n int, ca *convAdd) bool {
	lv := pw.level
	if testLevel != nil {
		lv = testLevel
	}
	P := l.OutH * l.OutW
	per := max(1, gemmRows/P) // samples per GEMM call
	hw := l.InH * l.InW
	inSize := hw * inC
	if pwLayer(lv, l, pw, inC, ca != nil) {
		// A 1×1 convolution on the VNNIPW kernels (a stride, an add to
		// fuse, or few channels): a whole image, or run of pixels, a
		// call, the pixels read in place.
		runPW(lv, l, pw, src, inStride, dstb, o, n, ca)
		return ca != nil
	}
	if l.K == 1 && l.Stride == 1 && l.Pad == 0 && inC == l.InC && pw.kp == inC {
		// A pointwise convolution's im2col rows are the channels-last
		// pixels themselves: the GEMM reads the input in place.
		runPointwise(sc, l, pw, lv, src, inStride, dstb, o, oc0, n)
		return false
	}
	if pw.stem != nil && lv.convQ != nil && inC == l.InC && ca == nil && !stemOff {
		runStem(sc, l, pw, src, inStride, dstb, o, n)
		return false
	}
	// With implicit-im2col kernels (gemmConvPacked), a kernel row of whole
	// 4-byte groups is read in place from the (padded) image: no im2col
	// copy, which costs about as much as the GEMM on 16 to 64 channels.
	// A convolution whose kernel rows are not whole groups reads segments
	// padded to whole groups (seg's zero weights): up to 3 bytes past a
	// kernel row, and past the (padded, or copied) image's end, into
	// slack at the end of sc.pad.
	conv, convQ := lv.convSets(pw)
	implicit, slack := conv != nil && l.K*inC%4 == 0, 0
	if seg != nil {
		sconv, sconvQ := lv.convSets(seg)
		switch {
		case seg.pairs > 1 && (sconvQ == nil || seg.rq == nil || inC != l.InC):
			seg = nil // pixels packed in groups run only fused: im2col instead
		case sconv != nil:
			pw, conv, convQ, implicit, slack = seg, sconv, sconvQ, true, 3
		}
	}
	// With fused kernels (gemmConvPackedQ) the rows are requantized in
	// registers and written to the output directly; a row computes
	// pairs pixels (pairRows), all of them for 1.
	fused := implicit && convQ != nil && pw.rq != nil && inC == l.InC
	// A 3×3 convolution the VNNIK3 kernels take runs there; the add (if
	// any) runs in the epilogue of either kernel, in either form of the
	// requantization.
	k3 := fused && useK3(lv, l, pw, inC)
	added := fused && ca != nil && lv.convQA != nil && (!k3 || lv.k3a != nil)
	// A 3×3 one-channel stem (stride 2: neither stemImage nor pairRows
	// takes it) runs a whole image a call.
	c1 := fused && !added && !k3 && conv1Layer(lv, l, pw, inC)
	pairs := max(1, pw.pairs)
	for s := 0; s < n; s += per {
		cnt := min(per, n-s)
		if !implicit {
			sc.col = grow(sc.col, per*P*pw.kp)
		}
		if !fused {
			sc.acc = grow(sc.acc, per*P*pw.mp)
		}
		for i := 0; i < cnt; i++ {
			img := src[(s+i)*inStride:]
			if inC != l.InC { // one group's channels
				sc.grp = grow(sc.grp, inSize)
				gatherChannels(sc.grp, img, hw, l.InC, c0, inC)
				img = sc.grp
			}
			if c1 {
				sc.pad = grow(sc.pad, l.InW)
				if conv1Image(dstb[(s+i)*o.stride:], img[:inSize], sc.pad, l.InH, l.InW, l.OutH, l.OutW, l.Stride, l.Pad, l.OutC, pw, s+i == 0) {
					continue
				}
			}
			h, w, pad := l.InH, l.InW, l.Pad
			if implicit && conv.pre != nil {
				// The pre-signed kernels (AVX2) read the padded image's
				// two operand planes, each with the slack after it.
				h, w = h+2*pad, w+2*pad
				size := h*w*inC + slack
				plane := (size + 63) &^ 63
				sc.sgn = grow(sc.sgn, plane+size)
				sc.pad = padSignPlanes(sc.sgn, plane, img[:inSize], inC, l.InH, l.InW, l.Pad, pw.padU, sc.pad)
				for oy := 0; oy < l.OutH; oy++ {
					sp := sc.sgn[oy*l.Stride*w*inC:]
					if fused {
						gemmConvPackedPreQ(convQ, dstb[(s+i)*o.stride+oy*l.OutW*l.OutC:], pairs*l.OutC, sp, plane, pairs*l.Stride*inC, pw, l.OutW/pairs, l.K, w*inC, pw.rq)
						continue
					}
					gemmConvPackedPre(conv, sc.acc[(i*P+oy*l.OutW)*pw.mp:], pw.mp, sp, plane, l.Stride*inC, pw, l.OutW, l.K, w*inC)
				}
				continue
			}
			if pad > 0 && (implicit || l.OutH*l.OutW > 4) {
				// Padded once, every receptive field is inside the
				// image: im2col copies runs, with no per-pixel checks.
				h, w, pad = h+2*pad, w+2*pad, 0
				sc.pad = grow(sc.pad, h*w*inC+slack)
				padImage(sc.pad, img[:inSize], inC, l.InH, l.InW, l.Pad, pw.padU, s+i == 0)
				img = sc.pad
			} else if slack > 0 { // an unpadded image, copied for the slack
				sc.pad = grow(sc.pad, inSize+slack)
				copy(sc.pad, img[:inSize])
				img = sc.pad
			}
			if implicit {
				// Output row oy's pixels start at input row oy·stride,
				// stride·C bytes apart; a kernel row is one segment.
				img = img[:h*w*inC+slack]
				if k3 { // every output row, the add in the epilogue if fused
					if added {
						gemmConvK3Image(lv, ca.dst[(s+i)*ca.dstStride:], l.OutC, img, l.Stride, inC, pw, l.OutH, l.OutW, w*inC, pw.rq, ca.sa[(s+i)*ca.saStride:], ca.fa)
					} else {
						gemmConvK3Image(lv, dstb[(s+i)*o.stride:], l.OutC, img, l.Stride, inC, pw, l.OutH, l.OutW, w*inC, pw.rq, nil, nil)
					}
					continue
				}
				for oy := 0; oy < l.OutH; oy++ {
					if added {
						off := oy * l.OutW * l.OutC
						gemmConvPackedQA(lv.convQA, ca.dst[(s+i)*ca.dstStride+off:], pairs*l.OutC, img[oy*l.Stride*w*inC:], pairs*l.Stride*inC, pw, l.OutW/pairs, l.K, w*inC, pw.rq, ca.sa[(s+i)*ca.saStride+off:], ca.fa)
						continue
					}
					if fused {
						gemmConvPackedQ(convQ, dstb[(s+i)*o.stride+oy*l.OutW*l.OutC:], pairs*l.OutC, img[oy*l.Stride*w*inC:], pairs*l.Stride*inC, pw, l.OutW/pairs, l.K, w*inC, pw.rq)
						continue
					}
					gemmConvPacked(conv, sc.acc[(i*P+oy*l.OutW)*pw.mp:], pw.mp, img[oy*l.Stride*w*inC:], l.Stride*inC, pw, l.OutW, l.K, w*inC)
				}
				continue
			}
			im2colU8(sc.col[i*P*pw.kp:(i+1)*P*pw.kp], img[:h*w*inC], inC, h, w, l.K, l.Stride, pad, l.OutH, l.OutW, pw.kp, pw.padU)
		}
		if q := lv.fusedQ(pw); !implicit && q != nil && inC == l.InC {
			for i := 0; i < cnt; i++ {
				gemmPackedQ(q, dstb[(s+i)*o.stride:], l.OutC, sc.col[i*P*pw.kp:], pw.kp, pw, P, pw.rq)
			}
			continue
		}
		if !implicit {
			gemmPacked(lv, sc.acc, pw.mp, sc.col, pw.kp, pw, cnt*P)
		}
		for i := 0; i < cnt && !fused; i++ {
			requantU8(dstb[(s+i)*o.stride+oc0:], sc.acc[i*P*pw.mp:], P, pw.m, pw.mp, l.M0[oc0:], l.Shift[oc0:],
				l.Out.Zero-o.off, l.Lo-o.off, l.Hi-o.off, l.OutC)
		}
	}
	return added
}

// stemOff, set by tests, runs convolutions with a stemPlan the way they
// would run without one.
var stemOff bool

// runStem is runConv for a convolution with a pixel-lane form (pw.stem,
// on all its channels, nothing fused after it): each sample is padded
// (or copied) into sc.pad with stemSlack bytes after it, and stemImage
// writes its OutH·OutW·OutC output bytes.
func runStem(sc *scratch, l *Layer, pw *packedWeights, src []uint8, inStride int, dstb []uint8, o *value, n int) {
	inSize := l.InH * l.InW * l.InC
	size := (l.InH + 2*l.Pad) * (l.InW + 2*l.Pad) * l.InC
	sc.pad = grow(sc.pad, size+stemSlack(pw.stem))
	sc.tile = grow(sc.tile, stemTileLen(pw.stem))
	for i := 0; i < n; i++ {
		img := src[i*inStride : i*inStride+inSize]
		if l.Pad > 0 {
			padImage(sc.pad, img, l.InC, l.InH, l.InW, l.Pad, pw.padU, i == 0)
		} else {
			copy(sc.pad, img)
		}
		stemImage(pw.stem, dstb[i*o.stride:], sc.pad, sc.tile)
	}
}

// runPointwise is runConv for a 1×1 convolution of stride 1 without
// padding on all of a layer's channels, whose count is a multiple of 4
// (pw.kp = InC, so a pixel is a whole GEMM row): each sample's HW pixels
// are P = OutH·OutW rows of u, InC bytes apart; samples stored back to
// back (inStride = P·InC) form one run of rows, gemmRows at a time.
func runPointwise(sc *scratch, l *Layer, pw *packedWeights, lv *level, src []uint8, inStride int, dstb []uint8, o *value, oc0, n int) {
	P := l.OutH * l.OutW
	per := max(1, gemmRows/P)
	if inStride != P*pw.kp {
		per = 1
	}
	pre, preQ := lv.preSets(pw)
	if q := lv.fusedQ(pw); pre == nil && q != nil && oc0 == 0 && inStride == P*pw.kp && o.stride == P*l.OutC {
		// Fused, on samples stored back to back in and out: all n
		// samples' pixels are one run of rows, one call (no
		// accumulators to hold, and a short last tile once, not per
		// sample).
		gemmPackedQ(q, dstb, l.OutC, src, pw.kp, pw, n*P, pw.rq)
		return
	}
	sc.acc = grow(sc.acc, per*P*pw.mp)
	for s := 0; s < n; s += per {
		cnt := min(per, n-s)
		switch q := lv.fusedQ(pw); {
		case pre != nil:
			// AVX2: the pre-signed kernels on the run's operand planes
			// (preRows), one segment a row.
			_, _, sp, plane := preRows(sc, lv, pw, src[s*inStride:], pw.kp, cnt*P)
			if preQ != nil && pw.rq != nil && oc0 == 0 {
				for i := 0; i < cnt; i++ {
					gemmConvPackedPreQ(preQ, dstb[(s+i)*o.stride:], l.OutC, sp[i*P*pw.kp:], plane, pw.kp, pw, P, 1, pw.kp, pw.rq)
				}
				continue
			}
			gemmConvPackedPre(pre, sc.acc, pw.mp, sp, plane, pw.kp, pw, cnt*P, 1, pw.kp)
		case q != nil && oc0 == 0:
			for i := 0; i < cnt; i++ {
				gemmPackedQ(q, dstb[(s+i)*o.stride:], l.OutC, src[(s+i)*inStride:], pw.kp, pw, P, pw.rq)
			}
			continue
		default:
			gemmPacked(lv, sc.acc, pw.mp, src[s*inStride:], pw.kp, pw, cnt*P)
		}
		for i := 0; i < cnt; i++ {
			requantU8(dstb[(s+i)*o.stride+oc0:], sc.acc[i*P*pw.mp:], P, pw.m, pw.mp, l.M0[oc0:], l.Shift[oc0:],
				l.Out.Zero-o.off, l.Lo-o.off, l.Hi-o.off, l.OutC)
		}
	}
}

// runGroupedConv runs a grouped (not depthwise) convolution group by
// group through runConv.
func runGroupedConv(sc *scratch, l *Layer, p *layerPlan, src []uint8, inStride int, dstb []uint8, o *value, n int) {
	g := l.groups()
	cg, og := l.InC/g, l.OutC/g
	for gi, pw := range p.gpw {
		runConv(sc, l, pw, nil, cg, src, inStride, gi*cg, dstb, o, gi*og, n, nil)
	}
}

// traceOut is value o's n samples of size values as stored integers, in
// the model's CHW order.
func traceOut(buf []uint8, o *value, n, size int) []int32 {
	out := make([]int32, n*size)
	if o.c > 1 && o.h*o.w > 1 { // back to the model's CHW order
		widenRowsCHW(out, buf, n, o.c, o.h*o.w, o.stride, o.off)
		return out
	}
	return widenRows(out, buf, n, size, o.stride, o.off)
}

// widenRows writes the stored values s = u + off of n rows of size values
// (row stride stride) to dst.
func widenRows(dst []int32, u []uint8, n, size, stride int, off int32) []int32 {
	for s := 0; s < n; s++ {
		row := u[s*stride : s*stride+size]
		out := dst[s*size : (s+1)*size]
		for i, v := range row {
			out[i] = int32(v) + off
		}
	}
	return dst
}

// preRows writes the operand planes of the n rows of u (ldu bytes apart,
// pw.kp bytes read from each) into sc.sgn for lv's pre-signed kernels
// (signPlanes) and returns the kernels for pw and the planes, or nil
// kernels where lv has none for pw (then the caller runs gemmPacked).
func preRows(sc *scratch, lv *level, pw *packedWeights, u []uint8, ldu, n int) (*convKernelSet, *convQKernelSet, []uint8, int) {
	conv, convQ := lv.preSets(pw)
	if conv == nil || n == 0 {
		return nil, nil, nil, 0
	}
	size := (n-1)*ldu + pw.kp
	plane := (size + 63) &^ 63
	sc.sgn = grow(sc.sgn, plane+size)
	signPlanes(sc.sgn, plane, u[:size])
	return conv, convQ, sc.sgn, plane
}

// preSets is convSets where lv runs pw on pre-signed kernels (AVX2, a
// layer whose pair sums could saturate), else nil: the GEMM paths of
// linear and pointwise layers take those, and keep their own kernels
// otherwise.
func (lv *level) preSets(pw *packedWeights) (*convKernelSet, *convQKernelSet) {
	if c, q := lv.convSets(pw); c != nil && c.pre != nil {
		return c, q
	}
	return nil, nil
}
