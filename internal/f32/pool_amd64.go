//go:build amd64 && !purego

package f32

// maxPool2Rows writes o[j] = max(r0[2j], r0[2j+1], r1[2j], r1[2j+1]) for
// the first multiple of 8 outputs (AVX2) and returns how many it wrote.
func maxPool2Rows(o, r0, r1 []float32) int {
	n := len(o) &^ 7
	if n == 0 || !activeLevel.vec {
		return 0
	}
	_, _ = r0[2*n-1], r1[2*n-1]
	maxPool2AVX2(&o[0], &r0[0], &r1[0], n/8)
	return n
}

//go:noescape
func maxPool2AVX2(dst, r0, r1 *float32, n8 int)
