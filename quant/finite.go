package quant

import "math"

// FirstNonFinite returns the index of the first NaN or ±Inf in x, or −1.
// It makes one cheap pass (v·0 is NaN exactly when v is NaN or ±Inf) and
// searches for the culprit only when there is one.
func FirstNonFinite(x []float32) int {
	var acc float32
	for _, v := range x {
		acc += v * 0
	}
	if acc == 0 {
		return -1
	}
	for i, v := range x {
		if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 {
			return i
		}
	}
	return -1
}

// IsFinite reports whether v is neither NaN nor ±Inf.
func IsFinite(v float32) bool { return v == v && v <= math.MaxFloat32 && v >= -math.MaxFloat32 }
