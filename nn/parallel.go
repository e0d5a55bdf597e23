package nn

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallelFor splits [0, n) into contiguous ranges when the work (n items
// of about cost element operations each) is large enough to pay for
// goroutines: up to 4 ranges per core, which the goroutines (one per
// core, the caller's among them) take one after the other, so that on a
// machine whose cores are shared a goroutine that gets less of a core
// takes fewer ranges instead of holding the others up at the end.
// Callers write disjoint outputs per item, so results do not depend on
// the split.
func parallelFor(n, cost int, f func(i0, i1 int)) {
	threads := runtime.GOMAXPROCS(0)
	if threads < 2 || n < 2 || n*cost < 1<<16 {
		f(0, n)
		return
	}
	parts := min(n, 4*threads)
	threads = min(threads, parts)
	var next atomic.Int64
	work := func() {
		for {
			t := int(next.Add(1)) - 1
			if t >= parts {
				return
			}
			f(n*t/parts, n*(t+1)/parts)
		}
	}
	var wg sync.WaitGroup
	for t := 1; t < threads; t++ {
		wg.Go(work)
	}
	work() // on the caller's goroutine, idle otherwise
	wg.Wait()
}
