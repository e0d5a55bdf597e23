package infer

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tinyqat/tinyqat/quant"
)

// InputError reports a batch that cannot be run.
type InputError struct{ Problem string }

func (e *InputError) Error() string { return "infer: " + e.Problem }

// checkInput validates the float input of n samples: its length
// (checkShape) and its values (no NaN or ±Inf). The integer modes check
// only the length up front and find non-finite values while quantizing
// the input (quantizeU8, one pass instead of two).
func (m *Model) checkInput(x []float32, n int) error {
	if err := m.checkShape(len(x), "floats", n); err != nil {
		return err
	}
	if i := quant.FirstNonFinite(x); i >= 0 {
		return m.nonFinite(x, i)
	}
	return nil
}

// checkShape checks that an input of length values (floats or bytes, as
// unit says) holds n samples. The length is compared by division, so a
// huge n cannot overflow n·size into a match.
func (m *Model) checkShape(length int, unit string, n int) error {
	size := m.InC * m.InH * m.InW
	if size <= 0 || len(m.Layers) == 0 || m.Classes <= 0 {
		return &InputError{fmt.Sprintf("the model is empty (input %dx%dx%d, %d layers, %d classes): load it with Load, or build it completely and call Validate",
			m.InC, m.InH, m.InW, len(m.Layers), m.Classes)}
	}
	if n < 0 || length%size != 0 || length/size != n {
		return &InputError{fmt.Sprintf("%d %s for %d samples of %dx%dx%d", length, unit, n, m.InC, m.InH, m.InW)}
	}
	return nil
}

// nonFinite is the error for the NaN or ±Inf at x[i], or for the finite
// x[i] that the input normalization took beyond the float32 range.
func (m *Model) nonFinite(x []float32, i int) error {
	size := m.InC * m.InH * m.InW
	if finite32(x[i]) {
		return &InputError{fmt.Sprintf("sample %d, element %d is %v, not finite after the input normalization", i/size, i%size, x[i])}
	}
	return &InputError{fmt.Sprintf("sample %d, element %d is %v", i/size, i%size, x[i])}
}

// input is a batch of images: float pixels x, or bytes pix when bytes is
// set (LogitsBytes).
type input struct {
	x     []float32
	pix   []uint8
	bytes bool
}

// Logits runs n samples (NCHW float32 pixels, as the float model takes
// them: in [0, 1], normalized here by Norm when the model has one) and
// returns n·Classes output integers: int8 (w8a8) or uint8
// (w8a8-asym) logits widened to int32. For w8-only it returns an error; use
// FloatLogits. The model is safe for concurrent use. The result is a new
// slice; LogitsInto writes into the caller's and allocates nothing once
// warm (its buffers and the parallel workers' jobs are pooled).
func (m *Model) Logits(x []float32, n int) ([]int32, error) {
	return m.trace(x, n, nil)
}

// LogitsInto is Logits writing into dst, which must hold n·Classes values.
// On an error dst's contents are unspecified (a non-finite input is found
// while the batch runs).
func (m *Model) LogitsInto(dst []int32, x []float32, n int) error {
	if err := m.checkShape(len(x), "floats", n); err != nil {
		return err
	}
	if len(dst) != n*m.Classes {
		return &InputError{fmt.Sprintf("%d output values for %d samples of %d classes", len(dst), n, m.Classes)}
	}
	return m.run(dst, input{x: x}, n, nil)
}

// LogitsBytes is Logits for n images of bytes (NCHW, pixel p standing
// for p/255, as a camera frame or a decoded image holds them): each byte
// becomes its quantized input through a 256-entry table per channel,
// built once per model from the float path (normalization, then input
// quantization, of float32(p)/255), so LogitsBytes(pix) equals Logits(x)
// bit for bit for x[i] = float32(pix[i])/255, and nothing on the way in
// computes in float.
func (m *Model) LogitsBytes(pix []uint8, n int) ([]int32, error) {
	if err := m.checkShape(len(pix), "bytes", n); err != nil {
		return nil, err
	}
	out := make([]int32, n*m.Classes)
	if err := m.run(out, input{pix: pix, bytes: true}, n, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// PredictBytes is Predict for n images of bytes (see LogitsBytes). A
// w8-only model computes in float: its bytes become float32(p)/255.
func (m *Model) PredictBytes(pix []uint8, n int) ([]int, error) {
	if m.Mode == F32 {
		out, err := m.FloatLogitsBytes(pix, n)
		return argmaxRows(out, n, m.Classes), err
	}
	if m.Mode == W8Only {
		if err := m.checkShape(len(pix), "bytes", n); err != nil {
			return nil, err
		}
		out, err := m.FloatLogits(BytesToFloat(pix), n)
		return argmaxRows(out, n, m.Classes), err
	}
	out, err := m.LogitsBytes(pix, n)
	return argmaxRows(out, n, m.Classes), err
}

// BytesToFloat returns the float pixels of bytes, float32(p)/255 (the
// division in float32, as the training batches compute them).
func BytesToFloat(pix []uint8) []float32 {
	x := make([]float32, len(pix))
	for i, p := range pix {
		x[i] = float32(p) / 255
	}
	return x
}

// LogitsTrace is Logits, calling tr (when not nil) with each layer's
// integer output as it is computed.
func (m *Model) LogitsTrace(x []float32, n int, tr Trace) ([]int32, error) {
	return m.trace(x, n, tr)
}

// Trace is called with each layer's integer output (n samples, the layer's
// storage values widened to int32).
type Trace func(layer int, out []int32)

func (m *Model) trace(x []float32, n int, tr Trace) ([]int32, error) {
	if err := m.checkShape(len(x), "floats", n); err != nil {
		return nil, err
	}
	out := make([]int32, n*m.Classes)
	if err := m.run(out, input{x: x}, n, tr); err != nil {
		return nil, err
	}
	return out, nil
}

// run runs the integer layers; it returns the error for the first
// non-finite input value, if any.
func (m *Model) run(dst []int32, x input, n int, tr Trace) error {
	if m.Mode == W8A8 || m.Mode == W8A8Asym {
		if _, err := m.prepare(); err != nil {
			return err
		}
	}
	var bad int
	switch m.Mode {
	case W8A8:
		bad = runInt[int8](m, dst, x, n, tr)
	case W8A8Asym:
		bad = runInt[uint8](m, dst, x, n, tr)
	default:
		return fmt.Errorf("infer: a %s model computes in float: use FloatLogits", m.Mode)
	}
	if bad >= 0 {
		return m.nonFinite(x.x, bad)
	}
	return nil
}

// Predict returns the top-1 class of each of n samples.
func (m *Model) Predict(x []float32, n int) ([]int, error) {
	if m.Mode == W8Only || m.Mode == F32 {
		out, err := m.FloatLogits(x, n)
		return argmaxRows(out, n, m.Classes), err
	}
	out, err := m.Logits(x, n)
	return argmaxRows(out, n, m.Classes), err
}

// argmaxRows is the top-1 index of each of n rows of k values (nil for nil).
func argmaxRows[T int32 | float32](v []T, n, k int) []int {
	if v == nil {
		return nil
	}
	pred := make([]int, n)
	for i := range pred {
		pred[i] = argmax(v[i*k : (i+1)*k])
	}
	return pred
}

func argmax[T int32 | float32](v []T) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// quantizeInput is the input quantization with the same function as the
// simulation's input slot, in the stored type T: the reference that the
// tests' layer-by-layer pipeline uses (the runtime runs quantizeU8, which
// writes the unsigned storage directly).
func quantizeInput[T act](m *Model, q []T, x []float32) {
	q = q[:len(x)]
	qmin, qmax := m.Input.QRange()
	s, z := m.Input.Scale, m.Input.Zero
	// quant.QuantizeValue, unrolled for ≤ 8-bit grids: x/S in float32,
	// rounded half to even, as ONNX Runtime's QuantizeLinear.
	for i, v := range x {
		q[i] = T(quant.RoundClamp(v/s, qmin-z, qmax-z) + z)
	}
}

// workers is how many goroutines runParallel uses for n items of perItem
// operations each: one below 2^18 operations (starting and joining a
// goroutine costs on the order of a microsecond, the time of some 10^5
// multiply-accumulates: an estimate, not a measurement), else up to
// GOMAXPROCS, at most one per item: a batch of one stays on the caller's
// goroutine.
func workers(n, perItem int) int {
	if n*perItem < 1<<18 {
		return 1
	}
	return max(1, min(runtime.GOMAXPROCS(0), n))
}

// A parallel call splits its samples into chunks that the caller and the
// pool workers claim one at a time from a shared counter (call.next): a
// worker that starts late (its core busy: the OS, another process) claims
// fewer chunks, or none, and the caller never waits for a worker that has
// nothing to do — only for chunks in flight. Each chunk is a contiguous
// range of samples and writes only its own rows of dst.

// call is one parallel call's shared state, handed to the pool workers:
// the work (m, plans, dst, x), the next unclaimed sample, the chunk size,
// wg counting the chunks not yet finished, the index of the first
// non-finite input any chunk found (−1 for none), and refs, the goroutines
// (caller and workers) still holding the call: the last one frees it, so
// a late worker never sees it reused. Calls come from a free list shared
// by all goroutines (a sync.Pool keeps what a worker frees on the
// worker's P, where the caller's next call would not find it) and the
// workers live for the process, so a warm parallel call allocates nothing.
type call struct {
	m        *Model
	plans    *modelPlan
	dst      []int32
	x        input
	next     atomic.Int64
	n, chunk int
	wg       sync.WaitGroup
	bad      atomic.Int64
	refs     atomic.Int32
}

// report records a chunk's first non-finite index i (if i ≥ 0), keeping
// the smallest: chunks are contiguous ranges, so the smallest is the
// first of the batch.
func (c *call) report(i int) {
	if i < 0 {
		return
	}
	for {
		old := c.bad.Load()
		if old >= 0 && old <= int64(i) || c.bad.CompareAndSwap(old, int64(i)) {
			return
		}
	}
}

// release drops one goroutine's hold on c; the last returns it to the
// free list.
func (c *call) release() {
	if c.refs.Add(-1) != 0 {
		return
	}
	c.m, c.plans, c.dst, c.x = nil, nil, nil, input{}
	callsMu.Lock()
	freeCalls = append(freeCalls, c)
	callsMu.Unlock()
}

// newCall takes a call from the free list, or allocates one.
func newCall() *call {
	callsMu.Lock()
	defer callsMu.Unlock()
	if k := len(freeCalls); k > 0 {
		c := freeCalls[k-1]
		freeCalls = freeCalls[:k-1]
		return c
	}
	return new(call)
}

var (
	calls     = make(chan *call, 64)
	callsMu   sync.Mutex
	freeCalls []*call
	workersMu sync.Mutex
	started   int // pool workers running
)

// ensureWorkers starts pool workers up to n (they never exit: a few idle
// goroutines blocked on a channel).
func ensureWorkers(n int) {
	workersMu.Lock()
	defer workersMu.Unlock()
	for ; started < n; started++ {
		go func() {
			for c := range calls {
				runJob(c)
				c.release()
			}
		}()
	}
}

// runJob runs a worker's share of a call with the model's activation
// type. (A generic function value, runClaims[T] captured in the call,
// would allocate its dictionary closure per call.)
func runJob(c *call) {
	if c.m.Mode == W8A8Asym {
		runClaims[uint8](c.m, c.plans, c.dst, c.x, c)
	} else {
		runClaims[int8](c.m, c.plans, c.dst, c.x, c)
	}
}

// runClaims claims chunks of c until none is left and runs them.
func runClaims[T act](m *Model, plans *modelPlan, dst []int32, x input, c *call) {
	var sc *scratch
	for {
		s := int(c.next.Add(int64(c.chunk))) - c.chunk
		if s >= c.n {
			break
		}
		if sc == nil {
			sc = scratchPool.Get().(*scratch)
		}
		c.report(runRange[T](m, plans, sc, dst, x, s, min(s+c.chunk, c.n), c.chunk, nil))
		c.wg.Done()
	}
	if sc != nil {
		scratchPool.Put(sc)
	}
}

// parallelChunk is the chunk size of a parallel call of n samples on w
// goroutines: about two chunks per goroutine, at least 16 samples (the
// GEMM's row tiles reuse each weight panel) and at most maxChunk (the
// plan's chunk).
func parallelChunk(n, w, maxChunk int) int {
	return min(maxChunk, max(16, (n+2*w-1)/(2*w)))
}

// runParallel runs samples [0, n) on the caller and w−1 pool workers and
// returns the index of the first non-finite input, or −1.
func runParallel[T act](m *Model, plans *modelPlan, dst []int32, x input, n, w int) int {
	ensureWorkers(w - 1)
	c := newCall()
	c.m, c.plans, c.dst, c.x = m, plans, dst, x
	c.n, c.chunk = n, parallelChunk(n, w, plans.chunk)
	c.next.Store(0)
	c.bad.Store(-1)
	c.refs.Store(int32(w))
	c.wg.Add((n + c.chunk - 1) / c.chunk)
	for range w - 1 {
		calls <- c
	}
	runClaims[T](m, plans, dst, x, c)
	c.wg.Wait()
	bad := int(c.bad.Load())
	c.release()
	return bad
}

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
	macs int // multiply-accumulates per sample

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
		case l.depthwise():
			p.dw = newDWWeights(l, in.off)
			p.dw.rq = newRequantPanels(l.M0, l.Shift, (l.OutC+15)&^15, l.Out.Zero-out.off, l.Lo-out.off, l.Hi-out.off)
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
			if kc := l.K * l.InC; l.Kind == KindConv2D && kc%4 != 0 && (l.InW+2*l.Pad)*l.InC >= (kc+3)&^3 && activeLevel.conv != nil {
				segW, segK := segmentRows(wt, l.OutC, l.K, kc)
				p.seg = packWeights(segW, l.Bias, l.OutC, segK, in.off, in.hi, l.In.Zero, activeLevel)
			}
			// The fused kernels' requantization.
			p.pw.rq = newRequantPanels(l.M0, l.Shift, p.pw.mp, l.Out.Zero-out.off, l.Lo-out.off, l.Hi-out.off)
			if p.seg != nil {
				p.seg.rq = p.pw.rq
			}
			// A stride-1 stem of few channels packs pixels in pairs or
			// fours (pairRows) for the fused kernels, in place of seg.
			if f := pairFactor(l.InC, l.K); l.Kind == KindConv2D && f > 1 && l.Stride == 1 && l.OutW%f == 0 && activeLevel.convQ != nil && p.pw.rq != nil {
				pw, k := pairRows(wt, l.OutC, l.K, l.InC, f)
				bias, m0, shift := make([]int32, 0, f*l.OutC), make([]int32, 0, f*l.OutC), make([]int32, 0, f*l.OutC)
				for range f {
					bias, m0, shift = append(bias, l.Bias...), append(m0, l.M0...), append(shift, l.Shift...)
				}
				p.seg = packWeights(pw, bias, f*l.OutC, k, in.off, in.hi, l.In.Zero, activeLevel)
				p.seg.rq = newRequantPanels(m0, shift, p.seg.mp, l.Out.Zero-out.off, l.Lo-out.off, l.Hi-out.off)
				p.seg.pairs = f
			}
			p.macs = l.OutC * l.fanIn() * l.OutH * l.OutW
		}
		p.out = out
		mp.layers[i] = p
	}
	last[root[len(m.Layers)]+1] = len(m.Layers)
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

// scratch is one goroutine's buffers; they grow to the largest batch seen
// and are reused through scratchPool, so a warm call allocates nothing.
type scratch struct {
	xn   []float32 // normalized float input (Model.Norm)
	qu   []uint8   // quantized input of several channels, before HWC
	bufs [][]uint8 // the plan's slots
	col  []uint8
	grp  []uint8 // one group's input channels (grouped conv2d)
	pad  []uint8 // a padded image (conv2d)
	acc  []int32
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
func runInt[T act](m *Model, dst []int32, x input, n int, tr Trace) int {
	plans := m.plan()
	macs := 0
	for _, p := range plans.layers {
		macs += p.macs
	}
	if tr != nil {
		sc := scratchPool.Get().(*scratch)
		bad := runRange[T](m, plans, sc, dst, x, 0, n, n, tr)
		scratchPool.Put(sc)
		return bad
	}
	if w := workers(n, macs); w > 1 {
		return runParallel[T](m, plans, dst, x, n, w)
	}
	return runSamples[T](m, plans, dst, x, 0, n)
}

// runSamples runs samples [lo, hi) in chunks, with one scratch, and
// returns the index of the first non-finite input, or −1.
func runSamples[T act](m *Model, plans *modelPlan, dst []int32, x input, lo, hi int) int {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	chunk := min(plans.chunk, hi-lo) // batch 1 needs buffers for one sample
	for s := lo; s < hi; s += chunk {
		if bad := runRange[T](m, plans, sc, dst, x, s, min(s+chunk, hi), chunk, nil); bad >= 0 {
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
func runRange[T act](m *Model, mp *modelPlan, sc *scratch, dst []int32, x input, s0, s1, maxChunk int, tr Trace) int {
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
	for li, l := range m.Layers {
		p := mp.layers[li]
		a, o := mp.val(p.ins[0]), p.out
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
				gapU8(dstb[s*o.stride:s*o.stride+l.OutC], src[s*a.stride:s*a.stride+l.InSize()], l.InC, l.InH*l.InW, a.off-l.In.Zero)
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
				if lv.q != nil && pw.rq != nil {
					gemmPackedQ(lv.q, dstb[r*o.stride:], o.stride, src[r*a.stride:], a.stride, pw, rows, pw.rq)
					continue
				}
				sc.acc = grow(sc.acc, rows*pw.mp)
				gemmPacked(lv, sc.acc, pw.mp, src[r*a.stride:], a.stride, pw, rows)
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
				runConv(sc, l, p.pw, p.seg, l.InC, src, a.stride, 0, dstb, o, 0, n)
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

// runConv runs a dense convolution (or one group of a grouped one) of n
// samples: inC channels of each sample's channels-last input (stride
// inStride; for a group, gathered from channel c0 on into sc.grp first),
// im2col, the packed GEMM, and requantization of the pw.m output channels
// from channel oc0 on into o's buffer (its rows are OutC channels apart).
func runConv(sc *scratch, l *Layer, pw, seg *packedWeights, inC int, src []uint8, inStride, c0 int, dstb []uint8, o *value, oc0, n int) {
	lv := pw.level
	if testLevel != nil {
		lv = testLevel
	}
	P := l.OutH * l.OutW
	per := max(1, gemmRows/P) // samples per GEMM call
	hw := l.InH * l.InW
	inSize := hw * inC
	if l.K == 1 && l.Stride == 1 && l.Pad == 0 && inC == l.InC && pw.kp == inC {
		// A pointwise convolution's im2col rows are the channels-last
		// pixels themselves: the GEMM reads the input in place.
		runPointwise(sc, l, pw, lv, src, inStride, dstb, o, oc0, n)
		return
	}
	// With implicit-im2col kernels (gemmConvPacked), a kernel row of whole
	// 4-byte groups is read in place from the (padded) image: no im2col
	// copy, which costs about as much as the GEMM on 16 to 64 channels.
	// A convolution whose kernel rows are not whole groups reads segments
	// padded to whole groups (seg's zero weights): up to 3 bytes past a
	// kernel row, and past the (padded, or copied) image's end, into
	// slack at the end of sc.pad.
	implicit, slack := lv.conv != nil && l.K*inC%4 == 0, 0
	if seg != nil && seg.pairs > 1 && lv.convQ == nil {
		seg = nil // pixels packed in groups run only fused: im2col instead
	}
	if lv.conv != nil && seg != nil {
		pw, implicit, slack = seg, true, 3
	}
	// With fused kernels (gemmConvPackedQ) the rows are requantized in
	// registers and written to the output directly; a row computes
	// pairs pixels (pairRows), all of them for 1.
	fused := implicit && lv.convQ != nil && pw.rq != nil && inC == l.InC
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
			h, w, pad := l.InH, l.InW, l.Pad
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
				for oy := 0; oy < l.OutH; oy++ {
					if fused {
						gemmConvPackedQ(lv.convQ, dstb[(s+i)*o.stride+oy*l.OutW*l.OutC:], pairs*l.OutC, img[oy*l.Stride*w*inC:], pairs*l.Stride*inC, pw, l.OutW/pairs, l.K, w*inC, pw.rq)
						continue
					}
					gemmConvPacked(lv.conv, sc.acc[(i*P+oy*l.OutW)*pw.mp:], pw.mp, img[oy*l.Stride*w*inC:], l.Stride*inC, pw, l.OutW, l.K, w*inC)
				}
				continue
			}
			im2colU8(sc.col[i*P*pw.kp:(i+1)*P*pw.kp], img[:h*w*inC], inC, h, w, l.K, l.Stride, pad, l.OutH, l.OutW, pw.kp, pw.padU)
		}
		if !implicit && lv.q != nil && pw.rq != nil && inC == l.InC {
			for i := 0; i < cnt; i++ {
				gemmPackedQ(lv.q, dstb[(s+i)*o.stride:], l.OutC, sc.col[i*P*pw.kp:], pw.kp, pw, P, pw.rq)
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
	sc.acc = grow(sc.acc, per*P*pw.mp)
	for s := 0; s < n; s += per {
		cnt := min(per, n-s)
		if lv.q != nil && pw.rq != nil && oc0 == 0 {
			for i := 0; i < cnt; i++ {
				gemmPackedQ(lv.q, dstb[(s+i)*o.stride:], l.OutC, src[(s+i)*inStride:], pw.kp, pw, P, pw.rq)
			}
			continue
		}
		gemmPacked(lv, sc.acc, pw.mp, src[s*inStride:], pw.kp, pw, cnt*P)
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
		runConv(sc, l, pw, nil, cg, src, inStride, gi*cg, dstb, o, gi*og, n)
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
