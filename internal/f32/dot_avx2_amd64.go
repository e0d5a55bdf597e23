//go:build amd64 && !purego

package f32

// dotBlockAVX2 is how much of k dot4x6AVX2 gives its assembly at a time
// (a multiple of 16): each tile runs in four passes over its block (see
// dot4x6AVX2Block), and the block's rows of A and B stay in L1 between
// them, 10 rows of 2 KB.
const dotBlockAVX2 = 512

// dot4x6AVX2 is dotGo in AVX2 registers (dot4x6AVX512's contract): for
// the nt tiles t, acc[384t + (6i+j)·16 + p mod 16] +=
// a[aoff[i]+p0+p]·b[boff[6t+j]+p0+p] for p < k (a multiple of 16), one
// fused multiply-add per p in increasing order. It runs
// dot4x6AVX2Block on blocks of dotBlockAVX2 in increasing p, each over
// every tile: each lane's products stay in increasing p.
func dot4x6AVX2(k, p0 int, a *float32, aoff *int, b *float32, boff *int, acc *float32, nt int) {
	for q := 0; q < k; q += dotBlockAVX2 {
		dot4x6AVX2Block(min(dotBlockAVX2, k-q), p0+q, a, aoff, b, boff, acc, nt)
	}
}

// dot4x6AVX2Block is dot4x6AVX2 on one block, in 8-lane registers: each
// 4×6 tile in four passes over p (columns 0–2, then 3–5, each on lanes
// 0–7, then 8–15), twelve accumulators a pass.
//
//go:noescape
func dot4x6AVX2Block(k, p0 int, a *float32, aoff *int, b *float32, boff *int, acc *float32, nt int)
