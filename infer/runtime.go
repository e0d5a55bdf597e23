package infer

import (
	"fmt"
	"runtime"
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
	if err := m.checkShape(x, n); err != nil {
		return err
	}
	if i := quant.FirstNonFinite(x); i >= 0 {
		return m.nonFinite(x, i)
	}
	return nil
}

// checkShape checks that x holds n samples. The length is compared by
// division, so a huge n cannot overflow n·size into a match.
func (m *Model) checkShape(x []float32, n int) error {
	size := m.InC * m.InH * m.InW
	if size <= 0 || len(m.Layers) == 0 || m.Classes <= 0 {
		return &InputError{fmt.Sprintf("the model is empty (input %dx%dx%d, %d layers, %d classes): load it with Load, or build it completely and call Validate",
			m.InC, m.InH, m.InW, len(m.Layers), m.Classes)}
	}
	if n < 0 || len(x)%size != 0 || len(x)/size != n {
		return &InputError{fmt.Sprintf("%d floats for %d samples of %dx%dx%d", len(x), n, m.InC, m.InH, m.InW)}
	}
	return nil
}

// nonFinite is the error for the NaN or ±Inf at x[i].
func (m *Model) nonFinite(x []float32, i int) error {
	size := m.InC * m.InH * m.InW
	return &InputError{fmt.Sprintf("sample %d, element %d is %v", i/size, i%size, x[i])}
}

// Logits runs n samples (NCHW float32 pixels, as the float model takes
// them) and returns n·Classes output integers: int8 (w8a8) or uint8
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
	if err := m.checkShape(x, n); err != nil {
		return err
	}
	if len(dst) != n*m.Classes {
		return &InputError{fmt.Sprintf("%d output values for %d samples of %d classes", len(dst), n, m.Classes)}
	}
	return m.run(dst, x, n, nil)
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
	if err := m.checkShape(x, n); err != nil {
		return nil, err
	}
	out := make([]int32, n*m.Classes)
	if err := m.run(out, x, n, tr); err != nil {
		return nil, err
	}
	return out, nil
}

// run runs the integer layers; it returns the error for the first
// non-finite input value, if any.
func (m *Model) run(dst []int32, x []float32, n int, tr Trace) error {
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
		return m.nonFinite(x, bad)
	}
	return nil
}

// Predict returns the top-1 class of each of n samples.
func (m *Model) Predict(x []float32, n int) ([]int, error) {
	if m.Mode == W8Only {
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
	plans    []*layerPlan
	dst      []int32
	x        []float32
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
	c.m, c.plans, c.dst, c.x = nil, nil, nil, nil
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
func runClaims[T act](m *Model, plans []*layerPlan, dst []int32, x []float32, c *call) {
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
// GEMM's row tiles reuse each weight panel) and at most chunkSamples.
func parallelChunk(n, w int) int {
	return min(chunkSamples, max(16, (n+2*w-1)/(2*w)))
}

// runParallel runs samples [0, n) on the caller and w−1 pool workers and
// returns the index of the first non-finite input, or −1.
func runParallel[T act](m *Model, plans []*layerPlan, dst []int32, x []float32, n, w int) int {
	ensureWorkers(w - 1)
	c := newCall()
	c.m, c.plans, c.dst, c.x = m, plans, dst, x
	c.n, c.chunk = n, parallelChunk(n, w)
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
// (hwcPerm); a trace converts back to CHW.

// layerPlan is how a layer runs: its packed weights (linear and conv2d),
// the offset of its output buffer and that buffer's per-sample stride
// (the next linear layer's padded row length, or the layer's output size).
type layerPlan struct {
	pw        *packedWeights
	outOff    int32
	outStride int
	macs      int // multiply-accumulates per sample
	// The buffer's physical shape, HWC: a flatten keeps its input's.
	c, h, w int
}

// paddedWeights is the per-layer plan Model keeps (model.go's field).
type paddedWeights = layerPlan

// plan returns the layers' plans, built once per model (the weights packed
// for the kernel level of this CPU); a loaded model is immutable, so this
// is safe for concurrent use. The input buffer's offset and stride are
// inPlan(m).
func (m *Model) plan() []*layerPlan {
	m.padOnce.Do(func() {
		m.pads = make([]*layerPlan, len(m.Layers))
		qlo, qhi := m.Input.QRange()
		lo, hi := min(qlo, m.Input.Zero), max(qhi, m.Input.Zero)
		c, h, w := m.InC, m.InH, m.InW
		for i, l := range m.Layers {
			if l.Kind != "flatten" {
				c, h, w = l.OutC, l.OutH, l.OutW
			}
			p := &layerPlan{outOff: lo, outStride: l.OutSize(), c: c, h: h, w: w}
			switch l.Kind {
			case "linear", "conv2d":
				wt := l.W
				if perm := hwcPerm(m, i); perm != nil {
					wt = make([]int8, len(l.W))
					k := l.fanIn()
					for o := 0; o < l.OutC; o++ {
						for j, from := range perm {
							wt[o*k+j] = l.W[o*k+from]
						}
					}
				}
				p.pw = packWeights(wt, l.Bias, l.OutC, l.fanIn(), lo, hi, l.In.Zero, activeLevel)
				lo, hi = min(l.Lo, l.Out.Zero), max(l.Hi, l.Out.Zero)
				p.outOff = lo
				p.macs = l.OutC * l.fanIn() * l.OutH * l.OutW
			}
			m.pads[i] = p
		}
		for i := range m.pads {
			if j := nextLinear(m, i+1); j >= 0 {
				m.pads[i].outStride = m.pads[j].pw.kp
			}
		}
	})
	return m.pads
}

// hwcPerm is the column order of layer i's weights on channels-last
// inputs: perm[j] is the model's (CHW) column of packed column j, or nil
// if the orders agree. A conv2d row (ci, ky, kx) becomes (ky, kx, ci); a
// linear layer reading a C×H×W buffer (directly or through flatten) reads
// it as H×W×C.
func hwcPerm(m *Model, i int) []int {
	l := m.Layers[i]
	if l.Kind == "conv2d" {
		if l.InC == 1 {
			return nil
		}
		perm := make([]int, 0, l.fanIn())
		for ky := 0; ky < l.K; ky++ {
			for kx := 0; kx < l.K; kx++ {
				for ci := 0; ci < l.InC; ci++ {
					perm = append(perm, (ci*l.K+ky)*l.K+kx)
				}
			}
		}
		return perm
	}
	// The physical shape of the linear layer's input buffer.
	c, h, w := m.InC, m.InH, m.InW
	for _, p := range m.Layers[:i] {
		if p.Kind != "flatten" {
			c, h, w = p.OutC, p.OutH, p.OutW
		}
	}
	if c == 1 || h*w == 1 {
		return nil
	}
	return hwcOrder(c, h, w)
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

// nextLinear is the index of the layer from i on that first reads the
// buffer layer i−1 writes, if it is a linear layer (flatten only renames),
// or −1.
func nextLinear(m *Model, i int) int {
	for ; i < len(m.Layers) && m.Layers[i].Kind == "flatten"; i++ {
	}
	if i < len(m.Layers) && m.Layers[i].Kind == "linear" {
		return i
	}
	return -1
}

// inPlan is the offset and per-sample stride of the quantized input buffer.
func inPlan(m *Model) (int32, int) {
	qlo, _ := m.Input.QRange()
	off, stride := min(qlo, m.Input.Zero), m.InC*m.InH*m.InW
	if j := nextLinear(m, 0); j >= 0 {
		stride = m.plan()[j].pw.kp
	}
	return off, stride
}

// scratch is one goroutine's buffers; they grow to the largest batch seen
// and are reused through scratchPool, so a warm call allocates nothing.
type scratch struct {
	qu   []uint8 // quantized input of several channels, before HWC
	a, b []uint8
	col  []uint8
	acc  []int32
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
func runInt[T act](m *Model, dst []int32, x []float32, n int, tr Trace) int {
	plans := m.plan()
	macs := 0
	for _, p := range plans {
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
func runSamples[T act](m *Model, plans []*layerPlan, dst []int32, x []float32, lo, hi int) int {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	chunk := min(chunkSamples, hi-lo) // batch 1 needs buffers for one sample
	for s := lo; s < hi; s += chunk {
		if bad := runRange[T](m, plans, sc, dst, x, s, min(s+chunk, hi), chunk, nil); bad >= 0 {
			return bad
		}
	}
	return -1
}

// quantizeRows quantizes samples [s0, s1) of x into the unsigned input
// buffer u (per-sample stride stride, storage offset off), channels last,
// and returns the index in x of the first non-finite value, or −1.
func quantizeRows(m *Model, sc *scratch, u []uint8, x []float32, s0, s1, stride int, off int32) int {
	size := m.InC * m.InH * m.InW
	qmin, qmax := m.Input.QRange()
	s, z := m.Input.Scale, m.Input.Zero
	if m.InC == 1 && stride == size { // one run for the whole chunk
		if bad := quantizeU8(u[:(s1-s0)*size], x[s0*size:s1*size], s, z, qmin, qmax, off); bad >= 0 {
			return s0*size + bad
		}
		return -1
	}
	if m.InC > 1 {
		sc.qu = grow(sc.qu, size)
	}
	for i := s0; i < s1; i++ {
		row := u[(i-s0)*stride : (i-s0)*stride+size]
		q := row
		if m.InC > 1 {
			q = sc.qu
		}
		if bad := quantizeU8(q, x[i*size:(i+1)*size], s, z, qmin, qmax, off); bad >= 0 {
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
func runRange[T act](m *Model, plans []*layerPlan, sc *scratch, dst []int32, x []float32, s0, s1, maxChunk int, tr Trace) int {
	n := s1 - s0
	// The buffers are sized for the largest layer, once per chunk size.
	off, stride := inPlan(m)
	need := stride
	for _, p := range plans {
		need = max(need, p.outStride)
	}
	sc.a = grow(sc.a, maxChunk*need)
	sc.b = grow(sc.b, maxChunk*need)
	cur, next := sc.a, sc.b
	if bad := quantizeRows(m, sc, cur, x, s0, s1, stride, off); bad >= 0 {
		return bad
	}
	for li, l := range m.Layers {
		p := plans[li]
		switch l.Kind {
		case "flatten":
			// NCHW is already the flat order: the buffer and its stride stay.
		case "maxpool2d":
			inSize, outSize := l.InSize(), l.OutSize()
			for s := 0; s < n; s++ {
				maxPoolU8(next[s*p.outStride:s*p.outStride+outSize], cur[s*stride:s*stride+inSize], l.InC, l.InH, l.InW, l.K, l.Stride, l.OutH, l.OutW)
			}
			cur, next, stride = next, cur, p.outStride
		case "linear":
			pw, lv := p.pw, p.pw.level
			if testLevel != nil {
				lv = testLevel
			}
			for r := 0; r < n; r += gemmRows {
				rows := min(gemmRows, n-r)
				sc.acc = grow(sc.acc, rows*pw.mp)
				gemmPacked(lv, sc.acc, pw.mp, cur[r*stride:], stride, pw, rows)
				requantU8(next[r*p.outStride:], sc.acc, rows, l.OutC, pw.mp, l.M0, l.Shift,
					l.Out.Zero-p.outOff, l.Lo-p.outOff, l.Hi-p.outOff, p.outStride)
			}
			cur, next, stride = next, cur, p.outStride
		case "conv2d":
			pw, lv := p.pw, p.pw.level
			if testLevel != nil {
				lv = testLevel
			}
			P := l.OutH * l.OutW
			per := max(1, gemmRows/P) // samples per GEMM call
			inSize := l.InSize()
			for s := 0; s < n; s += per {
				cnt := min(per, n-s)
				sc.col = grow(sc.col, per*P*pw.kp)
				sc.acc = grow(sc.acc, per*P*pw.mp)
				for i := 0; i < cnt; i++ {
					im2colU8(sc.col[i*P*pw.kp:(i+1)*P*pw.kp], cur[(s+i)*stride:(s+i)*stride+inSize], l.InC, l.InH, l.InW, l.K, l.Stride, l.Pad, l.OutH, l.OutW, pw.kp, pw.padU)
				}
				gemmPacked(lv, sc.acc, pw.mp, sc.col, pw.kp, pw, cnt*P)
				for i := 0; i < cnt; i++ {
					requantU8(next[(s+i)*p.outStride:], sc.acc[i*P*pw.mp:], P, l.OutC, pw.mp, l.M0, l.Shift,
						l.Out.Zero-p.outOff, l.Lo-p.outOff, l.Hi-p.outOff, l.OutC)
				}
			}
			cur, next, stride = next, cur, p.outStride
		}
		if l.Kind != "flatten" {
			off = p.outOff
		}
		if tr != nil {
			out := widenRows(make([]int32, n*l.OutSize()), cur, n, l.OutSize(), stride, off)
			if p.c > 1 && p.h*p.w > 1 { // back to the model's CHW order
				perm, row := hwcOrder(p.c, p.h, p.w), make([]int32, l.OutSize())
				for s := 0; s < n; s++ {
					o := out[s*len(row) : (s+1)*len(row)]
					for j, from := range perm {
						row[from] = o[j]
					}
					copy(o, row)
				}
			}
			tr(li, out)
		}
	}
	widenRows(dst[s0*m.Classes:s1*m.Classes], cur, n, m.Classes, stride, off)
	return -1
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
