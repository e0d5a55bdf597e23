package par

import (
	"runtime"
	"sync"
	"testing"
)

// TestForCoversEachItemOnce: every item of [0, n) is visited exactly once,
// in contiguous ranges, whatever the split; empty loops call nothing.
func TestForCoversEachItemOnce(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	// calls: the ranges For cuts, min(n, 4 per worker) when it splits.
	for _, tc := range []struct{ n, cost, workers, calls int }{
		{0, 1 << 20, 1, 0},
		{1, 1 << 30, 1, 1},           // one item: the caller's goroutine
		{7, 1, 1, 1},                 // below MinWork
		{2, MinWork / 2, 2, 2},       // exactly MinWork: split
		{3, MinWork, 3, 3},           // at most one range per item
		{1000, MinWork, 4, 16},       // GOMAXPROCS workers, 4 parts each
		{MinWork - 1, 1, 1, 1},       // one operation short
		{5, (MinWork + 4) / 5, 4, 5}, // 5 items, 4 workers: one range per item
	} {
		seen := make([]int, tc.n)
		var mu sync.Mutex
		calls := 0
		For(tc.n, tc.cost, func(i0, i1 int) {
			mu.Lock()
			calls++
			mu.Unlock()
			if i0 >= i1 {
				t.Errorf("n=%d cost=%d: empty range [%d, %d)", tc.n, tc.cost, i0, i1)
			}
			for i := i0; i < i1; i++ {
				seen[i]++ // disjoint ranges: no race
			}
		})
		if calls != tc.calls {
			t.Errorf("n=%d cost=%d: %d ranges, want %d", tc.n, tc.cost, calls, tc.calls)
		}
		for i, c := range seen {
			if c != 1 {
				t.Fatalf("n=%d cost=%d: item %d visited %d times", tc.n, tc.cost, i, c)
			}
		}
		if w := Workers(tc.n, tc.cost); w != tc.workers {
			t.Errorf("n=%d cost=%d: Workers %d, want %d", tc.n, tc.cost, w, tc.workers)
		}
	}
}
