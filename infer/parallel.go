package infer

import (
	"sync"
	"sync/atomic"
)

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

// runJob runs a worker's share of a call.
func runJob(c *call) { runClaims(c.m, c.plans, c.dst, c.x, c) }

// runClaims claims chunks of c until none is left and runs them.
func runClaims(m *Model, plans *modelPlan, dst []int32, x input, c *call) {
	var sc *scratch
	for {
		s := int(c.next.Add(int64(c.chunk))) - c.chunk
		if s >= c.n {
			break
		}
		if sc == nil {
			sc = scratchPool.Get().(*scratch)
		}
		c.report(runRange(m, plans, sc, dst, x, s, min(s+c.chunk, c.n), c.chunk, nil))
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
func runParallel(m *Model, plans *modelPlan, dst []int32, x input, n, w int) int {
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
	runClaims(m, plans, dst, x, c)
	c.wg.Wait()
	bad := int(c.bad.Load())
	c.release()
	return bad
}
