//go:build amd64 && !purego

package infer

// quantizeU8AVX512 quantizes n floats (quantize_input_amd64.s) and returns
// n, or the start of the first block of 16 that holds a NaN or ±Inf (the
// block and those after it are not written).
//
//go:noescape
func quantizeU8AVX512(dst *uint8, x *float32, n int, s, fhi float32, zoff, qlo, qhi int32) int

// quantizeU8AVX2 is quantizeU8AVX512 on AVX2, whole blocks of 8 only: it
// returns the count done (n rounded down to 8) or the start of the first
// block of 8 with a non-finite value.
//
//go:noescape
func quantizeU8AVX2(dst *uint8, x *float32, n int, s, fhi float32, zoff, qlo, qhi int32) int

// quantizeVec runs the vector input quantization if the CPU has it and
// returns how many leading elements it wrote (all of x, or up to the block
// holding the first non-finite value; AVX2 leaves the last len(x) mod 8
// to the caller), or 0 without it.
func quantizeVec(u []uint8, x []float32, s float32, z, qmin, qmax, off int32) int {
	if len(x) == 0 {
		return 0
	}
	switch boundaryLevel() {
	case boundaryAVX512:
		return quantizeU8AVX512(&u[0], &x[0], len(x), s, float32(qmax-z+1), z-off, qmin-off, qmax-off)
	case boundaryAVX2:
		return quantizeU8AVX2(&u[0], &x[0], len(x), s, float32(qmax-z+1), z-off, qmin-off, qmax-off)
	}
	return 0
}

// quantizeC3AVX512 is quantizeU8AVX512 on one image of 3 planes of hw
// floats, with the normalization (norm ≠ 0: mean and inv hold 3 values)
// and the channels-last store fused (quantize_input_amd64.s): it returns
// the pixels done, hw rounded down to 16, or the first pixel of the step
// of 16 that holds a non-finite value.
//
//go:noescape
func quantizeC3AVX512(dst *uint8, x *float32, hw int, s, fhi float32, zoff, qlo, qhi int32, mean, inv *float32, norm int) int

// quantizeC3AVX2 is quantizeC3AVX512 on AVX2, 8 pixels a step: it returns
// the pixels done, hw rounded down to 8, or the first pixel of the step
// of 8 that holds a non-finite value.
//
//go:noescape
func quantizeC3AVX2(dst *uint8, x *float32, hw int, s, fhi float32, zoff, qlo, qhi int32, mean, inv *float32, norm int) int

// quantizeC3Vec runs quantizeC3AVX512, or quantizeC3AVX2 where AVX2 is
// the boundary level, and returns the pixels done (0 without them).
func quantizeC3Vec(u []uint8, x []float32, hw int, s float32, z, qmin, qmax, off int32, mean, inv []float32) int {
	lv := boundaryLevel()
	if hw < 16 || lv != boundaryAVX512 && lv != boundaryAVX2 {
		return 0
	}
	_, _ = u[3*hw-1], x[3*hw-1]
	norm := 0
	mp, ip := new(float32), new(float32)
	if mean != nil {
		_, _ = mean[2], inv[2]
		norm, mp, ip = 1, &mean[0], &inv[0]
	}
	if lv == boundaryAVX2 {
		return quantizeC3AVX2(&u[0], &x[0], hw, s, float32(qmax-z+1), z-off, qmin-off, qmax-off, mp, ip, norm)
	}
	return quantizeC3AVX512(&u[0], &x[0], hw, s, float32(qmax-z+1), z-off, qmin-off, qmax-off, mp, ip, norm)
}
