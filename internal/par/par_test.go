package par

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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

// TestRunEachPartOnce: Run calls every part exactly once, on at most
// workers goroutines at a time, and in order on the caller's goroutine
// when workers ≤ 1.
func TestRunEachPartOnce(t *testing.T) {
	for _, tc := range []struct{ parts, workers int }{{0, 4}, {1, 4}, {5, 1}, {5, 0}, {7, 3}, {64, 2}, {3, 8}} {
		seen := make([]int, tc.parts)
		var mu sync.Mutex
		var order []int
		live, peak := 0, 0
		Run(tc.parts, tc.workers, func(p int) {
			mu.Lock()
			live++
			peak = max(peak, live)
			order = append(order, p)
			mu.Unlock()
			seen[p]++ // one call per part: no race
			mu.Lock()
			live--
			mu.Unlock()
		})
		for p, c := range seen {
			if c != 1 {
				t.Errorf("parts=%d workers=%d: part %d run %d times", tc.parts, tc.workers, p, c)
			}
		}
		if peak > max(1, tc.workers) {
			t.Errorf("parts=%d workers=%d: %d at once", tc.parts, tc.workers, peak)
		}
		if tc.workers <= 1 {
			for i, p := range order {
				if p != i {
					t.Errorf("parts=%d workers=%d: order %v", tc.parts, tc.workers, order)
					break
				}
			}
		}
	}
}

// TestRunPool: Runs on the pool's helpers complete every part once when
// the helpers are awake, after they went to sleep (SpinFor passed), when
// two goroutines Run at once (one takes the pool, the other starts its
// own goroutines) and when a part Runs again inside itself (nested: the
// pool is taken).
func TestRunPool(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	check := func(name string, parts, workers int, f func(int)) {
		t.Helper()
		seen := make([]atomic.Int64, parts)
		Run(parts, workers, func(p int) {
			seen[p].Add(1)
			if f != nil {
				f(p)
			}
		})
		for p := range seen {
			if c := seen[p].Load(); c != 1 {
				t.Errorf("%s: part %d ran %d times", name, p, c)
			}
		}
	}
	for i := 0; i < 200; i++ {
		check("awake", 1+i%17, 1+i%5, nil)
	}
	time.Sleep(3 * SpinFor)
	check("after sleep", 9, 4, nil)
	time.Sleep(3 * SpinFor)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for i := 0; i < 50; i++ {
				check("concurrent", 8, 3, nil)
			}
		})
	}
	wg.Wait()
	check("nested", 6, 3, func(int) { check("inner", 5, 3, nil) })
}

// TestPassSplitsShortPlanes: a pass over many short planes (the 4×4
// layout of 64 channels of 64 images) is split over the cores, where
// counting its elements alone kept it on one; a few planes still stay on
// the caller's goroutine, and Pass grows with elements and with calls.
func TestPassSplitsShortPlanes(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, tc := range []struct {
		name           string
		n, cost, wants int
	}{
		{"4×4 planes by elements", 64 * 64, 16, 1},
		{"4×4 planes by Pass", 64 * 64, Pass(16, 1), 2},
		{"8 planes of 4×4", 8, Pass(16, 1), 1},
		{"a 7×7 normalization's 32 channels", 32, Pass(64*49, 64), 2},
		{"no work", 1000, Pass(0, 0), 1},
	} {
		if w := Workers(tc.n, tc.cost); w != tc.wants {
			t.Errorf("%s: %d items of %d: %d workers, want %d", tc.name, tc.n, tc.cost, w, tc.wants)
		}
	}
	if !(Pass(17, 1) > Pass(16, 1) && Pass(16, 2) > Pass(16, 1) && Pass(0, 0) == 0) {
		t.Errorf("Pass(16, 1) = %d, Pass(17, 1) = %d, Pass(16, 2) = %d, Pass(0, 0) = %d", Pass(16, 1), Pass(17, 1), Pass(16, 2), Pass(0, 0))
	}
}
