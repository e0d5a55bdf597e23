package f32

import "testing"

// TestPeakLoopsCompute runs every peak loop this build has and checks
// lane 0 of its first chain: with a = b = 1 it is exactly iters, so the
// loop ran its multiply-add iters times (a loop that did nothing, or did
// it another number of times, fails); with a = 2, b = 3 it is 6·iters.
// The first loop is the one matching the runtime's micro-kernel, the last
// the portable one.
func TestPeakLoopsCompute(t *testing.T) {
	ls := PeakLoops()
	if len(ls) == 0 || ls[len(ls)-1].Level != "go (scalar)" {
		t.Fatalf("peak loops %v: want the portable loop last", ls)
	}
	if want := map[string]string{"avx512 12x32": "avx512", "avx2 6x16": "avx2", "go 6x16": "go (scalar)"}[active.name]; want != "" && ls[0].Level != want {
		t.Errorf("first peak loop %s, the runtime's micro-kernel is %s", ls[0].Level, active.name)
	}
	for _, l := range ls {
		if l.FMAs < 8 {
			t.Errorf("%s: %d multiply-adds an iteration", l.Level, l.FMAs)
		}
		for _, iters := range []int{0, 1, 3, 1000} {
			if got := l.Run(1, 1, iters); got != float32(iters) {
				t.Errorf("%s, %d iterations of 1·1: lane 0 = %v", l.Level, iters, got)
			}
			if got := l.Run(2, 3, iters); got != float32(6*iters) {
				t.Errorf("%s, %d iterations of 2·3: lane 0 = %v", l.Level, iters, got)
			}
		}
	}
}

// TestPeakGoChainsAllRun checks that the portable loop's other seven
// chains ran as many multiply-adds as the first (their sum is kept in
// peakSink): with a = b = 1 they add up to 7·iters.
func TestPeakGoChainsAllRun(t *testing.T) {
	for _, iters := range []int{0, 1, 1000} {
		if got := peakGo(1, 1, iters); got != float32(iters) || peakSink != float32(7*iters) {
			t.Errorf("%d iterations: chain 0 = %v, chains 1–7 = %v, want %d and %d", iters, got, peakSink, iters, 7*iters)
		}
	}
}
