package f32

// FirstNonFinite returns the index of the first NaN or ±Inf in x, or −1
// (quant.FirstNonFinite's answer). With AVX2 a vector pass first checks
// the whole slice (integer operations on the exponent bits, a few cycles
// per 64 values), so a finite input, the common case, costs little
// beside the work that follows it; firstNonFiniteGo is the reference.
func FirstNonFinite(x []float32) int {
	if n := len(x) &^ 7; n > 0 && activeLevel.vec {
		if !nonFiniteVec(x[:n]) {
			if i := firstNonFiniteGo(x[n:]); i >= 0 {
				return n + i
			}
			return -1
		}
	}
	return firstNonFiniteGo(x)
}

// firstNonFiniteGo is FirstNonFinite's plain twin.
func firstNonFiniteGo(x []float32) int {
	for i, v := range x {
		if v != v || v-v != 0 {
			return i
		}
	}
	return -1
}
