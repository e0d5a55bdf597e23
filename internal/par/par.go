// Package par splits loops over the cores: the module's one goroutine
// splitter (For) and its one size threshold (MinWork). Callers write
// disjoint outputs per item, so no result depends on the split.
package par

import (
	"runtime"
	"sync"
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

// For splits [0, n) into Workers(n, cost) contiguous ranges and runs f
// on each: range 0 on the caller's goroutine (idle otherwise), the
// others on new goroutines. It returns when all are done.
func For(n, cost int, f func(i0, i1 int)) {
	w := Workers(n, cost)
	if w == 1 {
		if n > 0 {
			f(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	for t := 1; t < w; t++ {
		i0, i1 := n*t/w, n*(t+1)/w
		wg.Go(func() { f(i0, i1) })
	}
	f(0, n/w)
	wg.Wait()
}
