//go:build amd64 && !purego

package infer

// readSumZ returns Σ p[i] for i < n, modulo 2⁶⁴ (readSumGo), with zmm
// loads; n is a multiple of 32 (256 bytes).
//
//go:noescape
func readSumZ(p *uint64, n int) uint64

// copyZ sets dst[i] = src[i] for i < n (copyGo), with zmm loads and
// stores; n is a multiple of 32.
//
//go:noescape
func copyZ(dst, src *uint64, n int)

// readSumY is readSumZ with ymm loads; n is a multiple of 16.
//
//go:noescape
func readSumY(p *uint64, n int) uint64

// copyY is copyZ with ymm loads and stores; n is a multiple of 16.
//
//go:noescape
func copyY(dst, src *uint64, n int)

// bandwidthLoops are lv's read and copy loops (bandwidth_amd64.s); nil
// for the portable level.
func bandwidthLoops(lv *level) (func(p *uint64, n int) uint64, func(dst, src *uint64, n int)) {
	switch lv {
	case levelVNNI:
		return readSumZ, copyZ
	case levelAVX2:
		return readSumY, copyY
	}
	return nil, nil
}
