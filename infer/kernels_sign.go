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
// dst[plane:].
func padSignPlanes(dst []uint8, plane int, src []uint8, c, h, w, p int, pad uint8) {
	if p == 0 {
		signPlanes(dst, plane, src[:h*w*c])
		return
	}
	v := pad ^ 0x80 // the border's two bytes, as signPlanesGo's
	a := v
	if v >= 0x80 {
		a = -v
	}
	wp := (w + 2*p) * c
	fill := func(lo, hi int) {
		fillBytes(dst[lo:hi], v)
		fillBytes(dst[plane+lo:plane+hi], a)
	}
	fill(0, p*wp+p*c) // the top rows and the first row's left border
	for y := 0; y < h; y++ {
		signPlanes(dst[(y+p)*wp+p*c:], plane, src[y*w*c:(y+1)*w*c])
		if y+1 < h { // right border of this row and left of the next
			fill((y+p)*wp+(p+w)*c, (y+p+1)*wp+p*c)
		}
	}
	fill((h+p-1)*wp+(p+w)*c, (h+2*p)*wp) // the last row's right border and the bottom rows
}
