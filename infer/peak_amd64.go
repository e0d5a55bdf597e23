//go:build amd64 && !purego

package infer

//go:noescape
func peakVNNI(u, w *uint8, iters int) int32

//go:noescape
func peakAVX2(u, w *uint8, iters int) int32

// peakLoop is lv's dot-product loop (peak_amd64.s) and the multiply-
// accumulates of one of its iterations; nil for the portable level.
func peakLoop(lv *level) (func(u, w *uint8, iters int) int32, int) {
	switch lv {
	case levelVNNI:
		return peakVNNI, 16 * 64
	case levelAVX2, levelAVX512:
		return peakAVX2, 6 * 32
	}
	return nil, 0
}
