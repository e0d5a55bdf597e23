// Package par splits loops over the cores: the module's one goroutine
// splitter (For, and Run for parts cut by the caller) and its one size
// threshold (MinWork). Callers write
// disjoint outputs per item, so no result depends on the split. The
// goroutines that share a Run with its caller are a pool's helpers, which
// stay awake for SpinFor between Runs: starting a goroutine on an idle
// core costs more than many of the parallel loops it would share.
package par

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// MinWork is the work, in multiply-accumulates or comparable elementwise
// operations, below which a loop stays on the caller's goroutine:
// starting and joining a goroutine costs on the order of a microsecond,
// the time of some 10^5 such operations (an estimate, not a measurement).
const MinWork = 1 << 17

// Pass is the cost, in MinWork's units, of a memory-bound pass over
// elems elements in calls calls of a kernel on short rows (a copy into a
// padded layout, a batch normalization's rows): an element read and
// written costs as much as a few dozen vectorized multiply-accumulates,
// and each call a few nanoseconds however short its row. Counted as
// elements alone, the layouts and normalizations of 7×7 and 4×4
// activations (a few hundred thousand elements in thousands of planes,
// tens of microseconds) stayed on one core.
func Pass(elems, calls int) int { return elemCost*elems + callCost*calls }

// elemCost and callCost are Pass's prices of an element and of a call, in
// multiply-accumulates: a vector kernel copies some 3 elements a
// nanosecond where the GEMM does over 100 multiply-accumulates, and a
// call on a plane of 16 elements takes some 16 ns (measured on the MNIST
// resnet8 training step's layouts on Zen 5).
const (
	elemCost = 32
	callCost = 2048
)

// Workers is how many goroutines share n items of cost operations each:
// one below MinWork, else up to GOMAXPROCS, at most one per item (a
// single item stays on the caller's goroutine).
func Workers(n, cost int) int {
	if n <= 1 || cost <= 0 || n*cost < MinWork {
		return 1
	}
	return max(1, min(runtime.GOMAXPROCS(0), n))
}

// For splits [0, n) into contiguous ranges and runs f on each, returning
// when all are done. Below MinWork it is one call on the caller's
// goroutine. Otherwise the range is cut into up to 4 parts per worker,
// which Workers(n, cost) goroutines (the caller's among them) take one
// after the other: on a machine whose cores are shared, a goroutine that
// gets less of a core takes fewer parts instead of holding the others up
// at the end. f may run concurrently on different ranges; callers write
// disjoint outputs per item, so results do not depend on the split.
func For(n, cost int, f func(i0, i1 int)) {
	w := Workers(n, cost)
	if w == 1 {
		if n > 0 {
			f(0, n)
		}
		return
	}
	parts := min(n, 4*w)
	Run(parts, w, func(t int) { f(n*t/parts, n*(t+1)/parts) })
}

// Run runs f(0), …, f(parts−1) on at most workers goroutines (the
// caller's among them), each taking the next part not yet taken, and
// returns when all are done; workers ≤ 1 runs them in order on the
// caller's goroutine. It is For for callers that cut the parts
// themselves (internal/f32 cuts its products along whole register
// panels) and choose the number of goroutines. The parts are fixed by
// the caller, so results do not depend on which goroutine runs which.
//
// The other goroutines are the pool's helpers, which stay awake for a
// while after each job (see pool); a Run that finds the pool taken by
// another (nested, or from another goroutine) starts goroutines of its
// own, as every Run did before the pool.
func Run(parts, workers int, f func(part int)) {
	workers = min(workers, parts)
	if workers <= 1 {
		for t := 0; t < parts; t++ {
			f(t)
		}
		return
	}
	if pl.mu.TryLock() {
		pl.run(parts, workers, f)
		pl.mu.Unlock()
		return
	}
	var next atomic.Int64
	work := func() {
		for {
			t := int(next.Add(1)) - 1
			if t >= parts {
				return
			}
			f(t)
		}
	}
	var wg sync.WaitGroup
	for t := 1; t < workers; t++ {
		wg.Go(work)
	}
	work() // on the caller's goroutine, idle otherwise
	wg.Wait()
}

// A job is one Run on the pool.
type job struct {
	f     func(int)
	parts int64
	next  atomic.Int64 // the next part to take
	done  atomic.Int64 // parts finished
	seats atomic.Int64 // helpers that may still join (workers − 1 at first)
}

// work runs the job's parts not yet taken.
func (j *job) work() {
	for {
		t := j.next.Add(1) - 1
		if t >= j.parts {
			return
		}
		j.f(int(t))
		j.done.Add(1)
	}
}

// SpinFor is how long a pool helper keeps looking for the next job
// before it sleeps. Waking a sleeping thread costs the wake of an idle
// core: on this project's virtual machines a goroutine started by Run
// began to run a median 87 µs after it was created (a runtime trace of
// resnet8-mlperf's two-thread training step: 170 such starts per step),
// while the parts it was meant to share often take less. Helpers that
// are awake start within a microsecond. The price is CPU time spent
// spinning in the gaps between parallel loops (the serial code of a
// training step), at most SpinFor per gap.
var SpinFor = 300 * time.Microsecond

// pool is the helpers shared by Runs. mu is held by the Run that owns
// them; gen counts the jobs posted, job is the latest. A helper that
// finds no new job within SpinFor sleeps on wake (parked counts the
// sleepers, under wakeMu).
var pl pool

type pool struct {
	mu      sync.Mutex
	helpers int // started (under mu)
	gen     atomic.Uint64
	job     atomic.Pointer[job]
	wakeMu  sync.Mutex
	wake    *sync.Cond
	parked  atomic.Int64
}

// run posts a job of parts on the pool, works on it and returns when
// every part is done. The caller holds p.mu.
func (p *pool) run(parts, workers int, f func(int)) {
	if p.wake == nil {
		p.wake = sync.NewCond(&p.wakeMu)
	}
	for p.helpers < workers-1 {
		p.helpers++
		go p.helper()
	}
	j := &job{f: f, parts: int64(parts)}
	j.seats.Store(int64(workers - 1))
	p.job.Store(j)
	p.gen.Add(1)
	if p.parked.Load() > 0 {
		p.wakeMu.Lock()
		p.wake.Broadcast()
		p.wakeMu.Unlock()
	}
	j.work()
	// The helpers' last parts: they end about together, so wait awake
	// (yielding, so that a helper that shares this core can finish).
	for spins := 0; j.done.Load() < j.parts; spins++ {
		if spins >= 64 {
			runtime.Gosched()
		}
	}
}

// helper takes part in every job posted (while it has seats), spinning
// for SpinFor between jobs and sleeping after that.
func (p *pool) helper() {
	seen := p.gen.Load()
	for {
		g := p.gen.Load()
		if g == seen {
			deadline := time.Now().Add(SpinFor)
			for spins := 1; ; spins++ {
				if g = p.gen.Load(); g != seen {
					break
				}
				if spins%256 == 0 {
					runtime.Gosched() // other goroutines of this P first
					if time.Now().After(deadline) {
						break
					}
				}
			}
		}
		if g == seen {
			p.wakeMu.Lock()
			p.parked.Add(1)
			for g = p.gen.Load(); g == seen; g = p.gen.Load() {
				p.wake.Wait()
			}
			p.parked.Add(-1)
			p.wakeMu.Unlock()
		}
		seen = g
		// The latest job (a newer one than gen g is as good: a job
		// whose parts are all taken gives nothing to do).
		if j := p.job.Load(); j != nil && j.seats.Add(-1) >= 0 {
			j.work()
		}
	}
}
