package nn

import (
	"runtime"
	"sync"
)

// parallelFor splits [0, n) into contiguous ranges, one per core, when the
// work (n items of about cost element operations each) is large enough to
// pay for goroutines. Callers write disjoint outputs per item, so results
// do not depend on the split.
func parallelFor(n, cost int, f func(i0, i1 int)) {
	threads := runtime.GOMAXPROCS(0)
	if threads < 2 || n < 2 || n*cost < 1<<16 {
		f(0, n)
		return
	}
	threads = min(threads, n)
	// Ranges 1… on new goroutines, range 0 on the caller's (idle otherwise).
	var wg sync.WaitGroup
	for t := 1; t < threads; t++ {
		i0, i1 := n*t/threads, n*(t+1)/threads
		wg.Go(func() { f(i0, i1) })
	}
	f(0, n/threads)
	wg.Wait()
}
