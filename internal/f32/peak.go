package f32

// PeakLoop is one level's float32 fused multiply-add peak loop: Run
// executes iters iterations of FMAs independent chains of
// c ← a·b + c (a, b and every accumulator in registers, no memory
// operands) and returns lane 0 of the first chain, FMAs the
// multiply-adds of one iteration (vector width × chains). With a = b = 1
// and iters < 2^24 the result is exactly iters, so a test can tell that
// the loop ran.
type PeakLoop struct {
	// Level names the loop's instructions: "avx512" (VFMADD231PS on
	// zmm), "avx2" (VFMADD231PS on ymm) or "go (scalar)" (the portable
	// build: scalar multiply then add, no vector instructions).
	Level string
	FMAs  int
	Run   func(a, b float32, iters int) float32
}

// PeakLoops lists the peak loops this CPU runs, the one matching the
// micro-kernel the runtime picks (the widest) first; the portable loop is
// always last.
func PeakLoops() []PeakLoop {
	return append(peakLoopsAsm(), PeakLoop{Level: "go (scalar)", FMAs: 8, Run: peakGo})
}

// peakGo is the portable peak loop: 8 independent scalar chains (Go
// does not fuse a·b + c unless it targets an FMA-capable GOAMD64 level,
// so each step is a multiply and an add; counted as one multiply-add).
// Each chain multiplies by its own copy of b, which the compiler cannot
// prove equal to the others (opaque), and every chain's sum is used
// (peakSink): otherwise common-subexpression elimination merges the eight
// identical chains into one and the loop does an eighth of the work it
// is credited with.
func peakGo(a, b float32, iters int) float32 {
	b0, b1, b2, b3 := opaque(b), opaque(b), opaque(b), opaque(b)
	b4, b5, b6, b7 := opaque(b), opaque(b), opaque(b), opaque(b)
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	for range iters {
		s0 += a * b0
		s1 += a * b1
		s2 += a * b2
		s3 += a * b3
		s4 += a * b4
		s5 += a * b5
		s6 += a * b6
		s7 += a * b7
	}
	peakSink = s1 + s2 + s3 + s4 + s5 + s6 + s7
	return s0
}

// peakSink keeps peakGo's other chains alive.
var peakSink float32

// opaque returns x through a call the compiler does not inline, so
// copies of one value look distinct to it.
//
//go:noinline
func opaque(x float32) float32 { return x }
