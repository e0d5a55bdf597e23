package infer

// The operand planes of the pre-signed AVX2 convolution kernels
// (gemmConvPackedPre). No floating point may appear in this file
// (TestKernelsUseNoFloat).

// signPlanes writes the two operand planes of the pre-signed kernels for
// the bytes u of src: v = u − 128, as a two's-complement byte (u XOR
// 0x80), at dst[i] and |v| ∈ [0, 128], as an unsigned byte, at
// dst[plane+i]. The kernels multiply |v| (VPMADDUBSW's unsigned operand)
// by the weight with v's sign (VPSIGNB), so a pair of products is at most
// 2·128·127 = 32512 in magnitude: int16 holds it exactly. signPlanesGo is
// the reference twin (TestSignPlanesMatchesGo).
func signPlanes(dst []uint8, plane int, src []uint8) {
	if len(src) == 0 {
		return
	}
	if plane < len(src) {
		// A negative distance would let signPlanesAVX2 write before
		// dst[0] (the bounds checks below only see the last byte), and a
		// short one overlaps the planes.
		panic("infer: signPlanes: the planes overlap")
	}
	_ = dst[len(src)-1]
	_ = dst[plane+len(src)-1]
	i := signPlanesVec(dst, plane, src)
	signPlanesGo(dst[i:], plane, src[i:])
}

// signPlanesGo is signPlanes in Go, one byte at a time.
func signPlanesGo(dst []uint8, plane int, src []uint8) {
	for i, u := range src {
		v := u ^ 0x80
		a := v
		if v >= 0x80 { // negative: |v| = −v, 128 for v = −128
			a = -v
		}
		dst[i], dst[plane+i] = v, a
	}
}

// padSignPlanes is signPlanes of the image padImage would write: the
// channels-last h×w×c image src in the middle of a (h+2p)×(w+2p)×c one
// with the byte pad around it, written as its two planes into dst and
// dst[plane:]. The image is padded into tmp first (grown as needed and
// returned) and then expanded in one call: a row at a time, the rows of
// a one-channel image would be too short for the vector kernel.
func padSignPlanes(dst []uint8, plane int, src []uint8, c, h, w, p int, pad uint8, tmp []uint8) []uint8 {
	if p == 0 {
		signPlanes(dst, plane, src[:h*w*c])
		return tmp
	}
	size := (h + 2*p) * (w + 2*p) * c
	tmp = grow(tmp, size)
	padImage(tmp, src, c, h, w, p, pad, true)
	signPlanes(dst, plane, tmp)
	return tmp
}
