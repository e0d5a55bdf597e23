// Package par splits loops over the cores: the module's one goroutine
// splitter (For, and Run for parts cut by the caller) and its one size
// threshold (MinWork). Callers write
// disjoint outputs per item, so no result depends on the split.
package par

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// MinWork is the work, in multiply-accumulates or comparable elementwise
// operations, below which a loop stays on the caller's goroutine:
// starting and joining a goroutine costs on the order of a microsecond,
// the time of some 10^5 such operations (an estimate, not a measurement).
const MinWork = 1 << 17

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
func Run(parts, workers int, f func(part int)) {
	workers = min(workers, parts)
	if workers <= 1 {
		for t := 0; t < parts; t++ {
			f(t)
		}
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
