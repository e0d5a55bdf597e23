//go:build amd64 && !purego

package infer

// bytesLUTVBMI is bytesToInput on AVX-512 VBMI for 1 or 3 channels, 64
// pixels a step, whole steps only (kernels_input_amd64.s): it returns
// the pixels done, hw rounded down to 64. lut points at nc tables of 256
// bytes, back to back.
//
//go:noescape
func bytesLUTVBMI(dst *uint8, pix *uint8, hw int, lut *[256]uint8, nc int) int

// bytesVec runs bytesLUTVBMI where the CPU and the boundary level have it
// and returns the pixels done (0 without it).
func bytesVec(u, pix []uint8, lut [][256]uint8, hw int) int {
	nc := len(lut)
	if hw < 64 || (nc != 1 && nc != 3) || !hasVBMI || boundaryLevel() != boundaryAVX512 {
		return 0
	}
	_, _ = u[nc*hw-1], pix[nc*hw-1]
	return bytesLUTVBMI(&u[0], &pix[0], hw, &lut[0], nc)
}
